"""Functions the graph tests name in python steps (``tests.inference.graph_funcs:NAME``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

NOT_CALLABLE = 42
CALLS: list[str] = []


def double(frame: pd.DataFrame) -> pd.DataFrame:
    """Preprocess: every numeric column times two (the input frame is modified in place, which
    the graph must tolerate without changing the caller's data)."""
    for col in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[col]):
            frame[col] = frame[col] * 2
    return frame


def add_total(frame: pd.DataFrame) -> pd.DataFrame:
    """Preprocess: a new column ``total`` = a + b."""
    return frame.assign(total=frame["a"] + frame["b"])


def boom(frame: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("boom at row 3")


def not_a_frame(frame: pd.DataFrame) -> Any:
    return 42


def shout(prediction: dict[str, Any]) -> dict[str, Any]:
    """Postprocess: labels upper-cased, probabilities kept."""
    return {
        "outputs": [str(label).upper() for label in prediction["outputs"]],
        "probabilities": prediction["probabilities"],
    }


def drop_one(prediction: dict[str, Any]) -> dict[str, Any]:
    """Postprocess that breaks the contract: one output too few."""
    return {"outputs": prediction["outputs"][1:], "probabilities": None}
