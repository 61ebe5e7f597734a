"""``order_by`` for run listings: ``["metrics.auc DESC", "start_time"]`` → SQL ORDER BY clauses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from modelplane.errors import InvalidInputError
from modelplane.stores.metadata.schema import latest_metrics, run_params, run_tags, runs

_ATTRS = {
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "run_name": runs.c.name,
    "name": runs.c.name,
    "status": runs.c.status,
    "run_id": runs.c.id,
}


def order_clauses(order_by: Sequence[str] | None) -> list[Any]:
    if not order_by:
        return [runs.c.start_time.desc(), runs.c.id]
    if isinstance(order_by, str):
        order_by = [order_by]
    out: list[Any] = []
    for item in order_by:
        if not isinstance(item, str) or len(item) > 300:
            raise InvalidInputError("order_by items must be short strings", field="order_by")
        parts = item.strip().split()
        if (
            not parts
            or len(parts) > 2
            or (len(parts) == 2 and parts[1].upper() not in ("ASC", "DESC"))
        ):
            raise InvalidInputError(
                f"invalid order_by {item!r}: expected 'FIELD' or 'FIELD ASC|DESC'", field="order_by"
            )
        name, desc = parts[0], len(parts) == 2 and parts[1].upper() == "DESC"
        col: Any
        if name.startswith(("metrics.", "params.", "tags.")):
            prefix, key = name.split(".", 1)
            key = key.strip("`")
            table = {"metrics": latest_metrics, "params": run_params, "tags": run_tags}[prefix]
            col = (
                sa.select(table.c.value)
                .where(table.c.run_id == runs.c.id, table.c.key == key)
                .scalar_subquery()
            )
        elif name.removeprefix("attributes.") in _ATTRS:
            col = _ATTRS[name.removeprefix("attributes.")]
        else:
            raise InvalidInputError(f"cannot order by {name!r}", field="order_by")
        out.append(col.desc().nulls_last() if desc else col.asc().nulls_last())
    out.append(runs.c.id)
    return out
