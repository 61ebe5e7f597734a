"""The Python SDK: module-level functions over a default :class:`Workspace`.

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
from modelplane.data.records import dataset_version_ids

if TYPE_CHECKING:
    import pandas as pd

    from modelplane.data.records import DatasetVersion
    from modelplane.registry.loaded import LoadedModel
    from modelplane.registry.records import ModelVersion, RegisteredModel
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


# -- datasets -----------------------------------------------------------------------------------


def register_dataset(name: str, data: Any, *, source: str | None = None) -> DatasetVersion:
    return workspace().datasets.register(name, data, source=source)


def get_dataset(name: str, version: int | None = None) -> DatasetVersion:
    return workspace().datasets.get(name, version)


def load_dataset(name: str, version: int | None = None) -> pd.DataFrame:
    return workspace().datasets.load(name, version)


def list_datasets(name: str | None = None) -> list[DatasetVersion]:
    return workspace().datasets.list(name)


# -- tracking -----------------------------------------------------------------------------------


def start_run(
    experiment: str = "Default",
    name: str | None = None,
    *,
    tags: Mapping[str, Any] | None = None,
) -> Run:
    """Start a run; use as a context manager (status FINISHED, or FAILED on an exception)."""
    from modelplane.tracking.run import Run
    from modelplane.tracking.source import entry_script, git_commit

    ws = workspace()
    info = ws.tracking.create_run(
        experiment, name, tags=tags, source=entry_script(), code_version=git_commit()
    )
    return Run(ws.tracking, info)


def get_run(run_id: str) -> Any:
    return workspace().tracking.get_run(run_id)


def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    *,
    order_by: Sequence[str] | None = None,
    max_results: int = 100_000,
) -> pd.DataFrame:
    return workspace().tracking.search_runs(
        experiment, filter, order_by=order_by, max_results=max_results
    )


# -- registry -----------------------------------------------------------------------------------


def register_model(
    name: str,
    model: Any,
    X_example: Any = None,
    *,
    run: Run | str | None = None,
    datasets: Sequence[Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str = "",
) -> ModelVersion:
    """Register a model object (or a local MLflow model directory) as the next version of ``name``.

    With ``run``, the version records the run, and the run's params are used unless ``params`` is
    given; ``datasets`` become the version's lineage (and are linked to the run).
    """
    ws = workspace()
    run_id = run if isinstance(run, str) or run is None else run.id
    ds_ids = dataset_version_ids(datasets)
    if run_id is not None:
        info = ws.tracking.get_run(run_id)
        if params is None:
            params = info.params
        for ds_id in ds_ids:
            ws.tracking.log_dataset(run_id, ds_id, "training")
    return ws.registry.register_model(
        name,
        model,
        X_example,
        run_id=run_id,
        dataset_version_ids=ds_ids,
        metrics=metrics,
        params=params,
        tags=tags,
        description=description,
    )


def import_model(path: str | Path, name: str, **kwargs: Any) -> ModelVersion:
    """Import an MLflow model directory (``MLmodel`` + payload) as a new version of ``name``."""
    return workspace().registry.import_model(Path(path), name, **kwargs)


def get_model_version(uri_or_name: str, version: int | None = None) -> ModelVersion:
    reg = workspace().registry
    if version is not None:
        return reg.get_version(uri_or_name, version)
    return reg.resolve(uri_or_name)


def get_model(name: str) -> RegisteredModel:
    return workspace().registry.get_model(name)


def list_models() -> list[RegisteredModel]:
    return workspace().registry.list_models()


def set_alias(name: str, alias: str, version: int, *, reason: str | None = None) -> ModelVersion:
    return workspace().registry.set_alias(name, alias, version, reason=reason)


def delete_alias(name: str, alias: str) -> None:
    workspace().registry.delete_alias(name, alias)


def load_model(uri: str) -> LoadedModel:
    """Load ``models:/name/3`` or ``models:/name@alias``; checksums are verified before loading."""
    return workspace().registry.load(uri)
