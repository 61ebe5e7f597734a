"""Monitoring: watching deployed models against the data they were trained on.

The package owns monitoring. Today that is drift (:mod:`modelplane.monitoring.drift`: comparing a
reference sample with a current sample, column by column); feeding it from the prediction log,
reports and alerting come later. ``compare`` and ``DriftReport`` resolve lazily, so importing this
package loads neither numpy nor scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "compare": "modelplane.monitoring.drift",
    "ColumnDrift": "modelplane.monitoring.drift",
    "DriftReport": "modelplane.monitoring.drift",
}

__all__ = ["ColumnDrift", "DriftReport", "compare"]

if TYPE_CHECKING:
    from modelplane.monitoring.drift import ColumnDrift, DriftReport, compare


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
