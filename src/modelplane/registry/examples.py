"""Input examples: the rows given at registration, kept (≤ 100) as ``input_example.parquet``.

Serving validates accelerated runtimes and warms new versions with them; the local registry and
the remote client save them the same way (:func:`save_example`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

INPUT_EXAMPLE = "input_example.parquet"
MAX_EXAMPLE_ROWS = 100


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


def save_example(X: Any, signature: dict[str, Any], path: Path) -> bool:
    """Write up to MAX_EXAMPLE_ROWS rows of ``X`` (columns named as in the signature) to
    ``path`` as Parquet; False when there is no usable example."""
    if X is None:
        return False
    frame = example_frame(X, signature)
    if frame is None or frame.empty:
        return False
    try:
        frame.head(MAX_EXAMPLE_ROWS).reset_index(drop=True).to_parquet(path, index=False)
    except (ValueError, TypeError, ImportError):  # e.g. object columns pyarrow cannot store
        return False
    return True
