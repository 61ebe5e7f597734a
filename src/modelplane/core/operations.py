"""The SDK's operations, declared once: :class:`Operations`.

Three things implement it and must stay in step: the local client over a Workspace
(``modelplane.sdk.LocalClient``), the remote client over ``/api/v1`` (``mp.Client``) and, minus
``self``, the module-level functions (``mp.register_dataset`` …). ``tests/test_sdk_parity.py``
fails when one of them lacks an operation or spells a signature differently.

Records come back as the same dataclasses on every side (``DatasetVersion``, ``RunInfo``,
``ModelVersion``, ``RegisteredModel``); alias changes, endpoints and audit entries as the plain
dicts the control-plane API answers with (their records' ``to_dict()``).

It lives this low so that both sides can import it; the record types are named for the type
checker only, so importing this module loads nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from modelplane.data.records import DatasetVersion
    from modelplane.registry.loaded import LoadedModel
    from modelplane.registry.records import ModelVersion, RegisteredModel
    from modelplane.tracking.handle import RunHandle
    from modelplane.tracking.records import RunInfo


class Operations(Protocol):
    """Every SDK operation, with the one signature each side implements."""

    # -- datasets -------------------------------------------------------------------------------

    def register_dataset(
        self, name: str, data: Any, *, source: str | None = None
    ) -> DatasetVersion:
        """Register a DataFrame, a pyarrow Table or a local .csv/.parquet file (content-hashed)."""

    def get_dataset(self, name: str, version: int | None = None) -> DatasetVersion:
        """A dataset version (default: the newest)."""

    def load_dataset(self, name: str, version: int | None = None) -> pd.DataFrame:
        """A dataset version's data, verified against its recorded checksum."""

    def list_datasets(self, name: str | None = None) -> list[DatasetVersion]:
        """Dataset versions, of one dataset or of all."""

    # -- tracking -------------------------------------------------------------------------------

    def start_run(
        self,
        experiment: str = "Default",
        name: str | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
    ) -> RunHandle:
        """Start a run; use it as a context manager (FINISHED, or FAILED on an exception)."""

    def get_run(self, run_id: str) -> RunInfo:
        """A run's record: status, params, latest metrics, tags, datasets."""

    def list_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        lifecycle: str = "active",
    ) -> list[RunInfo]:
        """Run records matching ``filter`` (e.g. ``"metrics.auc > 0.9"``), in ``order_by``;
        ``lifecycle``: ``active`` runs, ``deleted`` ones or ``all``."""

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        max_results: int = 100_000,
        lifecycle: str = "active",
    ) -> pd.DataFrame:
        """Matching runs as a DataFrame, a row per run (``params.*``, ``metrics.*``, ``tags.*``);
        ``lifecycle``: ``active`` runs, ``deleted`` ones or ``all``."""

    def delete_run(self, run_id: str) -> None:
        """Delete a run: hidden from searches, kept, restorable with :meth:`restore_run`."""

    def restore_run(self, run_id: str) -> RunInfo:
        """Bring a deleted run back."""

    # -- registry -------------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        model: Any,
        X_example: Any = None,
        *,
        run: RunHandle | str | None = None,
        datasets: Sequence[Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str = "",
        pii: list[str] | None = None,
    ) -> ModelVersion:
        """Register a model object (or a local MLflow model directory) as the next version;
        ``pii`` names input columns holding personal data (marked in the signature)."""

    def import_model(self, path: str | Path, name: str, **kwargs: Any) -> ModelVersion:
        """Import an MLflow model directory as the next version (keywords: the registry's)."""

    def get_model(self, name: str) -> RegisteredModel:
        """A registered model: description, tags, latest version, aliases."""

    def list_models(self, *, lifecycle: str = "active") -> list[RegisteredModel]:
        """Registered models, by name; ``lifecycle``: ``active`` models, ``deleted`` ones or
        ``all``."""

    def list_model_versions(self, name: str, *, lifecycle: str = "active") -> list[ModelVersion]:
        """The versions of a model; ``lifecycle``: ``active`` versions, ``deleted`` ones (of a
        deleted model too) or ``all``."""

    def get_model_version(self, uri_or_name: str, version: int | None = None) -> ModelVersion:
        """``("churn", 3)`` or a ``models:/`` URI (``models:/churn@champion``), with its card."""

    def update_model_version(
        self,
        name: str,
        version: int,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Change a version's description, or merge tags into its tags."""

    def delete_model_version(self, name: str, version: int) -> None:
        """Delete a version (kept, restorable) that no alias points to and no endpoint serves."""

    def restore_model_version(self, name: str, version: int) -> ModelVersion:
        """Bring a deleted version back."""

    def delete_model(self, name: str) -> None:
        """Delete a model with all its versions (each checked as for ``delete_model_version``)."""

    def restore_model(self, name: str) -> RegisteredModel:
        """Bring a deleted model back, with the versions deleted with it."""

    def set_alias(
        self, name: str, alias: str, version: int, *, reason: str | None = None
    ) -> ModelVersion:
        """Point an alias at a version (servers following it swap to that version)."""

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> None:
        """Delete an alias."""

    def alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        """Every alias change of a model (or of one alias), oldest first, as dicts."""

    def load_model(self, uri: str) -> LoadedModel:
        """Load ``models:/name/3`` or ``models:/name@alias``, verifying checksums first."""

    # -- endpoints ------------------------------------------------------------------------------

    def deploy(self, endpoint: str, model_uri_or_config: Any) -> dict[str, Any]:
        """Create or replace an endpoint from a ``models:/`` URI or a full endpoint config."""

    def get_endpoint(self, endpoint: str) -> dict[str, Any]:
        """An endpoint: its config and generation."""

    def list_endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint, by name."""

    def delete_endpoint(self, endpoint: str) -> None:
        """Delete an endpoint."""

    # -- audit ----------------------------------------------------------------------------------

    def audit_list(
        self, target: str | None = None, action: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Audit entries, newest first, of a target (and below it) and/or one action."""

    def audit_verify(self) -> dict[str, Any]:
        """Verify the audit hash chain: ``{"ok", "checked", "first_bad_seq", "reason"}``."""
