"""``RemoteRun``: the remote counterpart of :class:`modelplane.tracking.run.Run`.

Every call is one request that the server has committed when it returns: nothing is buffered on
the client. Metric batches larger than the server's per-request limit are sent in consecutive
requests of at most :data:`MAX_POINTS` points (each one transaction on the server).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modelplane.errors import InvalidInputError
from modelplane.tracking.handle import RunHandle
from modelplane.tracking.records import MetricPoint, RunInfo

if TYPE_CHECKING:
    from modelplane.client.http import Transport
    from modelplane.data.records import DatasetVersion

MAX_POINTS = 100_000
"""Metric points per request (the server answers 413 beyond)."""


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
        body = {"params": scalar_map(params, "params")}
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

    def log_dataset(self, dataset: DatasetVersion | int, context: str = "training") -> None:
        ds_id = dataset if isinstance(dataset, int) else dataset.id
        body = {"dataset_version_id": ds_id, "context": context}
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
