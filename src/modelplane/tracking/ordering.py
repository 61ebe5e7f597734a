"""``order_by`` for run listings: ``["metrics.auc DESC", "start_time"]`` → an ORDER BY clause."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelplane.errors import InvalidInputError

_ATTRS = {
    "start_time": "r.start_time",
    "end_time": "r.end_time",
    "run_name": "r.name",
    "name": "r.name",
    "status": "r.status",
    "run_id": "r.id",
}
_CHILD = {"metrics": "latest_metrics", "params": "run_params", "tags": "run_tags"}


def order_sql(order_by: Sequence[str] | None, mark: str) -> tuple[str, list[Any]]:
    """The ORDER BY expression list (runs aliased ``r``) and its parameters (child-table keys)."""
    if not order_by:
        return "r.start_time DESC, r.id", []
    if isinstance(order_by, str):
        order_by = [order_by]
    parts: list[str] = []
    params: list[Any] = []
    for item in order_by:
        if not isinstance(item, str) or len(item) > 300:
            raise InvalidInputError("order_by items must be short strings", field="order_by")
        words = item.strip().split()
        if (
            not words
            or len(words) > 2
            or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC"))
        ):
            raise InvalidInputError(
                f"invalid order_by {item!r}: expected 'FIELD' or 'FIELD ASC|DESC'", field="order_by"
            )
        name, desc = words[0], len(words) == 2 and words[1].upper() == "DESC"
        if name.startswith(("metrics.", "params.", "tags.")):
            prefix, key = name.split(".", 1)
            expr = f"(SELECT value FROM {_CHILD[prefix]} WHERE run_id = r.id AND key = {mark})"
            params.append(key.strip("`"))
        elif name.removeprefix("attributes.") in _ATTRS:
            expr = _ATTRS[name.removeprefix("attributes.")]
        else:
            raise InvalidInputError(f"cannot order by {name!r}", field="order_by")
        parts.append(f"{expr} {'DESC' if desc else 'ASC'} NULLS LAST")
    parts.append("r.id")
    return ", ".join(parts), params
