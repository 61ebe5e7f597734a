"""Runs as a pandas DataFrame (one row per run), the shape ``mp.search_runs`` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelplane.tracking.query import RunPage

if TYPE_CHECKING:
    import pandas as pd


def runs_frame(page: RunPage) -> pd.DataFrame:
    import pandas as pd

    rows = page.rows
    ids = [r.id for r in rows]
    columns: dict[str, Any] = {
        "run_id": ids,
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
    for prefix, table, missing in (
        ("metrics", page.metrics, nan),
        ("params", page.params, None),
        ("tags", page.tags, None),
    ):
        keys: dict[str, None] = {}
        for i in ids:
            keys.update(dict.fromkeys(table[i]))
        per_run = [table[i] for i in ids]
        for key in sorted(keys):
            columns[f"{prefix}.{key}"] = [d.get(key, missing) for d in per_run]
    return pd.DataFrame(columns)
