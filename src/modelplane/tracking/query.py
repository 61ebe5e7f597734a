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

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.core.sql import fetch_tuples
from modelplane.errors import InvalidInputError
from modelplane.stores.metadata.schema import (
    experiments,
    runs,
)
from modelplane.tracking.ordering import order_clauses

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


@dataclass
class RunPage:
    rows: list[_RunRow]
    params: dict[str, dict[str, str]]
    tags: dict[str, dict[str, str]]
    metrics: dict[str, dict[str, float]]
    datasets: dict[str, list[dict[str, Any]]]


def fetch_runs(
    conn: Connection,
    condition: Any,
    *,
    reuse_condition: bool,
    order_by: Sequence[str] | None = None,
    limit: int = 100_000,
) -> RunPage:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1_000_000:
        raise InvalidInputError("max_results must be between 1 and 1000000", field="max_results")
    query = (
        sa.select(
            runs.c.id,
            runs.c.experiment_id,
            experiments.c.name.label("experiment"),
            runs.c.name,
            runs.c.status,
            runs.c.start_time,
            runs.c.end_time,
            runs.c.user,
            runs.c.source,
            runs.c.code_version,
        )
        .join(experiments, experiments.c.id == runs.c.experiment_id)
        .where(condition)
        .order_by(*order_clauses(order_by))
        .limit(limit)
    )
    rows = [_RunRow(*t) for t in fetch_tuples(conn, query)]
    ids = [r[0] for r in rows]
    page = RunPage(
        rows,
        {i: {} for i in ids},
        {i: {} for i in ids},
        {i: {} for i in ids},
        {i: [] for i in ids},
    )
    if not ids:
        return page
    if reuse_condition and len(ids) < limit:
        # e.g. "all runs of these experiments": let the database select the children itself
        sub = sa.select(runs.c.id).where(condition)
        compiled = sub.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        params: Any
        if conn.dialect.paramstyle == "qmark":
            params = [compiled.params[n] for n in compiled.positiontup or ()]
        else:
            params = compiled.params
        _fill_children(conn, page, str(compiled), params)
    else:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        for i in range(0, len(ids), ID_CHUNK):
            chunk = ids[i : i + ID_CHUNK]
            _fill_children(conn, page, ", ".join([mark] * len(chunk)), chunk)
    return page


_CHILDREN = (
    "SELECT 'p', run_id, key, value, CAST(NULL AS DOUBLE PRECISION) FROM run_params WHERE run_id IN ({sel}) "
    "UNION ALL SELECT 't', run_id, key, value, CAST(NULL AS DOUBLE PRECISION) FROM run_tags WHERE run_id IN ({sel}) "
    "UNION ALL SELECT 'm', run_id, key, NULL, value FROM latest_metrics WHERE run_id IN ({sel})"
)
_DATASETS = (
    "SELECT rd.run_id, d.name, dv.version, rd.context FROM run_datasets rd "
    "JOIN dataset_versions dv ON dv.id = rd.dataset_version_id "
    "JOIN datasets d ON d.id = dv.dataset_id WHERE rd.run_id IN ({sel})"
)


def _fill_children(conn: Connection, page: RunPage, sel: str, params: Any) -> None:
    """Params, tags and latest metrics in one UNION ALL statement, then dataset links.

    ``sel`` is either a placeholder list or a compiled sub-select; ``params`` binds it (repeated
    for each of the three parts). Plain SQL on the DB-API cursor: for thousands of child rows,
    statement compilation and Row objects would cost more than the query.
    """
    repeated: Any
    repeated = params if isinstance(params, dict) else [*params, *params, *params]
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_CHILDREN.format(sel=sel), repeated)
        params_of, tags_of, metrics_of = page.params, page.tags, page.metrics
        for kind, run_id, key, text, number in cursor.fetchall():
            if kind == "m":
                bucket = metrics_of.get(run_id)
                if bucket is not None:
                    bucket[key] = math.nan if number is None else number
            else:
                target = (params_of if kind == "p" else tags_of).get(run_id)
                if target is not None:
                    target[key] = text
        cursor.execute(_DATASETS.format(sel=sel), params)
        for run_id, name, version, context in cursor.fetchall():
            if run_id in page.datasets:
                page.datasets[run_id].append({"name": name, "version": version, "context": context})
    finally:
        cursor.close()
