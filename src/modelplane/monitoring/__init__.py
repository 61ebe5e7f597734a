"""Monitoring: watching deployed models against the data they were trained on.

The package owns monitoring. Today that is drift (:mod:`modelplane.monitoring.drift`: comparing a
reference sample with a current sample, column by column) and quality over time
(:mod:`modelplane.monitoring.quality`: metrics of labelled predictions per time window, model
version and variant); feeding them from the prediction log, reports and alerting come later.
``compare``, ``quality`` and their reports resolve lazily, so importing this package loads neither
numpy nor scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "compare": "modelplane.monitoring.drift",
    "ColumnDrift": "modelplane.monitoring.drift",
    "DriftReport": "modelplane.monitoring.drift",
    "quality": "modelplane.monitoring.quality",
    "QualityReport": "modelplane.monitoring.quality",
}

__all__ = ["ColumnDrift", "DriftReport", "QualityReport", "compare", "quality"]

if TYPE_CHECKING:
    from modelplane.monitoring.drift import ColumnDrift, DriftReport, compare
    from modelplane.monitoring.quality import QualityReport, quality


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    imported = importlib.import_module(module)
    # ``quality`` names both a submodule and its function. Importing the submodule binds it here
    # under that name whatever we do, so the name always means the module, which is callable as
    # the function: ``import modelplane.monitoring.quality as m`` and ``from modelplane.monitoring
    # import quality`` then agree in any import order.
    value = imported if imported.__name__ == f"{__name__}.{name}" else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
