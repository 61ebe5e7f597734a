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
                distinct=_distinct(values),
            )
    elif kind == "datetime" and len(values):
        out.update(min=str(values.min()), max=str(values.max()), distinct=int(values.nunique()))
    elif len(values):
        distinct, top = _top_values(values)
        out.update(distinct=distinct, top=top)
        if kind == "boolean":
            out["true_rate"] = float(values.astype(bool).mean())
    return out


def _distinct(values: pd.Series) -> int:
    """``values.nunique()`` of non-null numbers, by sorting a copy rather than hashing every
    value (a hash table of a million floats costs three times the column)."""
    import numpy as np

    raw = values.to_numpy()
    if raw.dtype.kind not in "iuf" or not len(raw):
        return int(values.nunique())
    ordered = np.sort(raw)
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1


def _top_values(values: pd.Series) -> tuple[int, list[dict[str, Any]]]:
    """(distinct values, the TOP_K most frequent with their counts) of the values as text —
    what ``value_counts()`` gives, ties in order of first appearance — counted by sorting, not
    hashing: a column of a million distinct strings costs a sorted copy and a few integer
    arrays (tens of MB) instead of a hash table of every value (hundreds)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(values.astype(str), type=pa.large_string())
    n = len(text)
    order = pc.sort_indices(text).to_numpy()
    ordered = text.take(pa.array(order))
    changed = pc.not_equal(ordered.slice(1), ordered.slice(0, n - 1))
    starts = np.flatnonzero(np.concatenate(([True], changed.to_numpy(zero_copy_only=False))))
    counts = np.diff(np.append(starts, n))
    first_seen = np.minimum.reduceat(order, starts)
    best = np.lexsort((first_seen, -counts))[:TOP_K]
    top = [{"value": str(ordered[int(starts[i])].as_py()), "count": int(counts[i])} for i in best]
    return len(starts), top


def profile_frame(df: pd.DataFrame) -> dict[str, Any]:
    return {
        "num_rows": len(df),
        "columns": {str(name): profile_column(df[name]) for name in df.columns},
    }
