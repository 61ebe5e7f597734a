"""Runs as a pandas DataFrame (one row per run), the shape ``mp.search_runs`` returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelplane.tracking.records import RunInfo

if TYPE_CHECKING:
    import pandas as pd

BASE_COLUMNS = [
    "run_id",
    "experiment_id",
    "experiment",
    "run_name",
    "status",
    "start_time",
    "end_time",
    "user",
    "code_version",
]


def runs_frame(infos: Sequence[RunInfo]) -> pd.DataFrame:
    import pandas as pd

    param_keys: dict[str, None] = {}
    metric_keys: dict[str, None] = {}
    tag_keys: dict[str, None] = {}
    for info in infos:
        param_keys.update(dict.fromkeys(info.params))
        metric_keys.update(dict.fromkeys(info.metrics))
        tag_keys.update(dict.fromkeys(info.tags))
    columns: dict[str, Any] = {
        "run_id": [i.id for i in infos],
        "experiment_id": [i.experiment_id for i in infos],
        "experiment": [i.experiment for i in infos],
        "run_name": [i.name for i in infos],
        "status": [i.status for i in infos],
        "start_time": pd.to_datetime([i.start_time for i in infos], unit="ms", utc=True),
        "end_time": pd.to_datetime([i.end_time for i in infos], unit="ms", utc=True),
        "user": [i.user for i in infos],
        "code_version": [i.code_version for i in infos],
    }
    nan = float("nan")
    for key in sorted(metric_keys):
        columns[f"metrics.{key}"] = [i.metrics.get(key, nan) for i in infos]
    for key in sorted(param_keys):
        columns[f"params.{key}"] = [i.params.get(key) for i in infos]
    for key in sorted(tag_keys):
        columns[f"tags.{key}"] = [i.tags.get(key) for i in infos]
    return pd.DataFrame(columns)
