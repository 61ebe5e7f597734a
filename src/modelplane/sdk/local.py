"""``LocalClient``: every SDK operation through the services of one :class:`Workspace`.

The module-level functions (``mp.register_dataset`` …) are this class over the default
workspace; ``mp.Client`` is its remote counterpart. Alias changes, endpoints and audit entries
come back as their records' ``to_dict()``, the very dicts the control-plane API answers with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.sdk.base import BaseClient
from modelplane.tracking.run import Run

if TYPE_CHECKING:
    import pandas as pd

    from modelplane.context import Workspace
    from modelplane.data.records import DatasetVersion
    from modelplane.registry.loaded import LoadedModel
    from modelplane.registry.records import ModelVersion, RegisteredModel, VersionFacts
    from modelplane.tracking.records import RunInfo


class LocalClient(BaseClient[Run]):
    """The SDK over ``workspace``: ``mp.LocalClient(mp.Workspace(settings)).list_models()``."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def __repr__(self) -> str:
        return f"LocalClient({self._ws!r})"

    # -- datasets -------------------------------------------------------------------------------

    def _store_dataset(
        self, name: str, data: Path | pd.DataFrame, source: str | None
    ) -> DatasetVersion:
        return self._ws.datasets.register(name, data, source=source)

    def get_dataset(self, name: str, version: int | None = None) -> DatasetVersion:
        return self._ws.datasets.get(name, version)

    def load_dataset(self, name: str, version: int | None = None) -> pd.DataFrame:
        return self._ws.datasets.load(name, version)

    def list_datasets(self, name: str | None = None) -> list[DatasetVersion]:
        return self._ws.datasets.list(name)

    # -- tracking -------------------------------------------------------------------------------

    def _create_run(
        self,
        experiment: str,
        name: str | None,
        tags: Mapping[str, Any] | None,
        source: str | None,
        code_version: str | None,
    ) -> Run:
        tracking = self._ws.tracking
        info = tracking.create_run(
            experiment, name, tags=tags, source=source, code_version=code_version
        )
        return Run(tracking, info, self._ws.run_artifacts)

    def _link_dataset(self, run_id: str, dataset_version_id: int, context: str) -> None:
        self._ws.tracking.log_dataset(run_id, dataset_version_id, context)

    def get_run(self, run_id: str) -> RunInfo:
        return self._ws.tracking.get_run(run_id)

    def list_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        lifecycle: str = "active",
    ) -> list[RunInfo]:
        return self._ws.tracking.list_runs(
            experiment, filter, order_by=order_by, max_results=max_results, lifecycle=lifecycle
        )

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        max_results: int = 100_000,
        lifecycle: str = "active",
    ) -> pd.DataFrame:
        return self._ws.tracking.search_runs(
            experiment, filter, order_by=order_by, max_results=max_results, lifecycle=lifecycle
        )

    def delete_run(self, run_id: str) -> None:
        self._ws.tracking.delete_run(run_id)

    def restore_run(self, run_id: str) -> RunInfo:
        return self._ws.tracking.restore_run(run_id)

    # -- registry -------------------------------------------------------------------------------

    def _register_version(
        self, name: str, model: Any, X_example: Any, facts: VersionFacts
    ) -> ModelVersion:
        return self._ws.registry.register(name, model, X_example, facts)

    def _get_version(self, name: str, version: int) -> ModelVersion:
        return self._ws.registry.get_version(name, version)

    def _resolve(self, uri: str) -> ModelVersion:
        return self._ws.registry.resolve(uri)

    def get_model(self, name: str) -> RegisteredModel:
        return self._ws.registry.get_model(name)

    def list_models(self, *, lifecycle: str = "active") -> list[RegisteredModel]:
        return self._ws.registry.list_models(lifecycle=lifecycle)

    def list_model_versions(self, name: str, *, lifecycle: str = "active") -> list[ModelVersion]:
        return self._ws.registry.versions(name, lifecycle=lifecycle)

    def update_model_version(
        self,
        name: str,
        version: int,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        return self._ws.registry.update_version(name, version, description=description, tags=tags)

    def delete_model_version(self, name: str, version: int) -> None:
        self._ws.registry.delete_version(name, version)

    def restore_model_version(self, name: str, version: int) -> ModelVersion:
        return self._ws.registry.restore_version(name, version)

    def delete_model(self, name: str) -> None:
        self._ws.registry.delete_model(name)

    def restore_model(self, name: str) -> RegisteredModel:
        return self._ws.registry.restore_model(name)

    def set_alias(
        self, name: str, alias: str, version: int, *, reason: str | None = None
    ) -> ModelVersion:
        return self._ws.registry.set_alias(name, alias, version, reason=reason)

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> None:
        self._ws.registry.delete_alias(name, alias, reason=reason)

    def alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        return [change.to_dict() for change in self._ws.registry.alias_history(name, alias)]

    def load_model(self, uri: str) -> LoadedModel:
        return self._ws.registry.load(uri)

    # -- endpoints ------------------------------------------------------------------------------

    def _deploy(self, endpoint: str, document: dict[str, Any]) -> dict[str, Any]:
        from modelplane.endpoints.config import parse_config

        config = parse_config(document)
        # Every model URI must resolve now, and its files match their checksums, as the server
        # checks on deploy: a typo or a corrupted file fails here, not later on serving nodes.
        for uri in config.model_uris:
            self._ws.registry.verify(uri)
        return self._ws.endpoints.deploy(endpoint, config).to_dict()

    def get_endpoint(self, endpoint: str) -> dict[str, Any]:
        return self._ws.endpoints.get(endpoint).to_dict()

    def list_endpoints(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self._ws.endpoints.list()]

    def delete_endpoint(self, endpoint: str) -> None:
        self._ws.endpoints.delete(endpoint)

    # -- audit ----------------------------------------------------------------------------------

    def audit_list(
        self, target: str | None = None, action: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        entries = self._ws.audit.list(target=target, action=action, limit=limit)
        return [e.to_dict() for e in entries]

    def audit_verify(self) -> dict[str, Any]:
        return self._ws.audit.verify().to_dict()
