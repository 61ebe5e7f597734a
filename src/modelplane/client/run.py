"""``RemoteRun``: the remote counterpart of :class:`modelplane.tracking.run.Run`.

Every call is one request that the server has committed when it returns: nothing is buffered on
the client. Metric batches larger than the server's per-request limit are sent in consecutive
requests of at most :data:`MAX_POINTS` points (each one transaction on the server).
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modelplane.errors import IntegrityError, InvalidInputError
from modelplane.tracking.artifacts import ArtifactEntry
from modelplane.tracking.handle import RunHandle
from modelplane.tracking.params import wire_param
from modelplane.tracking.records import MetricPoint, RunInfo

if TYPE_CHECKING:
    from modelplane.client.http import Transport
    from modelplane.data.records import DatasetVersion

MAX_POINTS = 100_000
"""Metric points per request (the server answers 413 beyond)."""
UPLOAD_HEADER = "X-Modelplane-Upload"
"""Sent with multipart uploads: the server takes that "simple" type only with this header."""


def scalar_map(values: Mapping[str, Any] | None, field: str) -> dict[str, Any] | None:
    """A mapping of name → JSON scalar; other values are sent as their ``str`` (as the SDK
    stores params and tags)."""
    if values is None:
        return None
    if not isinstance(values, Mapping):
        raise InvalidInputError(f"{field} must be a mapping of name to value", field=field)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
        elif isinstance(value, numbers.Number) and hasattr(value, "item"):
            out[key] = value.item()
        else:
            out[key] = str(value)
    return out


def _point(item: Any) -> dict[str, Any]:
    try:
        key, value, step, timestamp = item
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            "each metric point must be (key, value, step, timestamp)", field="metrics"
        ) from exc
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(value)
        if math.isnan(value):
            value = None
    if isinstance(step, numbers.Integral) and not isinstance(step, bool):
        step = int(step)
    if isinstance(timestamp, numbers.Integral) and not isinstance(timestamp, bool):
        timestamp = int(timestamp)
    return {"key": key, "value": value, "step": step, "timestamp": timestamp}


class RemoteRun(RunHandle):
    """A run on a remote server; a context manager like ``mp.start_run``'s handle."""

    def __init__(self, transport: Transport, info: RunInfo) -> None:
        super().__init__(info)
        self._http = transport
        self._path = f"/api/v1/runs/{quote(info.id, safe='')}"

    @property
    def info(self) -> RunInfo:
        """A fresh snapshot of the run (params, latest metrics, tags, datasets)."""
        return RunInfo.from_dict(self._http.json("GET", self._path))

    def log_params(self, params: Mapping[str, Any]) -> None:
        if not isinstance(params, Mapping):
            raise InvalidInputError("params must be a mapping of name to value", field="params")
        body = {"params": {k: wire_param(k, v) for k, v in params.items()}}
        self._http.request("POST", f"{self._path}/params", json_body=body)

    def log_batch(self, points: Iterable[tuple[str, Any, int | None, int | None]]) -> int:
        """Many (key, value, step, timestamp) points; returns how many the server logged."""
        logged = 0
        chunk: list[dict[str, Any]] = []
        for item in points:
            chunk.append(_point(item))
            if len(chunk) == MAX_POINTS:
                logged += self._send(chunk)
                chunk = []
        if chunk:
            logged += self._send(chunk)
        return logged

    def _send(self, points: list[dict[str, Any]]) -> int:
        answer = self._http.json("POST", f"{self._path}/metrics", json_body={"points": points})
        return int(answer["logged"])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        body = {"tags": scalar_map(tags, "tags")}
        self._http.request("POST", f"{self._path}/tags", json_body=body)

    def log_dataset(self, dataset: DatasetVersion | int | str, context: str = "training") -> None:
        """``dataset``: a DatasetVersion, its id or a ``datasets:/NAME/VERSION`` URI."""
        body: dict[str, Any] = {"context": context}
        if isinstance(dataset, str):
            body["dataset"] = dataset
        else:
            body["dataset_version_id"] = dataset if isinstance(dataset, int) else dataset.id
        self._http.request("POST", f"{self._path}/datasets", json_body=body)

    def metric_history(self, key: str) -> list[MetricPoint]:
        rows = self._http.json("GET", f"{self._path}/metrics/history", params={"key": key})
        return [
            MetricPoint(
                r["key"],
                math.nan if r["value"] is None else float(r["value"]),
                r["step"],
                r["timestamp"],
            )
            for r in rows
        ]

    def _end(self, status: str) -> None:
        self._http.request("POST", f"{self._path}/end", json_body={"status": status})

    # -- artifacts ------------------------------------------------------------------------------

    def _artifact_url(self, path: str) -> str:
        return f"{self._path}/artifacts/{quote(path, safe='/')}"

    def _log_artifact_file(self, local: Path, artifact_file: str) -> ArtifactEntry:
        """Upload one file (multipart, like a model registration); the server checks the path
        again and answers 413 beyond its upload limit."""
        with open(local, "rb") as fh:
            answer = self._http.json(
                "PUT",
                self._artifact_url(artifact_file),
                files=[("file", (local.name, fh, "application/octet-stream"))],
                headers={UPLOAD_HEADER: "1"},
            )
        return ArtifactEntry.from_dict(answer)

    def list_artifacts(self, path: str | None = None) -> list[ArtifactEntry]:
        rows = self._http.json("GET", f"{self._path}/artifacts", params={"path": path or None})
        return [ArtifactEntry.from_dict(r) for r in rows]

    def _fetch_artifact(self, entry: ArtifactEntry, target: Path) -> None:
        """Stream the file next to ``target`` and move it there once its SHA-256 matched."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".mp-get-", dir=target.parent)
        digest = hashlib.sha256()
        try:
            url = self._artifact_url(entry.path)
            with os.fdopen(fd, "wb") as out, self._http.stream("GET", url) as response:
                for chunk in response.iter_bytes(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != entry.sha256:
                raise IntegrityError(
                    f"run {self.id}: artifact {entry.path!r} does not match its recorded "
                    f"checksum (expected sha256 {entry.sha256[:12]}…, got "
                    f"{digest.hexdigest()[:12]}…)",
                    key=entry.path,
                )
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
