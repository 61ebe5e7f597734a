"""Which items a listing returns: the ``lifecycle`` filter of runs, models and model versions.

Deleting is a soft delete (the row stays, with ``deleted_at`` set): listings show ``active``
items by default, and ``deleted`` ones or ``all`` when asked, so a user can find what to restore.
It lives this low so that tracking and the registry (side by side, neither importing the other)
and the HTTP layer share one spelling.
"""

from __future__ import annotations

from typing import Literal, get_args

from modelplane.errors import InvalidInputError

Lifecycle = Literal["active", "deleted", "all"]
"""A lifecycle filter, as the HTTP API's ``lifecycle`` query parameter takes it."""
LIFECYCLES: tuple[str, ...] = get_args(Lifecycle)
"""Which items a listing returns (MLflow's ``run_view_type``: ACTIVE_ONLY, DELETED_ONLY, ALL)."""


def check_lifecycle(lifecycle: object) -> str:
    """``active`` (the default), ``deleted`` or ``all`` — MLflow's ACTIVE_ONLY, DELETED_ONLY and
    ALL are read as those; anything else is an InvalidInputError naming ``lifecycle``."""
    text = str(lifecycle).lower().removesuffix("_only") if isinstance(lifecycle, str) else ""
    if text not in LIFECYCLES:
        raise InvalidInputError(
            f"lifecycle must be one of {', '.join(LIFECYCLES)}, got {str(lifecycle)[:40]!r}",
            field="lifecycle",
        )
    return text


__all__ = ["LIFECYCLES", "Lifecycle", "check_lifecycle"]
