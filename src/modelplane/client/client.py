"""``mp.Client``: the SDK's operations against a remote modelplane server (``/api/v1``).

It implements :class:`~modelplane.core.operations.Operations` like the local SDK, and shares
its argument handling (:class:`~modelplane.sdk.base.BaseClient`); here are the HTTP primitives
and the plain calls. Records come back as the same dataclasses the SDK returns
(``DatasetVersion``, ``RunInfo``, ``ModelVersion``, ``RegisteredModel``); alias changes,
endpoints and audit entries as plain dicts. Models are saved locally with their flavor (as
``mp.register_model`` does; an MLflow directory is imported the same way) and uploaded as files;
loading downloads every file and verifies each against the SHA-256 recorded on the version
*before* the flavor deserialises anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modelplane.client.http import Transport, plain_json
from modelplane.client.run import RemoteRun, scalar_map
from modelplane.core.names import check_artifact_key
from modelplane.core.uris import dataset_ref
from modelplane.data.records import DatasetVersion
from modelplane.errors import IntegrityError, InvalidInputError
from modelplane.registry.records import ModelVersion, RegisteredModel, VersionFacts
from modelplane.sdk.base import BaseClient
from modelplane.tracking.frame import runs_frame_from_infos
from modelplane.tracking.records import RunInfo

if TYPE_CHECKING:
    import httpx
    import pandas as pd

    from modelplane.registry.loaded import LoadedModel

API = "/api/v1"
UPLOAD_HEADER = "X-Modelplane-Upload"
"""Sent with multipart uploads: the server takes that "simple" type only with this header."""
PARQUET = "application/vnd.apache.parquet"
_MEDIA = {".csv": "text/csv", ".parquet": PARQUET, ".pq": PARQUET}
"""The upload's media type per suffix; one entry for each of ``sdk.base.DATASET_SUFFIXES``."""


def _seg(value: object) -> str:
    return quote(str(value), safe="")


class Client(BaseClient[RemoteRun]):
    """The SDK against a remote server: ``mp.Client("https://mp.example.com", token=...)``.

    ``verify`` says how an https server's certificate is checked: ``True`` (the system's CAs, or
    those of ``SSL_CERT_FILE``), the path of a PEM file of CA certificates (a private CA), an
    ``ssl.SSLContext`` (e.g. with a client certificate for a server that requires one), or
    ``False``.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        http_client: httpx.Client | None = None,
        verify: bool | str | ssl.SSLContext = True,
    ) -> None:
        self._http = Transport(url, token, timeout=timeout, http_client=http_client, verify=verify)

    @property
    def url(self) -> str:
        return self._http.base

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # -- datasets -------------------------------------------------------------------------------

    def _store_dataset(
        self, name: str, data: Path | pd.DataFrame, source: str | None
    ) -> DatasetVersion:
        """Upload the file as it is, or the DataFrame as Parquet."""
        if isinstance(data, Path):
            return self._upload_dataset(name, data, _MEDIA[data.suffix.lower()], source)
        with tempfile.TemporaryDirectory(prefix="mp-client-ds-") as tmp:
            local = Path(tmp) / "data.parquet"
            try:
                data.to_parquet(local, index=False)
            except (ValueError, TypeError, ImportError) as exc:
                raise InvalidInputError(f"cannot write the data as Parquet: {exc}") from exc
            return self._upload_dataset(name, local, PARQUET, source)

    def _upload_dataset(
        self, name: str, path: Path, media: str, source: str | None
    ) -> DatasetVersion:
        with open(path, "rb") as fh:
            answer = self._http.json(
                "POST",
                f"{API}/datasets/{_seg(name)}/versions",
                params={"source": source[:1000] if source else None},
                content=fh,
                headers={"Content-Type": media},
            )
        return DatasetVersion.from_dict(answer)

    def _dataset_json(self, name: str, version: int | None) -> dict[str, Any]:
        ref = dataset_ref(name, version)  # a name, or a datasets:/ URI
        name, version = ref.name, ref.version
        path = f"{API}/datasets/{_seg(name)}"
        if version is not None:
            path += f"/versions/{int(version)}"
        answer: dict[str, Any] = self._http.json("GET", path)
        return answer

    def get_dataset(self, name: str, version: int | None = None) -> DatasetVersion:
        return DatasetVersion.from_dict(self._dataset_json(name, version))

    def list_datasets(self, name: str | None = None) -> list[DatasetVersion]:
        rows = self._http.json("GET", f"{API}/datasets", params={"name": name})
        return [DatasetVersion.from_dict(r) for r in rows]

    def load_dataset(self, name: str, version: int | None = None) -> pd.DataFrame:
        """The stored Parquet, verified against the SHA-256 the server recorded, as a DataFrame."""
        import pandas as pd

        record = self._dataset_json(name, version)
        path = f"{API}/datasets/{_seg(record['name'])}/versions/{int(record['version'])}/data"
        data = self._http.request("GET", path).content
        actual = hashlib.sha256(data).hexdigest()
        if record.get("sha256") != actual:
            raise IntegrityError(
                f"datasets:/{name}/{record['version']}: the downloaded bytes do not match the "
                "recorded checksum; refusing to use them",
                key=path,
            )
        return pd.read_parquet(io.BytesIO(data))

    # -- tracking -------------------------------------------------------------------------------

    def _create_run(
        self,
        experiment: str,
        name: str | None,
        tags: Mapping[str, Any] | None,
        source: str | None,
        code_version: str | None,
    ) -> RemoteRun:
        body = {
            "experiment": experiment,
            "name": name,
            "tags": scalar_map(tags, "tags"),
            "source": source,
            "code_version": code_version,
        }
        info = RunInfo.from_dict(self._http.json("POST", f"{API}/runs", json_body=body))
        return RemoteRun(self._http, info)

    def _link_dataset(self, run_id: str, dataset_version_id: int, context: str) -> None:
        body = {"dataset_version_id": dataset_version_id, "context": context}
        self._http.request("POST", f"{API}/runs/{_seg(run_id)}/datasets", json_body=body)

    def get_run(self, run_id: str) -> RunInfo:
        return RunInfo.from_dict(self._http.json("GET", f"{API}/runs/{_seg(run_id)}"))

    def list_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        lifecycle: str = "active",
    ) -> list[RunInfo]:
        """Runs matching ``filter`` (e.g. ``"metrics.auc > 0.9 and params.C = '1.0'"``)."""
        names = [experiment] if isinstance(experiment, str) else list(experiment or [])
        params = {
            "experiment": names or None,
            "filter": filter,
            "order_by": list(order_by) if order_by else None,
            "max_results": max_results,
            "lifecycle": lifecycle,
        }
        rows = self._http.json("GET", f"{API}/runs", params=params)
        return [RunInfo.from_dict(r) for r in rows]

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        max_results: int = 100_000,
        lifecycle: str = "active",
    ) -> pd.DataFrame:
        """A DataFrame shaped like ``mp.search_runs`` (``params.*``, ``metrics.*``, ``tags.*``)."""
        infos = self.list_runs(
            experiment, filter, order_by=order_by, max_results=max_results, lifecycle=lifecycle
        )
        return runs_frame_from_infos(infos)

    def delete_run(self, run_id: str) -> None:
        self._http.request("DELETE", f"{API}/runs/{_seg(run_id)}")

    def restore_run(self, run_id: str) -> RunInfo:
        return RunInfo.from_dict(self._http.json("POST", f"{API}/runs/{_seg(run_id)}/restore"))

    # -- registry -------------------------------------------------------------------------------

    def _register_version(
        self, name: str, model: Any, X_example: Any, facts: VersionFacts
    ) -> ModelVersion:
        """Save the model here with its flavor (plus the input example) and upload the files;
        the server records them without deserialising anything."""
        from modelplane.registry.packaging import save_mlflow_directory, save_object, with_pii

        with tempfile.TemporaryDirectory(prefix="mp-client-model-") as tmp:
            folder = Path(tmp)
            if isinstance(model, (str, Path)):
                saved = save_mlflow_directory(model, folder)
            else:
                saved = save_object(model, X_example, folder)
            saved = with_pii(saved, facts.pii)
            meta = {
                "flavor": saved.flavor,
                "flavor_info": saved.flavor_info,
                "signature": saved.signature,
                "metrics": scalar_map(facts.metrics, "metrics"),
                "params": scalar_map(facts.params, "params"),
                "tags": {**saved.tags, **(scalar_map(facts.tags, "tags") or {})},
                "description": facts.description,
                "run_id": facts.run_id,
                "dataset_version_ids": list(facts.dataset_version_ids),
            }
            paths = sorted(p for p in folder.iterdir() if p.is_file())
            handles = [open(p, "rb") for p in paths]  # noqa: SIM115 (closed below)
            try:
                answer = self._http.json(
                    "POST",
                    f"{API}/models/{_seg(name)}/versions",
                    data={"meta": json.dumps(plain_json(meta))},
                    files=[
                        ("files", (p.name, fh, "application/octet-stream"))
                        for p, fh in zip(paths, handles, strict=True)
                    ],
                    headers={UPLOAD_HEADER: "1"},
                )
            finally:
                for fh in handles:
                    fh.close()
        return ModelVersion.from_dict(answer)

    def _get_version(self, name: str, version: int) -> ModelVersion:
        path = f"{API}/models/{_seg(name)}/versions/{int(version)}"
        return ModelVersion.from_dict(self._http.json("GET", path, params={"card": True}))

    def _resolve(self, uri: str) -> ModelVersion:
        answer = self._http.json("GET", f"{API}/models/resolve", params={"uri": uri, "card": True})
        return ModelVersion.from_dict(answer)

    def get_model(self, name: str) -> RegisteredModel:
        return RegisteredModel.from_dict(self._http.json("GET", f"{API}/models/{_seg(name)}"))

    def list_models(self, *, lifecycle: str = "active") -> list[RegisteredModel]:
        rows = self._http.json("GET", f"{API}/models", params={"lifecycle": lifecycle})
        return [RegisteredModel.from_dict(m) for m in rows]

    def list_model_versions(self, name: str, *, lifecycle: str = "active") -> list[ModelVersion]:
        path = f"{API}/models/{_seg(name)}/versions"
        rows = self._http.json("GET", path, params={"lifecycle": lifecycle})
        return [ModelVersion.from_dict(r) for r in rows]

    def set_alias(
        self, name: str, alias: str, version: int, *, reason: str | None = None
    ) -> ModelVersion:
        path = f"{API}/models/{_seg(name)}/aliases/{_seg(alias)}"
        answer = self._http.json("PUT", path, json_body={"version": version, "reason": reason})
        return ModelVersion.from_dict(answer)

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> None:
        path = f"{API}/models/{_seg(name)}/aliases/{_seg(alias)}"
        self._http.request("DELETE", path, params={"reason": reason})

    def alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        path = f"{API}/models/{_seg(name)}/alias-history"
        answer: list[dict[str, Any]] = self._http.json("GET", path, params={"alias": alias})
        return answer

    def update_model_version(
        self,
        name: str,
        version: int,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        body = {"description": description, "tags": scalar_map(tags, "tags")}
        path = f"{API}/models/{_seg(name)}/versions/{int(version)}"
        return ModelVersion.from_dict(self._http.json("PATCH", path, json_body=body))

    def delete_model_version(self, name: str, version: int) -> None:
        self._http.request("DELETE", f"{API}/models/{_seg(name)}/versions/{int(version)}")

    def restore_model_version(self, name: str, version: int) -> ModelVersion:
        path = f"{API}/models/{_seg(name)}/versions/{int(version)}/restore"
        return ModelVersion.from_dict(self._http.json("POST", path))

    def delete_model(self, name: str) -> None:
        self._http.request("DELETE", f"{API}/models/{_seg(name)}")

    def restore_model(self, name: str) -> RegisteredModel:
        answer = self._http.json("POST", f"{API}/models/{_seg(name)}/restore")
        return RegisteredModel.from_dict(answer)

    def load_model(self, uri: str) -> LoadedModel:
        """Load ``models:/name/3`` or ``models:/name@alias``: every file is downloaded and checked
        against the version's recorded SHA-256 before the flavor reads any of them."""
        from modelplane.registry.flavors import get_flavor
        from modelplane.registry.loaded import LoadedModel

        mv = ModelVersion.from_dict(
            self._http.json("GET", f"{API}/models/resolve", params={"uri": uri})
        )
        flavor = get_flavor(mv.flavor)
        for rel in mv.files:  # every name is checked before anything is written
            check_artifact_key(rel)
        with tempfile.TemporaryDirectory(prefix="mp-client-load-") as tmp:
            folder = Path(tmp)
            for rel, expected in mv.files.items():
                self._download(mv, rel, expected, folder / rel)
            model = flavor.load(folder, mv.flavor_info)
        return LoadedModel(model, mv)

    def _download(self, mv: ModelVersion, rel: str, expected: str, target: Path) -> None:
        path = f"{API}/models/{_seg(mv.name)}/versions/{mv.version}/files/{quote(rel, safe='/')}"
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with self._http.stream("GET", path) as response, open(target, "wb") as out:
            for chunk in response.iter_bytes(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected:
            target.unlink(missing_ok=True)
            raise IntegrityError(
                f"{mv.uri}: file {rel!r} does not match its recorded checksum (expected sha256 "
                f"{expected[:12]}…, got {digest.hexdigest()[:12]}…); refusing to load it",
                key=rel,
            )

    # -- endpoints ------------------------------------------------------------------------------

    def _deploy(self, endpoint: str, document: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._http.json(
            "PUT", f"{API}/endpoints/{_seg(endpoint)}", json_body=document
        )
        return answer

    def get_endpoint(self, endpoint: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._http.json("GET", f"{API}/endpoints/{_seg(endpoint)}")
        return answer

    def list_endpoints(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self._http.json("GET", f"{API}/endpoints")
        return answer

    def delete_endpoint(self, endpoint: str) -> None:
        self._http.request("DELETE", f"{API}/endpoints/{_seg(endpoint)}")

    def predict(self, endpoint: str, records: Any) -> Any:
        """POST ``{"inputs": records}`` to the endpoint; the server's JSON answer."""
        if hasattr(records, "to_dict") and hasattr(records, "columns"):  # a DataFrame
            records = records.to_dict(orient="records")
        path = f"/v1/endpoints/{_seg(endpoint)}/predict"
        return self._http.json("POST", path, json_body={"inputs": records})

    # -- audit ----------------------------------------------------------------------------------

    def audit_list(
        self, target: str | None = None, action: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        params = {"target": target, "action": action, "limit": limit}
        answer: list[dict[str, Any]] = self._http.json("GET", f"{API}/audit", params=params)
        return answer

    def audit_verify(self) -> dict[str, Any]:
        """``{"ok": ..., "checked": ..., "first_bad_seq": ..., "reason": ...}``."""
        answer: dict[str, Any] = self._http.json("GET", f"{API}/audit/verify")
        return answer
