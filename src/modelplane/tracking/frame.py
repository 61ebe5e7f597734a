"""Runs as a pandas DataFrame (one row per run), the shape ``mp.search_runs`` returns — from a
page of the store (:func:`runs_frame`) or from run records fetched remotely
(:func:`runs_frame_from_infos`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from modelplane.tracking.query import RunPage
    from modelplane.tracking.records import RunInfo


def runs_frame(page: RunPage) -> pd.DataFrame:
    ids = [r.id for r in page.rows]
    return _frame(
        page.rows,
        [page.metrics[i] for i in ids],
        [page.params[i] for i in ids],
        [page.tags[i] for i in ids],
    )


def runs_frame_from_infos(infos: Sequence[RunInfo]) -> pd.DataFrame:
    return _frame(
        infos, [i.metrics for i in infos], [i.params for i in infos], [i.tags for i in infos]
    )


def _frame(
    rows: Sequence[Any],
    metrics: list[dict[str, Any]],
    params: list[dict[str, Any]],
    tags: list[dict[str, Any]],
) -> pd.DataFrame:
    """``rows`` have the run attributes (id, experiment_id, experiment, name, status, times, user,
    code_version); the three lists hold each run's children, in the same order."""
    import pandas as pd

    columns: dict[str, Any] = {
        "run_id": [r.id for r in rows],
        "experiment_id": [r.experiment_id for r in rows],
        "experiment": [r.experiment for r in rows],
        "run_name": [r.name for r in rows],
        "status": [r.status for r in rows],
        "start_time": pd.to_datetime([r.start_time for r in rows], unit="ms", utc=True),
        "end_time": pd.to_datetime([r.end_time for r in rows], unit="ms", utc=True),
        "user": [r.user for r in rows],
        "code_version": [r.code_version for r in rows],
    }
    nan = float("nan")
    for prefix, tables, missing in (
        ("metrics", metrics, nan),
        ("params", params, None),
        ("tags", tags, None),
    ):
        keys: dict[str, None] = {}
        for table in tables:
            keys.update(dict.fromkeys(table))
        for key in sorted(keys):
            columns[f"{prefix}.{key}"] = [t.get(key, missing) for t in tables]
    return pd.DataFrame(columns)
