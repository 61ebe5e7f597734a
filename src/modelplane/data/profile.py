"""Per-column profiles of a DataFrame: type, null rate, min/max/quantiles, histogram, top categories.

The profile is the reference later layers compare against (validation, drift), so numeric columns
also keep a 10-bin histogram over [min, max].
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
TOP_K = 10
HIST_BINS = 10


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def column_kind(series: pd.Series) -> str:
    from pandas.api import types as t

    if t.is_bool_dtype(series.dtype):
        return "boolean"
    if t.is_numeric_dtype(series.dtype):
        return "numeric"
    if t.is_datetime64_any_dtype(series.dtype):
        return "datetime"
    return "categorical"


def profile_column(series: pd.Series) -> dict[str, Any]:
    import numpy as np

    count = len(series)
    nulls = int(series.isna().sum())
    kind = column_kind(series)
    out: dict[str, Any] = {
        "dtype": str(series.dtype),
        "kind": kind,
        "count": count,
        "null_count": nulls,
        "null_rate": (nulls / count) if count else 0.0,
    }
    values = series.dropna()
    if kind == "numeric" and len(values):
        arr = values.to_numpy(dtype="float64")
        finite = arr[np.isfinite(arr)]
        if len(finite):
            qs = np.quantile(finite, QUANTILES)
            lo, hi = float(finite.min()), float(finite.max())
            counts, edges = np.histogram(
                finite, bins=HIST_BINS, range=(lo, hi) if hi > lo else None
            )
            out.update(
                min=lo,
                max=hi,
                mean=float(finite.mean()),
                std=float(finite.std(ddof=1)) if len(finite) > 1 else 0.0,
                quantiles={
                    f"p{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, qs, strict=True)
                },
                histogram={"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
                distinct=int(values.nunique()),
            )
    elif kind == "datetime" and len(values):
        out.update(min=str(values.min()), max=str(values.max()), distinct=int(values.nunique()))
    elif len(values):
        as_text = values.astype(str)
        counts = as_text.value_counts()
        out.update(
            distinct=len(counts),
            top=[{"value": str(v), "count": int(c)} for v, c in counts.head(TOP_K).items()],
        )
        if kind == "boolean":
            out["true_rate"] = float(values.astype(bool).mean())
    return out


def profile_frame(df: pd.DataFrame) -> dict[str, Any]:
    return {
        "num_rows": len(df),
        "columns": {str(name): profile_column(df[name]) for name in df.columns},
    }
