"""Reading a joined frame for :mod:`modelplane.monitoring.quality`: arguments, columns,
times, classes and probabilities, checked, as numpy arrays.

The rules (which rows count, how classes and probabilities are read, how times and windows are
given) are stated in the docstring of :mod:`modelplane.monitoring.quality`.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from modelplane.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

Task = Literal["classification", "regression"]

TASKS: frozenset[str] = frozenset({"classification", "regression"})
CLASSIFICATION_METRICS: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "ece",
)
REGRESSION_METRICS: tuple[str, ...] = ("mae", "rmse", "r2")
DEFAULT_GROUPS: tuple[str, ...] = ("model", "version", "variant")  # the prediction log's columns
MAX_BINS = 1000
MAX_CELLS = 10_000  # (window, group) cells with rows; a tiny window over a long span is refused
MAX_SLICE_CELLS = 100_000  # (window, group, slice) cells with rows
MAX_EPOCH_SECONDS = 9.2e9  # datetime64[ns] ends in 2262
SUM_TOLERANCE = 1e-5  # per-class probabilities must sum to 1 within this (as numpy's allclose)
DENSE_KEYS = 1 << 22  # grouped sums over fewer keys use one bincount, more use a sort
RADIX_UNITS = 1 << 16  # ROC AUC sorts unit numbers below this as uint16 (numpy's radix sort)
MISSING_KEY = "null"
OVERFLOW = "not finite: the values overflow"
NUMBER_KINDS = frozenset(
    {"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"}
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Array = npt.NDArray[Any]


@dataclass(frozen=True)
class _Names:
    """The column names the caller gave, checked."""

    label: str
    prediction: str
    probability: str | None
    time: str
    slice_by: str | None


def _column_name(value: object, argument: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{argument} must be a column name, got {value!r}", field=argument)
    return value


def _require_column(frame: pd.DataFrame, name: str, argument: str) -> None:
    if name not in frame.columns:
        raise InvalidInputError(
            f"{argument} column {name!r} is not in the frame", field=argument, column=name
        )


def _check_arguments(
    frame: object, task: object, names: _Names, bins: object, positive: object
) -> None:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(
            f"frame must be a pandas DataFrame, got {type(frame).__name__}", field="frame"
        )
    if not isinstance(task, str) or task not in TASKS:
        raise InvalidInputError(f"unknown task {task!r}; use one of {sorted(TASKS)}", field="task")
    if (
        isinstance(bins, bool)
        or not isinstance(bins, numbers.Integral)
        or not 1 <= int(bins) <= MAX_BINS
    ):
        raise InvalidInputError(
            f"bins must be an integer from 1 to {MAX_BINS}, got {bins!r}", field="bins"
        )
    if task == "regression":
        if names.probability is not None:
            raise InvalidInputError(
                "probability applies to classification tasks", field="probability"
            )
        if positive is not None:
            raise InvalidInputError("positive applies to classification tasks", field="positive")


def _check_columns(frame: pd.DataFrame, names: _Names, windowed: bool) -> None:
    _require_column(frame, names.label, "label")
    _require_column(frame, names.prediction, "prediction")
    if names.probability is not None:
        _require_column(frame, names.probability, "probability")
    if names.slice_by is not None:
        _require_column(frame, names.slice_by, "slice_by")
    if windowed:
        _require_column(frame, names.time, "time")


def _group_columns(frame: pd.DataFrame, by: object) -> list[str]:
    if by is None:
        return [name for name in DEFAULT_GROUPS if name in frame.columns]
    names = [by] if isinstance(by, str) else by
    if not isinstance(names, Iterable) or isinstance(names, Mapping):
        raise InvalidInputError(f"by must be a list of column names, got {by!r}", field="by")
    chosen: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"by must be a list of column names, got {by!r}", field="by")
        _require_column(frame, name, "by")
        if name not in chosen:
            chosen.append(name)
    return chosen


def _window_ns(window: object) -> int | None:
    if window is None:
        return None
    import pandas as pd

    hint = "a length such as '15min', '1h' or '1D', a timedelta or a number of seconds"
    if isinstance(window, str):
        try:
            float(window)
        except ValueError:
            pass
        else:
            raise InvalidInputError(
                f"window {window!r} has no unit; use {hint} (a number, not text)", field="window"
            )
        try:
            length = pd.Timedelta(window)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"window {window!r} is not a fixed length; use {hint}", field="window"
            ) from exc
        if pd.isna(length):
            raise InvalidInputError(
                f"window {window!r} is not a length; use {hint}", field="window"
            )
        ns = int(length.value)
    elif isinstance(window, timedelta | np.timedelta64):
        length = pd.Timedelta(window)
        if pd.isna(length):
            raise InvalidInputError(
                f"window {window!r} is not a length; use {hint}", field="window"
            )
        ns = int(length.value)
    elif isinstance(window, numbers.Real) and not isinstance(window, bool):
        seconds = float(window)
        if not math.isfinite(seconds) or abs(seconds) > MAX_EPOCH_SECONDS:
            raise InvalidInputError(
                f"window must be a finite number of seconds, got {window!r}", field="window"
            )
        ns = round(seconds * 1e9)
    else:
        raise InvalidInputError(f"window {window!r} is not a length; use {hint}", field="window")
    if ns <= 0:
        raise InvalidInputError(f"window must be a positive length, got {window!r}", field="window")
    return ns


# --- time ----------------------------------------------------------------------------------


def _times_ns(series: pd.Series, name: str, *, required: bool) -> tuple[IntArray, BoolArray] | None:
    """The time column as int64 nanoseconds since the epoch (UTC) and which rows have one.

    ``None`` when no row has a time and none is required.
    """
    import pandas as pd

    dtype = series.dtype
    refused = InvalidInputError(
        f"time column {name!r} must hold epoch seconds or datetimes, got {dtype}",
        field="time",
        column=name,
    )
    try:
        if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
            ns, present = _datetimes_ns(series)
        elif pd.api.types.is_bool_dtype(dtype):
            raise refused
        elif pd.api.types.is_numeric_dtype(dtype):
            ns, present = _seconds_ns(series.to_numpy(dtype=np.float64, na_value=np.nan), name)
        elif pd.api.types.is_object_dtype(dtype):
            kind = pd.api.types.infer_dtype(series, skipna=True)
            if kind in ("datetime", "datetime64", "date"):
                ns, present = _datetimes_ns(pd.to_datetime(series, utc=True))
            elif kind in NUMBER_KINDS and kind != "boolean":
                seconds = pd.to_numeric(series, errors="coerce")
                ns, present = _seconds_ns(seconds.to_numpy(dtype=np.float64, na_value=np.nan), name)
            else:
                raise refused
        else:
            raise refused
    except (ValueError, TypeError, OverflowError) as exc:  # out-of-range or mixed datetimes
        raise InvalidInputError(
            f"time column {name!r} holds times that cannot be read as UTC instants: {exc}",
            field="time",
            column=name,
        ) from exc
    if required and not present.all():
        raise InvalidInputError(
            f"time column {name!r} has {int((~present).sum())} missing values; every row needs a "
            "time to fall into a window",
            field="time",
            column=name,
        )
    return (ns, present) if present.any() else None


def _datetimes_ns(series: pd.Series) -> tuple[IntArray, BoolArray]:
    import pandas as pd

    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    values = series.to_numpy(dtype="datetime64[ns]")
    present = ~np.isnat(values)
    return np.where(present, values.view(np.int64), 0).astype(np.int64), present


def _seconds_ns(seconds: FloatArray, name: str) -> tuple[IntArray, BoolArray]:
    present = ~np.isnan(seconds)
    if np.any(np.abs(seconds[present]) > MAX_EPOCH_SECONDS):
        raise InvalidInputError(
            f"time column {name!r} holds values that are not epoch seconds (beyond year 2262)",
            field="time",
            column=name,
        )
    seconds = np.where(present, seconds, 0.0)
    whole = np.floor(seconds)  # whole seconds are exact in float64: keep them out of the product
    fraction = np.round((seconds - whole) * 1e9)
    ns = whole.astype(np.int64) * 1_000_000_000 + fraction.astype(np.int64)
    return ns, present


def _iso(ns: int) -> str:
    import pandas as pd

    text: str = pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()
    return text.replace("+00:00", "Z")


def _json_value(value: Any) -> Any:
    """A value as JSON: numpy scalars unwrapped, missing as null, datetimes as ISO text."""
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.datetime64 | np.timedelta64):
        if np.isnat(value):
            return None
        value = pd.Timestamp(value) if isinstance(value, np.datetime64) else pd.Timedelta(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _text(value: Any) -> str:
    """A slice value as a JSON object key: integral floats without ``.0``, missing as null."""
    value = _json_value(value)
    if value is None:
        return MISSING_KEY
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- reading the columns -------------------------------------------------------------------


@dataclass(frozen=True)
class _Classes:
    """A classification read into integer codes over the sorted class set (-1 = missing).

    For a binary task code 1 is the positive class, whatever its place in sorted order.
    """

    classes: tuple[Any, ...]
    positive: Any
    binary: bool
    label: IntArray
    prediction: IntArray


@dataclass(frozen=True)
class _Columns:
    """The frame read once into arrays; every metric is grouped sums over these."""

    task: Task
    label: Array  # classification: int64 codes, -1 missing; regression: float64, NaN missing
    prediction: Array
    probability: FloatArray | None  # binary: (n,) positive class; multiclass: (n, k); NaN missing
    binary: bool
    classes: int
    bins: int


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _class_texts(value: Any) -> set[str]:
    """The texts a JSON-decoded dict key may carry for a class."""
    texts = {str(value)}
    if isinstance(value, bool):
        texts.add(str(value).lower())
    elif isinstance(value, float) and value.is_integer():
        texts.add(str(int(value)))
    elif isinstance(value, int):
        texts.add(str(float(value)))
    return texts


def _hashable_values(series: pd.Series, argument: str, name: str) -> list[Any]:
    import pandas as pd

    try:
        return [_plain(v) for v in pd.unique(series.dropna())]
    except TypeError as exc:
        raise InvalidInputError(
            f"{argument} column {name!r} holds values that cannot be classes (lists or dicts)",
            field=argument,
            column=name,
        ) from exc


def _sort_classes(values: Sequence[Any], argument: str) -> list[Any]:
    try:
        return sorted(set(values))
    except TypeError as exc:
        raise InvalidInputError(
            f"the classes mix kinds of values (numbers and text) and cannot be ordered: "
            f"{sorted(map(repr, set(values)))[:10]}",
            field=argument,
        ) from exc


def _read_classes(
    frame: pd.DataFrame, names: _Names, positive: Any, keys: Sequence[Any]
) -> _Classes:
    import pandas as pd

    found = [
        *_hashable_values(frame[names.label], "label", names.label),
        *_hashable_values(frame[names.prediction], "prediction", names.prediction),
    ]
    known = set(found)
    texts = {text for value in known for text in _class_texts(value)}
    extra = [k for k in keys if k not in known and str(k) not in texts]
    classes = _sort_classes([*found, *extra], "probability" if extra else "label")
    positive = _plain(positive)
    if positive is not None:
        if len(classes) > 2:
            raise InvalidInputError(
                f"positive applies to binary tasks, but the frame has {len(classes)} classes",
                field="positive",
            )
        if len(classes) == 2 and positive not in classes:
            raise InvalidInputError(
                f"positive class {positive!r} is not among the classes {classes!r}",
                field="positive",
            )
        classes = _sort_classes([*classes, positive], "positive")
    elif len(classes) <= 2:
        if all(isinstance(c, bool | int | float) and c in (0, 1) for c in classes):
            positive = True if any(isinstance(c, bool) for c in classes) else 1
            classes = _sort_classes([*classes, positive], "label")
        else:
            positive = classes[-1]
    binary = len(classes) <= 2
    if binary:
        positive = classes[classes.index(positive)]  # the class itself: 1.0 when labels are floats
    categories = pd.Index(classes, dtype=object)

    numeric = pd.Index(classes) if all(_is_number(c) for c in classes) else None

    def codes(series: pd.Series) -> IntArray:
        if numeric is not None and _is_number_dtype(series.dtype):
            return np.asarray(numeric.get_indexer(series), dtype=np.int64)  # 10x faster
        # as objects, so 1 finds True and 0.0 finds 0 whatever the column's dtype; missing → -1
        return np.asarray(categories.get_indexer(series.astype(object)), dtype=np.int64)

    label_codes = codes(frame[names.label])
    prediction_codes = codes(frame[names.prediction])
    if binary and classes.index(positive) == 0:  # make code 1 the positive class
        label_codes = np.where(label_codes >= 0, 1 - label_codes, -1)
        prediction_codes = np.where(prediction_codes >= 0, 1 - prediction_codes, -1)
    return _Classes(tuple(classes), positive, binary, label_codes, prediction_codes)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_number_dtype(dtype: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(dtype)) and not pd.api.types.is_bool_dtype(dtype)


@dataclass(frozen=True)
class _PerClass:
    """An object probability column's rows and the kind of each: dict, list (or array), other."""

    rows: list[Any]
    dicts: IntArray
    lists: IntArray
    others: IntArray

    def keys(self) -> list[Any]:
        """The keys of the dict rows, in first-seen order."""
        dicts = [self.rows[i] for i in self.dicts.tolist()]
        return [_plain(k) for k in dict.fromkeys(itertools.chain.from_iterable(dicts))]


def _per_class_rows(series: pd.Series) -> _PerClass:
    # kinds by exact type, looked up once per type: an isinstance check against the Mapping ABC
    # on every one of a million rows costs a second
    rows = series.tolist()
    kind_of = {
        t: 1 if issubclass(t, Mapping) else 2 if issubclass(t, list | tuple | np.ndarray) else 0
        for t in set(map(type, rows))
    }
    if len(kind_of) == 1:
        kinds = np.full(len(rows), next(iter(kind_of.values())), dtype=np.int8)
    else:
        kinds = np.fromiter((kind_of[type(r)] for r in rows), dtype=np.int8, count=len(rows))
    return _PerClass(
        rows,
        np.flatnonzero(kinds == 1),
        np.flatnonzero(kinds == 2),
        np.flatnonzero(kinds == 0),
    )


def _numbers(series: pd.Series, argument: str, name: str) -> FloatArray:
    import pandas as pd

    dtype = series.dtype
    numeric = pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    if not numeric and pd.api.types.is_object_dtype(dtype):
        numeric = pd.api.types.infer_dtype(series, skipna=True) in NUMBER_KINDS
    if not numeric:
        raise InvalidInputError(
            f"{argument} column {name!r} must hold numbers for a regression, got {dtype}",
            field=argument,
            column=name,
        )
    if pd.api.types.is_object_dtype(dtype):
        series = pd.to_numeric(series, errors="coerce")
    values: FloatArray = np.asarray(
        series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64
    )
    if np.isinf(values).any():
        raise InvalidInputError(
            f"{argument} column {name!r} holds infinite values", field=argument, column=name
        )
    return values


def _per_class_matrix(per_class: _PerClass, classes: Sequence[Any], name: str) -> FloatArray:
    """Per-class probabilities as an n × k matrix in class order; a missing row is all NaN."""
    k = len(classes)
    rows = per_class.rows
    if any(not _is_missing(rows[i]) for i in per_class.others.tolist()):
        raise InvalidInputError(
            f"probability column {name!r} must hold per-class values (dicts or lists) in every "
            "row, not a mix with single numbers",
            field="probability",
            column=name,
        )
    matrix = np.full((len(rows), k), np.nan)
    if per_class.dicts.size:
        dicts = [rows[i] for i in per_class.dicts.tolist()]
        matrix[per_class.dicts] = _dict_matrix(dicts, classes, name)
    if per_class.lists.size:
        try:
            stacked = np.asarray([rows[i] for i in per_class.lists.tolist()], dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"probability column {name!r} holds lists of differing length or non-numbers",
                field="probability",
                column=name,
            ) from exc
        if stacked.ndim != 2 or stacked.shape[1] != k:
            raise InvalidInputError(
                f"probability column {name!r} holds lists that are not one value per class "
                f"({k} classes: {list(classes)[:20]!r}); use dicts keyed by class",
                field="probability",
                column=name,
            )
        matrix[per_class.lists] = stacked
    return matrix


def _dict_matrix(dicts: list[Mapping[Any, Any]], classes: Sequence[Any], name: str) -> FloatArray:
    """Dict rows as a matrix in class order; a class absent from a dict (or None) counts 0."""
    import pandas as pd

    position = {c: i for i, c in enumerate(classes)}
    by_text = {text: i for i, c in enumerate(classes) for text in _class_texts(c)}

    def place(key: Any) -> int:
        plain = _plain(key)
        return position[plain] if plain in position else by_text[str(plain)]

    block = np.zeros((len(dicts), len(classes)))
    shapes = set(map(tuple, dicts))
    if len(shapes) == 1:  # the usual case: every row has the same keys in the same order
        keys = next(iter(shapes))
        try:
            flat = np.fromiter(
                itertools.chain.from_iterable(d.values() for d in dicts),
                dtype=np.float64,
                count=len(dicts) * len(keys),
            )
        except (TypeError, ValueError):
            pass  # None or a non-number somewhere: the general path below says which
        else:
            block[:, [place(key) for key in keys]] = flat.reshape(len(dicts), len(keys))
            return np.where(np.isnan(block), 0.0, block)
    table = pd.DataFrame.from_records(dicts)
    for key in table.columns:
        values = pd.to_numeric(table[key], errors="coerce")
        if bool((values.isna() & table[key].notna()).any()):
            raise InvalidInputError(
                f"probability column {name!r} holds a non-number for class {key!r}",
                field="probability",
                column=name,
            )
        given = values.to_numpy(dtype=np.float64, na_value=np.nan)
        index = place(key)
        block[:, index] = np.where(np.isnan(given), block[:, index], given)
    return block


def _is_missing(value: object) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _read_probability(
    frame: pd.DataFrame, name: str, classes: _Classes, per_class: _PerClass | None
) -> FloatArray:
    """Binary: the positive class's probability (n,); multiclass: an n × k matrix."""
    import pandas as pd

    series = frame[name]
    if per_class is not None and (per_class.dicts.size or per_class.lists.size):
        values = _per_class_matrix(per_class, classes.classes, name)
    else:
        if not classes.binary:
            raise InvalidInputError(
                f"probability column {name!r} must hold per-class values (dicts or lists) for "
                f"a multiclass task ({len(classes.classes)} classes)",
                field="probability",
                column=name,
            )
        if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(
            series.dtype
        ):
            converted = pd.to_numeric(series, errors="coerce")
            if bool((converted.isna() & series.notna()).any()) or pd.api.types.is_bool_dtype(
                series.dtype
            ):
                raise InvalidInputError(
                    f"probability column {name!r} must hold numbers, got {series.dtype}",
                    field="probability",
                    column=name,
                )
            series = converted
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    present = values[~np.isnan(values)]
    if present.size and (present.min() < 0.0 or present.max() > 1.0):
        raise InvalidInputError(
            f"probability column {name!r} holds values outside [0, 1] "
            f"(from {present.min():g} to {present.max():g})",
            field="probability",
            column=name,
        )
    if values.ndim == 2:
        missing = np.isnan(values)
        if (missing.any(axis=1) & ~missing.all(axis=1)).any():
            raise InvalidInputError(
                f"probability column {name!r} has rows with missing class probabilities",
                field="probability",
                column=name,
            )
        sums = values.sum(axis=1)
        off = ~np.isnan(sums) & (np.abs(sums - 1.0) > SUM_TOLERANCE)
        if off.any():
            first = int(np.flatnonzero(off)[0])
            raise InvalidInputError(
                f"probability column {name!r} has {int(off.sum())} rows whose class "
                f"probabilities do not sum to 1 (row {first} sums to {sums[first]:g})",
                field="probability",
                column=name,
            )
        if classes.binary:
            return np.ascontiguousarray(values[:, classes.classes.index(classes.positive)])
    return values


def _read_columns(
    frame: pd.DataFrame, task: Task, names: _Names, positive: Any, bins: int
) -> tuple[_Columns, _Classes | None]:
    import pandas as pd

    if task == "regression":
        label = _numbers(frame[names.label], "label", names.label)
        prediction = _numbers(frame[names.prediction], "prediction", names.prediction)
        return _Columns(task, label, prediction, None, False, 0, bins), None
    per_class = None
    if names.probability is not None and pd.api.types.is_object_dtype(
        frame[names.probability].dtype
    ):
        per_class = _per_class_rows(frame[names.probability])
    classes = _read_classes(frame, names, positive, per_class.keys() if per_class else [])
    probability = (
        None
        if names.probability is None
        else _read_probability(frame, names.probability, classes, per_class)
    )
    columns = _Columns(
        task,
        classes.label,
        classes.prediction,
        probability,
        classes.binary,
        len(classes.classes),
        bins,
    )
    return columns, classes
