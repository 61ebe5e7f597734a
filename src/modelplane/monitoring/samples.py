"""Samples: reading the columns of a reference or current sample without copying it whole.

A sample is a pandas DataFrame, a mapping of column name to 1-D array, or a 2-D numpy array
(columns named ``f0``, ``f1``, ...). Each column is read on demand as numeric (float64, missing
as NaN) or categorical (the values as given); object arrays holding only numbers and missing
values count as numeric. pandas is imported only when a column needs it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np

from modelplane.errors import InvalidInputError

Typed = Literal["numeric", "categorical", "empty"]


@dataclass(frozen=True)
class Side:
    """One column of one sample: numeric values as float64, or categorical values as given."""

    typed: Typed
    values: Any  # FloatArray when typed == "numeric", else a 1-D array or pandas Series


def _is_dataframe(data: object) -> bool:
    # A DataFrame can only exist if pandas is already imported: no import just to check.
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(data, pandas.DataFrame)


class Table:
    """Column access to one input without copying it whole."""

    def __init__(self, data: object, argument: str) -> None:
        self.argument = argument
        self.columns: dict[str, Any] = {}
        if _is_dataframe(data):
            frame = cast(Any, data)
            if not frame.columns.is_unique:
                raise InvalidInputError(f"{argument} has duplicate column names", field=argument)
            self.columns = {str(label): frame[label] for label in frame.columns}
            if len(self.columns) != len(frame.columns):
                raise InvalidInputError(
                    f"{argument} has column names that are equal as strings", field=argument
                )
            self.rows = len(frame)
        elif isinstance(data, np.ndarray):
            if data.ndim != 2:
                raise InvalidInputError(
                    f"{argument} must be a 2-D array (rows × columns), got {data.ndim}-D",
                    field=argument,
                )
            self.columns = {f"f{j}": data[:, j] for j in range(data.shape[1])}
            self.rows = int(data.shape[0])
        elif isinstance(data, Mapping):
            self.rows = self._from_mapping(data)
        else:
            raise InvalidInputError(
                f"{argument} must be a pandas DataFrame, a mapping of column name to 1-D array "
                f"or a 2-D numpy array, got {type(data).__name__}",
                field=argument,
            )
        if not self.columns:
            raise InvalidInputError(f"{argument} has no columns", field=argument)
        if self.rows == 0:
            raise InvalidInputError(f"{argument} has no rows", field=argument)

    def _from_mapping(self, data: Mapping[Any, Any]) -> int:
        lengths: set[int] = set()
        for name, raw in data.items():
            if not isinstance(name, str):
                raise InvalidInputError(
                    f"{self.argument} column names must be strings, got {type(name).__name__}",
                    field=self.argument,
                )
            values = raw if hasattr(raw, "dtype") and hasattr(raw, "ndim") else np.asarray(raw)
            if values.ndim != 1:
                raise InvalidInputError(
                    f"column {name!r} of {self.argument} must be 1-D, got {values.ndim}-D",
                    field=name,
                )
            self.columns[name] = values
            lengths.add(len(values))
        if len(lengths) > 1:
            raise InvalidInputError(
                f"columns of {self.argument} differ in length: {sorted(lengths)}",
                field=self.argument,
            )
        return lengths.pop() if lengths else 0

    def side(self, name: str) -> Side:
        return _classify(self.columns[name], name)


def _classify(raw: Any, name: str) -> Side:
    """Read one column as numeric (float64, missing as NaN) or categorical."""
    dtype = getattr(raw, "dtype", None)
    if isinstance(raw, np.ndarray) and dtype is not None:
        kind = dtype.kind
        if kind == "b":
            return Side("categorical", raw)
        if kind in "iuf":
            return Side("numeric", raw.astype(np.float64, copy=False))
        if kind in "US":
            return Side("categorical", raw)
        if kind == "O":
            return _classify_objects(raw, name)
        raise _unsupported(name, dtype)
    # a pandas Series (or an array-like with a pandas extension dtype)
    import pandas as pd

    series = raw if isinstance(raw, pd.Series) else pd.Series(raw, copy=False)
    sdtype = series.dtype
    if pd.api.types.is_bool_dtype(sdtype):
        return Side("categorical", series)
    if isinstance(sdtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(sdtype):
        if sdtype.kind == "O":
            return _classify_objects(series, name)
        return Side("categorical", series)
    if pd.api.types.is_complex_dtype(sdtype) or not pd.api.types.is_numeric_dtype(sdtype):
        raise _unsupported(name, sdtype)
    return Side("numeric", series.to_numpy(dtype=np.float64, na_value=np.nan))


def _classify_objects(raw: Any, name: str) -> Side:
    import pandas as pd

    inferred = pd.api.types.infer_dtype(raw, skipna=True)
    if inferred == "empty":
        return Side("empty", raw)
    if inferred in {"floating", "integer", "mixed-integer-float", "decimal"}:
        series = raw if isinstance(raw, pd.Series) else pd.Series(raw, copy=False)
        return Side("numeric", series.to_numpy(dtype=np.float64, na_value=np.nan))
    if inferred in {"datetime64", "datetime", "date", "timedelta64", "timedelta", "complex"}:
        raise _unsupported(name, inferred)
    return Side("categorical", raw)


def _unsupported(name: str, dtype: object) -> InvalidInputError:
    return InvalidInputError(
        f"column {name!r} has unsupported type {dtype}; convert it to numbers or strings",
        field=name,
        dtype=str(dtype),
    )
