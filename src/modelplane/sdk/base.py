"""What the local and the remote SDK share: :class:`BaseClient`.

The operations whose arguments need normalising before anything is stored are written here once
— the input of ``register_dataset``, the run, params and lineage of ``register_model``, the
URI-or-name of ``get_model_version``, the config of ``deploy``, the code source of
``start_run`` — on top of a few primitives each side implements: ``LocalClient`` through the
services, ``mp.Client`` over HTTP. The other operations are plain calls, written on each side.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from modelplane.core.names import check_name
from modelplane.core.operations import Operations
from modelplane.core.uris import is_dataset_uri
from modelplane.data.records import dataset_version_ids
from modelplane.errors import InvalidInputError
from modelplane.registry.records import VersionFacts
from modelplane.registry.signature import pii_names
from modelplane.tracking.handle import RunHandle

if TYPE_CHECKING:
    import pandas as pd

    from modelplane.data.records import DatasetVersion
    from modelplane.registry.records import ModelVersion

DATASET_SUFFIXES = (".csv", ".parquet", ".pq")
"""The file types ``register_dataset`` reads (the server sniffs nothing: the suffix decides)."""

IMPORT_KEYWORDS = frozenset(
    {"run_id", "dataset_version_ids", "metrics", "params", "tags", "description"}
)
"""What ``import_model(path, name, **kwargs)`` accepts: the registry's own keywords."""

R = TypeVar("R", bound=RunHandle)


def dataset_input(data: Any) -> Path | pd.DataFrame:
    """``data`` as a local CSV/Parquet file or a DataFrame (a pyarrow Table or a polars
    DataFrame converted); anything else is refused, naming what to pass."""
    if isinstance(data, (str, Path)):
        text = str(data)
        if "://" in text:
            raise InvalidInputError(
                f"{text[:80]!r}: pass a local CSV/Parquet path or a DataFrame", field="data"
            )
        path = Path(text)
        if path.suffix.lower() not in DATASET_SUFFIXES:
            raise InvalidInputError(
                f"{path.name}: unsupported file type; use .csv or .parquet", field="path"
            )
        if not path.is_file():
            raise InvalidInputError(f"{path} does not exist or is not a file", field="path")
        return path
    import pandas as pd

    if not isinstance(data, pd.DataFrame) and hasattr(data, "to_pandas"):
        data = data.to_pandas()
    if not isinstance(data, pd.DataFrame):
        raise InvalidInputError(
            f"cannot register a {type(data).__name__} as a dataset: pass a pandas DataFrame, "
            "a pyarrow Table or a path to a .csv/.parquet file",
            field="data",
        )
    return data


def endpoint_document(model_uri_or_config: Any) -> dict[str, Any]:
    """An endpoint config as the JSON document both sides validate: a ``models:/`` URI becomes
    ``{"model": uri}``; an ``EndpointConfig`` (anything with ``model_dump``) is dumped."""
    config = model_uri_or_config
    if isinstance(config, str):
        return {"model": config}
    if hasattr(config, "model_dump"):
        dumped: dict[str, Any] = config.model_dump(mode="json")
        return dumped
    if isinstance(config, Mapping):
        return dict(config)
    raise InvalidInputError("pass a models:/ URI or an endpoint config (a dict)", field="config")


class BaseClient(Operations, Generic[R], abc.ABC):
    """The shared operations; ``R`` is the run handle this side's ``start_run`` returns."""

    # -- primitives -----------------------------------------------------------------------------

    @abc.abstractmethod
    def _store_dataset(
        self, name: str, data: Path | pd.DataFrame, source: str | None
    ) -> DatasetVersion:
        """Store a checked file or DataFrame as a dataset version."""

    @abc.abstractmethod
    def _create_run(
        self,
        experiment: str,
        name: str | None,
        tags: Mapping[str, Any] | None,
        source: str | None,
        code_version: str | None,
    ) -> R: ...

    @abc.abstractmethod
    def _link_dataset(self, run_id: str, dataset_version_id: int, context: str) -> None: ...

    @abc.abstractmethod
    def _register_version(
        self, name: str, model: Any, X_example: Any, facts: VersionFacts
    ) -> ModelVersion:
        """Save ``model`` (an object, or a local MLflow directory) and record the version."""

    @abc.abstractmethod
    def _get_version(self, name: str, version: int) -> ModelVersion: ...

    @abc.abstractmethod
    def _resolve(self, uri: str) -> ModelVersion: ...

    @abc.abstractmethod
    def _deploy(self, endpoint: str, document: dict[str, Any]) -> dict[str, Any]: ...

    # -- shared operations ----------------------------------------------------------------------

    def register_dataset(
        self, name: str, data: Any, *, source: str | None = None
    ) -> DatasetVersion:
        check_name(name, "dataset name")
        checked = dataset_input(data)
        if isinstance(checked, Path):
            source = source or str(checked.resolve())
        return self._store_dataset(name, checked, source)

    def start_run(
        self,
        experiment: str = "Default",
        name: str | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
    ) -> R:
        from modelplane.tracking.source import entry_script, git_commit

        return self._create_run(experiment, name, tags, entry_script(), git_commit())

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
        """With ``run``, the version records the run and takes the run's params unless
        ``params`` is given; ``datasets`` become the version's lineage and are linked to the
        run as its training data. ``pii`` marks input columns as personal data in the
        signature (unknown names are refused)."""
        check_name(name, "model name")
        pii_columns = pii_names(pii)  # its shape is checked before anything is saved
        run_id = run if isinstance(run, str) or run is None else run.id
        ds_ids = dataset_version_ids(
            [self.get_dataset(ds) if is_dataset_uri(ds) else ds for ds in datasets or ()]
        )
        if run_id is not None:
            if params is None:
                # a version's params are scalars: a run's list or dict param becomes its JSON
                params = {
                    k: json.dumps(v) if isinstance(v, (dict, list)) else v
                    for k, v in self.get_run(run_id).params.items()
                }
            for ds_id in ds_ids:
                self._link_dataset(run_id, ds_id, "training")
        facts = VersionFacts(
            run_id, tuple(ds_ids), metrics, params, tags, description, pii=pii_columns
        )
        return self._register_version(name, model, X_example, facts)

    def import_model(self, path: str | Path, name: str, **kwargs: Any) -> ModelVersion:
        """``kwargs``: ``run_id``, ``dataset_version_ids``, ``metrics``, ``params``, ``tags``,
        ``description`` (recorded as given; ``register_model`` also reads the run)."""
        unknown = sorted(set(kwargs) - IMPORT_KEYWORDS)
        if unknown:
            raise TypeError(f"import_model() got unexpected keyword arguments: {unknown}")
        check_name(name, "model name")
        return self._register_version(name, Path(path), None, VersionFacts(**kwargs))

    def get_model_version(self, uri_or_name: str, version: int | None = None) -> ModelVersion:
        if version is not None:
            return self._get_version(uri_or_name, int(version))
        return self._resolve(uri_or_name)

    def deploy(self, endpoint: str, model_uri_or_config: Any) -> dict[str, Any]:
        return self._deploy(endpoint, endpoint_document(model_uri_or_config))
