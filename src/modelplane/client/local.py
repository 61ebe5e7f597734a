"""Client-side work that needs no server: lineage ids, the input example kept with a model, and
the ``search_runs`` DataFrame."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.data.records import DatasetVersion
from modelplane.errors import InvalidInputError
from modelplane.tracking.records import RunInfo

if TYPE_CHECKING:
    import pandas as pd

INPUT_EXAMPLE = "input_example.parquet"
MAX_EXAMPLE_ROWS = 100


def dataset_ids(datasets: Sequence[Any] | None) -> list[int]:
    ids = []
    for ds in datasets or ():
        if isinstance(ds, int) and not isinstance(ds, bool):
            ids.append(ds)
        elif isinstance(ds, DatasetVersion):
            ids.append(ds.id)
        else:
            raise InvalidInputError(
                "datasets must be DatasetVersion objects from register_dataset", field="datasets"
            )
    return ids


def save_example(X: Any, signature: dict[str, Any], path: Path) -> bool:
    """Up to MAX_EXAMPLE_ROWS rows of the input example, as ``RegistryService`` keeps them."""
    if X is None:
        return False
    from modelplane.registry.examples import example_frame

    frame = example_frame(X, signature)
    if frame is None or frame.empty:
        return False
    try:
        frame.head(MAX_EXAMPLE_ROWS).reset_index(drop=True).to_parquet(path, index=False)
    except (ValueError, TypeError, ImportError):
        return False
    return True


def runs_frame(infos: list[RunInfo]) -> pd.DataFrame:
    """The columns of ``mp.search_runs`` (see ``modelplane.tracking.frame``)."""
    import pandas as pd

    columns: dict[str, Any] = {
        "run_id": [r.id for r in infos],
        "experiment_id": [r.experiment_id for r in infos],
        "experiment": [r.experiment for r in infos],
        "run_name": [r.name for r in infos],
        "status": [r.status for r in infos],
        "start_time": pd.to_datetime([r.start_time for r in infos], unit="ms", utc=True),
        "end_time": pd.to_datetime([r.end_time for r in infos], unit="ms", utc=True),
        "user": [r.user for r in infos],
        "code_version": [r.code_version for r in infos],
    }
    for prefix, missing in (("metrics", float("nan")), ("params", None), ("tags", None)):
        tables: list[dict[str, Any]] = [getattr(r, prefix) for r in infos]
        keys: dict[str, None] = {}
        for table in tables:
            keys.update(dict.fromkeys(table))
        for key in sorted(keys):
            columns[f"{prefix}.{key}"] = [t.get(key, missing) for t in tables]
    return pd.DataFrame(columns)
