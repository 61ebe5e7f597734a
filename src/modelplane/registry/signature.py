"""Model signatures: what a model takes and what it answers, inferred from an input example.

A :class:`Signature` names the input columns with their dtypes (numpy dtype strings), says
whether the model takes a table (``"dataframe"``) or an array (``"tensor"``), and what its
``predict`` returns (``"classification"`` with its classes, ``"regression"``, ``"probabilities"``
or ``"unknown"``). :func:`validate_dataframe` checks a request table against a signature and
raises :class:`~modelplane.errors.SchemaValidationError` naming the offending column. pandas is
imported only inside the functions that need it.

Input columns holding personal data are marked ``"pii": true`` in the signature's JSON
(:func:`mark_pii`, from ``register_model(..., pii=[...])``); the key is absent for other columns,
so signatures written before the flag existed read as they did.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from modelplane.errors import InvalidInputError, SchemaValidationError

INPUT_KINDS = frozenset({"dataframe", "tensor", "unknown"})
OUTPUT_KINDS = frozenset({"classification", "regression", "probabilities", "unknown"})
_PREDICT_ROWS = 5


@dataclass(frozen=True)
class ColumnSpec:
    """One input column: its name, a numpy dtype string (``"float64"``, ``"object"``, ...) and
    whether it holds personal data (``pii``)."""

    name: str
    dtype: str
    pii: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype}
        if self.pii:
            out["pii"] = True
        return out


@dataclass(frozen=True)
class Signature:
    """The inputs a model takes and the kind of output its ``predict`` gives."""

    inputs: tuple[ColumnSpec, ...]
    input_kind: str
    tensor_shape: tuple[int, ...] | None
    output_kind: str
    output_dtype: str | None
    classes: tuple[Any, ...] | None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.inputs)

    @property
    def pii_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.inputs if column.pii)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; class labels become plain ints, floats, bools or strings."""
        return {
            "inputs": [c.to_dict() for c in self.inputs],
            "input_kind": self.input_kind,
            "tensor_shape": None if self.tensor_shape is None else list(self.tensor_shape),
            "output_kind": self.output_kind,
            "output_dtype": self.output_dtype,
            "classes": None if self.classes is None else [plain_scalar(c) for c in self.classes],
        }

    @classmethod
    def from_dict(cls, data: object) -> Signature:
        """The inverse of :meth:`to_dict`; malformed data raises InvalidInputError."""
        if not isinstance(data, dict):
            raise InvalidInputError("a signature must be a JSON object", field="signature")
        try:
            inputs = tuple(
                ColumnSpec(name=_text(c["name"]), dtype=_text(c["dtype"]), pii=_flag(c))
                for c in data.get("inputs") or ()
            )
            shape = data.get("tensor_shape")
            classes = data.get("classes")
            output_dtype = data.get("output_dtype")
            signature = cls(
                inputs=inputs,
                input_kind=_text(data.get("input_kind", "unknown")),
                tensor_shape=None if shape is None else tuple(int(n) for n in shape),
                output_kind=_text(data.get("output_kind", "unknown")),
                output_dtype=None if output_dtype is None else _text(output_dtype),
                classes=None if classes is None else tuple(plain_scalar(c) for c in classes),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"malformed signature: {exc}", field="signature") from exc
        if signature.input_kind not in INPUT_KINDS or signature.output_kind not in OUTPUT_KINDS:
            raise InvalidInputError(
                f"malformed signature: input_kind {signature.input_kind!r}, "
                f"output_kind {signature.output_kind!r}",
                field="signature",
            )
        return signature


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _flag(column: Mapping[str, Any]) -> bool:
    value = column.get("pii", False)
    if not isinstance(value, bool):
        raise TypeError(f"'pii' must be true or false, got {type(value).__name__}")
    return value


def pii_names(columns: object) -> tuple[str, ...]:
    """``columns`` (the ``pii`` argument of ``register_model``) as column names, checked for
    shape only: a list of strings, or None for none."""
    if columns is None:
        return ()
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Iterable):
        raise InvalidInputError(
            "pii must be a list of input column names, e.g. pii=['email']", field="pii"
        )
    names = tuple(columns)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise InvalidInputError(
            f"pii must list column names as strings, got {type(bad[0]).__name__}", field="pii"
        )
    return names


def mark_pii(signature: Mapping[str, Any], columns: object) -> dict[str, Any]:
    """``signature`` (a :meth:`Signature.to_dict`) with the input ``columns`` marked ``pii``.

    A name that is not an input column of the signature is refused (InvalidInputError, field
    ``pii``), naming it and the columns there are.
    """
    names = pii_names(columns)
    if not names:
        return dict(signature)
    parsed = Signature.from_dict(dict(signature))
    known = parsed.column_names
    unknown = [n for n in dict.fromkeys(names) if n not in known]
    if unknown:
        there = ", ".join(repr(n) for n in known[:20]) or "none (no input example was given)"
        more = f" and {len(known) - 20} more" if len(known) > 20 else ""
        raise InvalidInputError(
            f"pii: {', '.join(repr(n[:100]) for n in unknown[:5])} "
            f"{'is not an input column' if len(unknown) == 1 else 'are not input columns'} "
            f"of the model; its input columns are {there}{more}",
            field="pii",
        )
    wanted = set(names)
    inputs = tuple(replace(c, pii=c.pii or c.name in wanted) for c in parsed.inputs)
    return replace(parsed, inputs=inputs).to_dict()


def plain_scalar(value: Any) -> Any:
    """``value`` as a plain JSON scalar (numpy scalars unwrapped; anything else as ``str``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def dtype_name(dtype: Any) -> str:
    """A numpy dtype string for a numpy or pandas dtype.

    numpy and pandas strings become ``"string"``, naive datetimes ``"datetime64[ns]"``, pandas
    nullable numbers their numpy counterpart; anything else is ``str(dtype)``.
    """
    if isinstance(dtype, np.dtype):
        if dtype.kind in "US":
            return "string"
        if dtype.kind == "M":
            return "datetime64[ns]"  # one name whatever the resolution (pandas 3 infers [us])
        return str(dtype)
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if type(dtype).__name__ == "StringDtype":
        return "string"
    if isinstance(numpy_dtype, np.dtype) and numpy_dtype.kind in "biuf":
        return str(numpy_dtype)
    return str(dtype)


def infer_signature(model: object, X_example: object) -> Signature:
    """Infer the signature of ``model`` from an input example.

    ``X_example`` may be a pandas DataFrame, a 2-D numpy array (column names from the model's
    ``feature_names_in_`` when it has them, else ``f0``..), a list of dicts or a dict of columns
    (made into a DataFrame), or None. ``model.predict`` is called on at most the first five rows;
    if it fails, the output kind is ``"unknown"``.
    """
    import pandas as pd

    if isinstance(X_example, dict) or (
        isinstance(X_example, list) and X_example and all(isinstance(r, dict) for r in X_example)
    ):
        X_example = pd.DataFrame(X_example)
    if X_example is None:
        inputs: tuple[ColumnSpec, ...] = ()
        input_kind, shape, head = "unknown", None, None
    elif isinstance(X_example, pd.DataFrame):
        inputs = tuple(
            ColumnSpec(str(name), dtype_name(dtype)) for name, dtype in X_example.dtypes.items()
        )
        input_kind, shape, head = "dataframe", None, X_example.head(_PREDICT_ROWS)
    elif isinstance(X_example, (np.ndarray, list, tuple)):
        array = np.asarray(X_example)
        if array.ndim < 2:
            raise InvalidInputError(
                f"an array input example must be 2-D or more, got shape {array.shape}",
                field="X_example",
            )
        dtype = dtype_name(array.dtype)
        names = _feature_names(model, array.shape[1]) if array.ndim == 2 else ("input",)
        inputs = tuple(ColumnSpec(name, dtype) for name in names)
        input_kind, shape, head = "tensor", (-1, *array.shape[1:]), array[:_PREDICT_ROWS]
    else:
        raise InvalidInputError(
            f"cannot infer a signature from a {type(X_example).__name__}; give a DataFrame, "
            "a 2-D array, a list of dicts or None",
            field="X_example",
        )
    output_kind, output_dtype, classes = _infer_output(model, head)
    return Signature(inputs, input_kind, shape, output_kind, output_dtype, classes)


def _feature_names(model: object, n_columns: int) -> tuple[str, ...]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None and len(names) == n_columns:
        return tuple(str(name) for name in names)
    return tuple(f"f{k}" for k in range(n_columns))


def _model_classes(model: object) -> tuple[Any, ...] | None:
    try:
        classes = getattr(model, "classes_", None)
    except Exception:
        classes = None
    if classes is None:
        return None
    try:
        return tuple(plain_scalar(c) for c in np.asarray(classes).ravel().tolist())
    except Exception:
        return None


def _is_sklearn_classifier(model: object) -> bool:
    base = sys.modules.get("sklearn.base")
    if base is None or not isinstance(model, base.BaseEstimator):
        return False
    try:
        return bool(base.is_classifier(model))
    except Exception:
        return False


def _infer_output(model: object, head: Any) -> tuple[str, str | None, tuple[Any, ...] | None]:
    classes = _model_classes(model)
    prediction = None
    predict = getattr(model, "predict", None)
    if head is not None and callable(predict):
        try:
            prediction = np.asarray(predict(head))
        except Exception:
            prediction = None
    output_dtype = None if prediction is None else dtype_name(prediction.dtype)
    if classes is not None or _is_sklearn_classifier(model):
        return "classification", output_dtype, classes
    if prediction is None:
        return "unknown", None, None
    if prediction.dtype.kind == "f":
        if prediction.ndim == 1 or (prediction.ndim == 2 and prediction.shape[1] == 1):
            return "regression", output_dtype, None
        if prediction.ndim == 2 and _rows_are_distributions(prediction):
            return "probabilities", output_dtype, None
    return "unknown", output_dtype, None


def _rows_are_distributions(values: Any) -> bool:
    if values.size == 0 or not np.all(np.isfinite(values)):
        return False
    return bool(np.all(values >= 0) and np.allclose(values.sum(axis=1), 1.0, atol=1e-4))


def validate_dataframe(signature: Signature, df: object) -> None:
    """Raise SchemaValidationError if ``df`` does not fit ``signature``; extra columns are fine.

    Every declared column must be present and its values castable to the declared dtype
    (numbers for numeric columns, integral numbers for integer columns, booleans for bool
    columns, dates for datetime columns). The error's ``field`` names the column.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise SchemaValidationError(
            f"expected a table of input rows, got {type(df).__name__}", field="inputs"
        )
    specs = signature.inputs
    if not specs or signature.input_kind == "unknown":
        return
    names = [str(c) for c in df.columns]
    if signature.input_kind == "tensor" and not all(s.name in names for s in specs):
        if (
            len(specs) == 1
            and signature.tensor_shape is not None
            and len(signature.tensor_shape) != 2
        ):
            return
        if df.shape[1] != len(specs):
            raise SchemaValidationError(
                f"expected {len(specs)} input columns, got {df.shape[1]}", field="inputs"
            )
        for k, spec in enumerate(specs):
            _check_column(spec, df.iloc[:, k])
        return
    for spec in specs:
        if spec.name not in names:
            raise SchemaValidationError(f"missing input column {spec.name!r}", field=spec.name)
        _check_column(spec, df.iloc[:, names.index(spec.name)])


def _check_column(spec: ColumnSpec, series: Any) -> None:
    import pandas as pd

    try:
        kind = np.dtype(spec.dtype).kind
    except TypeError:
        kind = "M" if spec.dtype.startswith("datetime64") else "O"
    problem = None
    if kind in "iuf":
        numbers = pd.to_numeric(series, errors="coerce")
        if bool((numbers.isna() & series.notna()).any()):
            problem = "non-numeric values"
        elif kind in "iu" and numbers.isna().any():
            problem = "missing values"
        elif kind in "iu" and not bool((numbers.dropna() % 1 == 0).all()):
            problem = "non-integral values"
    elif kind == "b":
        if series.dtype.kind != "b" and not series.dropna().isin([True, False, 0, 1]).all():
            problem = "non-boolean values"
    elif kind == "M":
        try:
            pd.to_datetime(series, errors="raise")
        except (ValueError, TypeError):
            problem = "values that are not dates"
    if problem is not None:
        raise SchemaValidationError(
            f"input column {spec.name!r} cannot be cast to {spec.dtype}: {problem}",
            field=spec.name,
        )


__all__ = [
    "ColumnSpec",
    "Signature",
    "dtype_name",
    "infer_signature",
    "mark_pii",
    "pii_names",
    "plain_scalar",
    "validate_dataframe",
]
