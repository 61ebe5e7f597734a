"""Input examples: the rows given at registration, kept (≤ 100) as ``input_example.parquet``."""

from __future__ import annotations

from typing import Any


def example_frame(X: Any, signature: dict[str, Any]) -> Any:
    """``X`` (DataFrame, 2-D array, list of records) as a DataFrame named like the signature."""
    import numpy as np
    import pandas as pd

    names = [c["name"] for c in signature.get("inputs") or []]
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, list) and X and isinstance(X[0], dict):
        return pd.DataFrame.from_records(X)
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError):
        return None
    if arr.ndim != 2 or (names and arr.shape[1] != len(names)):
        return None
    return pd.DataFrame(arr, columns=names or [f"f{i}" for i in range(arr.shape[1])])
