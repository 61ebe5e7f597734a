"""Loading a page of runs with their params, tags, latest metrics and datasets.

Five statements whatever the page size: the runs themselves, then each child table selected by
the same run condition (cheap when it is only an experiment filter) or by explicit id chunks
(when the condition holds metric/param filters, which would otherwise be evaluated again per
child table, or when the page was cut by ``max_results``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy.engine import Connection

from modelplane.errors import InvalidInputError
from modelplane.tracking.ordering import order_sql

ID_CHUNK = 900


class _RunRow(NamedTuple):
    id: str
    experiment_id: int
    experiment: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    user: str | None
    source: str | None
    code_version: str | None
    deleted_at: int | None


@dataclass
class RunPage:
    rows: list[_RunRow]
    params: dict[str, dict[str, Any]]
    tags: dict[str, dict[str, str]]
    metrics: dict[str, dict[str, float]]
    datasets: dict[str, list[dict[str, Any]]]


_SELECT = (
    'SELECT r.id, r.experiment_id, e.name, r.name, r.status, r.start_time, r.end_time, r."user", '
    "r.source, r.code_version, r.deleted_at, "
    "(SELECT {agg}(key, {param}) FROM run_params WHERE run_id = r.id), "
    "(SELECT {agg}(key, value) FROM latest_metrics WHERE run_id = r.id), "
    "(SELECT {agg}(key, value) FROM run_tags WHERE run_id = r.id) "
    "FROM runs r JOIN experiments e ON e.id = r.experiment_id"
)
# Each run's children aggregated into one JSON object by the database (one index range scan per
# run and child table): a page of 1,000 runs is 1,000 rows, not 11,000.
_AGGREGATE = {"sqlite": "json_group_object", "postgresql": "json_object_agg"}
# A param is its JSON when it has one (it is not a string: tracking/params.py), else its text.
_PARAM = {
    "sqlite": "CASE WHEN value_json IS NULL THEN value ELSE json(value_json) END",
    "postgresql": "COALESCE(value_json::json, to_json(value))",
}


def _json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        loaded: dict[str, Any] = orjson.loads(value)
        return loaded
    return dict(value)


def fetch_runs(
    conn: Connection,
    where: list[str],
    params: list[Any],
    *,
    order_by: Sequence[str] | None = None,
    limit: int = 100_000,
) -> RunPage:
    """Runs matching all ``where`` conditions (SQL on runs aliased ``r``, bound by ``params``).

    Plain SQL on the DB-API cursor: statement compilation and Row objects would cost more than
    the queries themselves for pages of thousands of runs.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1_000_000:
        raise InvalidInputError("max_results must be between 1 and 1000000", field="max_results")
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    order, order_params = order_sql(order_by, mark)
    condition = " AND ".join(where) if where else "1 = 1"
    dialect = conn.dialect.name
    select = _SELECT.format(agg=_AGGREGATE[dialect], param=_PARAM[dialect])
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            f"{select} WHERE {condition} ORDER BY {order} LIMIT {mark}",
            [*params, *order_params, limit],
        )
        rows: list[_RunRow] = []
        page = RunPage(rows, {}, {}, {}, {})
        nan = math.nan
        for t in cursor.fetchall():
            run = _RunRow(*t[:11])
            rows.append(run)
            page.params[run.id] = _json(t[11])
            metrics = _json(t[12])
            for key, value in metrics.items():
                if value is None:
                    metrics[key] = nan
            page.metrics[run.id] = metrics
            page.tags[run.id] = _json(t[13])
            page.datasets[run.id] = []
        ids = [r.id for r in rows]
        for i in range(0, len(ids), ID_CHUNK):
            chunk = ids[i : i + ID_CHUNK]
            cursor.execute(_DATASETS.format(sel=", ".join([mark] * len(chunk))), chunk)
            for run_id, name, version, context in cursor.fetchall():
                page.datasets[run_id].append({"name": name, "version": version, "context": context})
        return page
    finally:
        cursor.close()


_DATASETS = (
    "SELECT rd.run_id, d.name, dv.version, rd.context FROM run_datasets rd "
    "JOIN dataset_versions dv ON dv.id = rd.dataset_version_id "
    "JOIN datasets d ON d.id = dv.dataset_id WHERE rd.run_id IN ({sel})"
)
