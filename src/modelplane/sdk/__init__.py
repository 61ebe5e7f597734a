"""The Python SDK: module-level functions over a default :class:`Workspace`.

Each function is the same-named operation of :class:`LocalClient` (``local.py``) over the
default workspace; the operations and their signatures are declared once in
:class:`modelplane.core.operations.Operations`, which ``mp.Client`` implements too, and the
argument handling both sides share lives in :class:`BaseClient` (``base.py``).

``mp.configure()`` replaces the default workspace; without it, the first call builds one from the
environment (``MODELPLANE_*``) and ``modelplane.toml``. The default workspace is the only state the
SDK keeps, guarded by a lock; runs are explicit handles, never a hidden "active run".
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.config import settings_for
from modelplane.context import Workspace
from modelplane.sdk.autolog import autolog as autolog  # re-exported as mp.autolog
from modelplane.sdk.local import LocalClient as LocalClient  # re-exported as mp.LocalClient

if TYPE_CHECKING:
    import pandas as pd

    from modelplane.data.records import DatasetVersion
    from modelplane.registry.loaded import LoadedModel
    from modelplane.registry.records import ModelVersion, RegisteredModel
    from modelplane.tracking.handle import RunHandle
    from modelplane.tracking.records import RunInfo
    from modelplane.tracking.run import Run


class _Default:
    lock = threading.Lock()
    workspace: Workspace | None = None


def configure(
    home: str | Path | None = None,
    db_url: str | None = None,
    artifacts: str | None = None,
    *,
    actor: str | None = None,
) -> Workspace:
    """Point the SDK at a home folder, metadata database and artifact store (env is the default)."""
    settings = settings_for(home, db_url, artifacts)
    with _Default.lock:
        if _Default.workspace is not None:
            _Default.workspace.close()
        _Default.workspace = Workspace(settings, actor=actor)
        return _Default.workspace


def workspace() -> Workspace:
    """The default workspace (created from the environment on first use)."""
    with _Default.lock:
        if _Default.workspace is None:
            _Default.workspace = Workspace()
        return _Default.workspace


def _local() -> LocalClient:
    # A client per call holds nothing but the workspace, so configure() takes effect at once.
    return LocalClient(workspace())


# -- datasets -----------------------------------------------------------------------------------


def register_dataset(name: str, data: Any, *, source: str | None = None) -> DatasetVersion:
    """Register a DataFrame, a pyarrow Table or a local .csv/.parquet file (content-hashed)."""
    return _local().register_dataset(name, data, source=source)


def get_dataset(name: str, version: int | None = None) -> DatasetVersion:
    """A dataset version (default: the newest)."""
    return _local().get_dataset(name, version)


def load_dataset(name: str, version: int | None = None) -> pd.DataFrame:
    """A dataset version's data, verified against its recorded checksum."""
    return _local().load_dataset(name, version)


def list_datasets(name: str | None = None) -> list[DatasetVersion]:
    """Dataset versions, of one dataset or of all."""
    return _local().list_datasets(name)


# -- tracking -----------------------------------------------------------------------------------


def start_run(
    experiment: str = "Default",
    name: str | None = None,
    *,
    tags: Mapping[str, Any] | None = None,
) -> Run:
    """Start a run; use as a context manager (status FINISHED, or FAILED on an exception)."""
    return _local().start_run(experiment, name, tags=tags)


def get_run(run_id: str) -> RunInfo:
    """A run's record: status, params, latest metrics, tags, datasets."""
    return _local().get_run(run_id)


def list_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    *,
    order_by: Sequence[str] | None = None,
    max_results: int = 1000,
    lifecycle: str = "active",
) -> list[RunInfo]:
    """Run records matching ``filter`` (e.g. ``"metrics.auc > 0.9"``), in ``order_by``;
    ``lifecycle``: ``active`` runs (default), ``deleted`` ones or ``all``."""
    return _local().list_runs(
        experiment, filter, order_by=order_by, max_results=max_results, lifecycle=lifecycle
    )


def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    *,
    order_by: Sequence[str] | None = None,
    max_results: int = 100_000,
    lifecycle: str = "active",
) -> pd.DataFrame:
    """Matching runs as a DataFrame, a row per run (``params.*``, ``metrics.*``, ``tags.*``);
    ``lifecycle``: ``active`` runs (default), ``deleted`` ones or ``all``. An unknown experiment
    is a NotFoundError naming it."""
    return _local().search_runs(
        experiment, filter, order_by=order_by, max_results=max_results, lifecycle=lifecycle
    )


def delete_run(run_id: str) -> None:
    """Delete a run: hidden from searches (unless ``lifecycle="deleted"`` or ``"all"``), kept
    with everything it logged, restorable with :func:`restore_run`."""
    _local().delete_run(run_id)


def restore_run(run_id: str) -> RunInfo:
    """Bring a deleted run back into searches."""
    return _local().restore_run(run_id)


# -- registry -----------------------------------------------------------------------------------


def register_model(
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
    """Register a model object (or a local MLflow model directory) as the next version of ``name``.

    With ``run``, the version records the run, and the run's params are used unless ``params`` is
    given; ``datasets`` become the version's lineage (and are linked to the run). ``pii`` names
    input columns holding personal data: they are marked ``"pii": true`` in the signature.
    """
    return _local().register_model(
        name,
        model,
        X_example,
        run=run,
        datasets=datasets,
        metrics=metrics,
        params=params,
        tags=tags,
        description=description,
        pii=pii,
    )


def import_model(path: str | Path, name: str, **kwargs: Any) -> ModelVersion:
    """Import an MLflow model directory (``MLmodel`` + payload) as a new version of ``name``."""
    return _local().import_model(path, name, **kwargs)


def get_model(name: str) -> RegisteredModel:
    """A registered model: description, tags, latest version, aliases."""
    return _local().get_model(name)


def list_models(*, lifecycle: str = "active") -> list[RegisteredModel]:
    """Registered models, by name; ``lifecycle``: ``active`` models (default), ``deleted`` ones
    (to find what :func:`restore_model` can bring back) or ``all``. A deleted model's
    ``latest_version`` is the one it has once restored."""
    return _local().list_models(lifecycle=lifecycle)


def list_model_versions(name: str, *, lifecycle: str = "active") -> list[ModelVersion]:
    """The versions of a model, by number; ``lifecycle``: ``active`` versions (default),
    ``deleted`` ones (those of a deleted model too) or ``all``. Each says its ``lifecycle``."""
    return _local().list_model_versions(name, lifecycle=lifecycle)


def get_model_version(uri_or_name: str, version: int | None = None) -> ModelVersion:
    """``("churn", 3)`` or a ``models:/`` URI (``models:/churn@champion``), with its card."""
    return _local().get_model_version(uri_or_name, version)


def update_model_version(
    name: str,
    version: int,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Change a version's description, or merge tags into its tags."""
    return _local().update_model_version(name, version, description=description, tags=tags)


def delete_model_version(name: str, version: int) -> None:
    """Delete a version (kept, restorable); refused while an alias points to it or a deployed
    endpoint serves it (ConflictError naming them)."""
    _local().delete_model_version(name, version)


def restore_model_version(name: str, version: int) -> ModelVersion:
    """Bring a deleted version back."""
    return _local().restore_model_version(name, version)


def delete_model(name: str) -> None:
    """Delete a model with all its versions (each checked as for :func:`delete_model_version`)."""
    _local().delete_model(name)


def restore_model(name: str) -> RegisteredModel:
    """Bring a deleted model back, with the versions deleted with it."""
    return _local().restore_model(name)


def set_alias(name: str, alias: str, version: int, *, reason: str | None = None) -> ModelVersion:
    """Point an alias at a version (servers following it swap to that version)."""
    return _local().set_alias(name, alias, version, reason=reason)


def delete_alias(name: str, alias: str, *, reason: str | None = None) -> None:
    """Delete an alias."""
    _local().delete_alias(name, alias, reason=reason)


def alias_history(name: str, alias: str | None = None) -> list[dict[str, Any]]:
    """Every alias change of a model (or of one alias), oldest first, as dicts."""
    return _local().alias_history(name, alias)


def load_model(uri: str) -> LoadedModel:
    """Load ``models:/name/3`` or ``models:/name@alias``; checksums are verified before loading."""
    return _local().load_model(uri)


# -- endpoints ----------------------------------------------------------------------------------


def deploy(endpoint: str, model_uri_or_config: Any) -> dict[str, Any]:
    """Create or replace an endpoint from a ``models:/`` URI or a full endpoint config."""
    return _local().deploy(endpoint, model_uri_or_config)


def get_endpoint(endpoint: str) -> dict[str, Any]:
    """An endpoint: its config and generation."""
    return _local().get_endpoint(endpoint)


def list_endpoints() -> list[dict[str, Any]]:
    """Every endpoint, by name."""
    return _local().list_endpoints()


def delete_endpoint(endpoint: str) -> None:
    """Delete an endpoint."""
    _local().delete_endpoint(endpoint)


# -- audit --------------------------------------------------------------------------------------


def audit_list(
    target: str | None = None, action: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Audit entries, newest first, of a target (and below it) and/or one action."""
    return _local().audit_list(target, action, limit)


def audit_verify() -> dict[str, Any]:
    """Verify the audit hash chain: ``{"ok", "checked", "first_bad_seq", "reason"}``."""
    return _local().audit_verify()
