"""Turning request payloads into model inputs, validated against the model signature.

Three payload shapes arrive: native *records* (``[{col: value, …}, …]``), native *columns*
(``{col: [values…]}``) and Open Inference Protocol tensors (flat ``data`` + ``shape``). All become
one 2-D ``float64``/``float32`` array when every signature column is numeric (the fast path: no
pandas per request), or a DataFrame otherwise. Problems raise :class:`SchemaValidationError` (HTTP
422) naming the field, so a bad request never reaches — or fails — a shared batch.

For a numeric signature a native body is first decoded by a msgspec decoder typed by the
signature (:meth:`InputSpec.native_body`): records become typed rows instead of dicts (no dict
per row, no key lookups by value) — a third less CPU than generic JSON for a 32-row body. A body
that decoder refuses (or with fields besides ``inputs``) takes the generic path, which accepts or
names the problem exactly as before and refuses JSON nested too deeply. Keys of a record that
are not columns are skipped unbuilt by the typed decoder; nested beyond the interpreter's
recursion limit they send the body to the generic path too.

Validation is explicit, never a silent conversion (:attr:`InputSpec.coerce`, the endpoint's
``coerce`` setting). ``strict`` (the default) refuses with 422 naming the column: a column the
model does not have, a boolean or a string where a number is due, a number with a fraction for an
integer column, a value that does not match a v2 tensor's ``datatype``. ``safe`` also accepts
numbers written as strings (``"1.5"``) and ignores columns the model does not have; booleans and
fractions for integer columns are refused in both. The happy path stays one typed decode: the
checks run on the generic path, which a body the typed decoder refuses takes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

from modelplane.errors import InvalidInputError, SchemaValidationError

NUMERIC_KINDS = "biuf"
TEXT_DTYPES = frozenset({"string", "str"})  # signature dtypes of text columns
MAX_ROWS = 100_000
COERCE_MODES = ("strict", "safe")
_NUMBERS = frozenset({int, float})
_FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})


@dataclass(frozen=True)
class InputSpec:
    """What a model version accepts: column names and dtypes from its signature."""

    columns: tuple[str, ...]
    dtypes: tuple[str, ...]
    input_kind: str  # "dataframe" | "tensor" | "unknown"
    n_features: int | None
    #: "strict": refuse unknown columns and values of the wrong type; "safe": also accept
    #: numbers written as strings and ignore unknown columns (see the module docstring)
    coerce: str = "strict"

    @cached_property
    def _integer_columns(self) -> np.ndarray:
        """Indices of integer-typed columns (their values must be integral)."""
        return np.array([i for i, d in enumerate(self.dtypes) if _kind(d) in "iu"], dtype=np.intp)

    def _check_integral(self, arr: np.ndarray, where: Any) -> None:
        """A number with a fraction for an integer column is refused (never truncated)."""
        idx = self._integer_columns
        if not len(idx) or arr.ndim != 2 or arr.shape[1] != len(self.dtypes):
            return
        sub = arr[:, idx]
        bad = sub != np.trunc(sub)
        if bad.any():
            i, j = (int(v[0]) for v in np.nonzero(bad))
            col = int(idx[j])
            raise SchemaValidationError(
                f"{where(i, col)} must be an integer ({self.dtypes[col]}), got {sub[i, j]!r}",
                field=self.columns[col] if self.columns else "data",
            )

    def _check_columns(self, keys: Any, where: str) -> None:
        """Strict: a column the model does not have is refused, naming it."""
        if self.coerce != "strict":
            return
        unknown = [k for k in keys if k not in self._column_set]
        if unknown:
            raise SchemaValidationError(
                f"{where} has column {str(unknown[0])[:100]!r}, which the model does not have "
                f"(its columns: {', '.join(self.columns[:10])}{'…' if len(self.columns) > 10 else ''})",
                field=str(unknown[0])[:100],
            )

    @cached_property
    def _column_set(self) -> frozenset[str]:
        return frozenset(self.columns)

    @classmethod
    def from_signature(cls, signature: dict[str, Any]) -> InputSpec:
        inputs = signature.get("inputs") or []
        columns = tuple(str(c["name"]) for c in inputs)
        dtypes = tuple(str(c["dtype"]) for c in inputs)
        shape = signature.get("tensor_shape")
        n = len(columns) or (int(shape[-1]) if shape and int(shape[-1]) > 0 else None)
        return cls(columns, dtypes, str(signature.get("input_kind") or "unknown"), n)

    @cached_property
    def numeric(self) -> bool:
        return bool(self.dtypes) and all(_is_numeric(d) for d in self.dtypes)

    @cached_property
    def _native_decoder(self) -> tuple[msgspec.json.Decoder[Any], Any] | None:
        """(decoder of ``{"inputs": records | columns}`` typed by the signature, row getter);
        None for column names msgspec cannot take (quotes, backslashes, duplicates)."""
        # Field attributes are positional (c0, c1…), JSON names are the columns: any column name
        # works, identifiers or not.
        fields = [(f"c{i}", float, msgspec.field(name=c)) for i, c in enumerate(self.columns)]
        # gc=False: rows hold only floats and bodies only lists of rows, so neither can be part
        # of a reference cycle; untracked objects make every allocation cheaper.
        try:
            row: Any = msgspec.defstruct(
                "Row", fields, gc=False, forbid_unknown_fields=self.coerce == "strict"
            )
        except (ValueError, TypeError):
            return None
        # a body with fields besides "inputs" takes the generic path, which checks how deeply
        # they nest (msgspec would skip them unseen); a record's extra keys are skipped here
        inputs_type: Any = list[row] | dict[str, list[float]]
        body = msgspec.defstruct(
            "Body", [("inputs", inputs_type)], gc=False, forbid_unknown_fields=True
        )
        getter: Any = attrgetter(*(f"c{i}" for i in range(len(self.columns))))
        if len(self.columns) == 1:  # attrgetter of one name returns the value, not a tuple
            single = getter
            getter = lambda r: (single(r),)  # noqa: E731
        return msgspec.json.Decoder(body), getter

    def native_body(self, body: bytes) -> np.ndarray | None:
        """A native JSON body (records or columns) → 2-D float array, for a numeric signature
        whose every value arrives where and as what it should; None otherwise (the generic path
        then accepts the body or names its problem)."""
        typed = self._native_decoder if self.numeric and self.columns else None
        if typed is None:
            return None
        decoder, getter = typed
        try:
            inputs = decoder.decode(body).inputs
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            # RecursionError: msgspec skips unknown fields recursively; a deeply nested one is
            # the generic path's to refuse
            return None
        k = len(self.columns)
        if isinstance(inputs, list):
            n = len(inputs)
            if n == 0 or n > MAX_ROWS:
                return None
            flat = chain.from_iterable(map(getter, inputs))
            arr = np.fromiter(flat, dtype=np.float64, count=n * k).reshape(n, k)
        else:
            if len(inputs) != k and self.coerce == "strict":
                return None  # an unknown column: the generic path names it
            try:
                arr = np.array([inputs[c] for c in self.columns], dtype=np.float64)
            except (KeyError, ValueError):  # a missing column, ragged lengths
                return None
            if arr.ndim != 2 or not 0 < arr.shape[1] <= MAX_ROWS:
                return None
            arr = np.ascontiguousarray(arr.T)
        if not np.isfinite(arr).all():
            return None
        if len(self._integer_columns):
            sub = arr[:, self._integer_columns]
            if (sub != np.trunc(sub)).any():
                return None  # a fraction for an integer column: the generic path names it
        return arr

    def records(self, rows: Any) -> Any:
        """``[{col: value}, …]`` → 2-D array (numeric signature) or DataFrame."""
        if not isinstance(rows, list) or not rows:
            raise SchemaValidationError(
                "inputs must be a non-empty list of records or an object of columns",
                field="inputs",
            )
        _check_rows(len(rows))
        if not self.columns:
            return _unknown_records(rows)
        cols = self.columns
        try:
            table = [[row[c] for c in cols] for row in rows]
        except KeyError as exc:
            missing = exc.args[0]
            index = next(i for i, row in enumerate(rows) if missing not in row)
            raise SchemaValidationError(
                f"inputs[{index}] is missing column {missing!r}", field=str(missing)
            ) from None
        except TypeError:
            index = next(i for i, row in enumerate(rows) if not isinstance(row, dict))
            raise SchemaValidationError(
                f"inputs[{index}] must be an object of column values", field=f"inputs[{index}]"
            ) from None
        k = len(cols)
        for index, row in enumerate(rows):
            if len(row) != k:  # every column is there: the others are unknown
                self._check_columns(row, f"inputs[{index}]")
        if self.numeric:
            return self._numeric(table, lambda i, j: f"inputs[{i}].{cols[j]}", cols)
        return self._frame({c: [r[j] for r in table] for j, c in enumerate(cols)})

    def columnar(self, data: Any) -> Any:
        """``{col: [values…]}`` → 2-D array or DataFrame."""
        if not isinstance(data, dict) or not data:
            raise SchemaValidationError("inputs must be an object of columns", field="inputs")
        if not self.columns:
            import pandas as pd

            return _checked_frame(pd, data)
        lengths = set()
        for c in self.columns:
            if c not in data:
                raise SchemaValidationError(f"inputs is missing column {c!r}", field=c)
            if not isinstance(data[c], list):
                raise SchemaValidationError(f"column {c!r} must be a list of values", field=c)
            lengths.add(len(data[c]))
        if len(lengths) != 1:
            raise SchemaValidationError("all columns must have the same length", field="inputs")
        (n,) = lengths
        if n == 0:
            raise SchemaValidationError("inputs has no rows", field="inputs")
        _check_rows(n)
        if len(data) != len(self.columns):
            self._check_columns(data, "inputs")
        if self.numeric:
            cols = self.columns
            # numbers only (bools and strings would convert silently below)
            if _NUMBERS.issuperset(map(type, chain.from_iterable(data[c] for c in cols))):
                arr = np.array([data[c] for c in cols], dtype=np.float64).T
                if np.isfinite(arr).all():  # C speed, then transpose
                    self._check_integral(arr, lambda i, j: f"{cols[j]}[{i}]")
                    return np.ascontiguousarray(arr)
            table = list(zip(*(data[c] for c in cols), strict=True))
            return self._numeric(table, lambda i, j: f"{cols[j]}[{i}]", cols)
        return self._frame({c: data[c] for c in self.columns})

    def tensor(self, data: Any, shape: Any, datatype: str, name: str = "input-0") -> np.ndarray:
        """An Open Inference Protocol tensor → 2-D array with the signature's feature count."""
        dtype = V2_DTYPES.get(datatype)
        if dtype is None:
            raise SchemaValidationError(
                f"unsupported datatype {datatype!r} for input {name!r}", field=f"{name}.datatype"
            )
        if (
            not isinstance(shape, list)
            or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise SchemaValidationError(
                f"shape of {name!r} must be a list of non-negative integers", field=f"{name}.shape"
            )
        expected = math.prod(shape)
        flat = _flatten(data)
        if len(flat) != expected:
            raise SchemaValidationError(
                f"input {name!r} has {len(flat)} values but shape {shape} needs {expected}",
                field=f"{name}.data",
            )
        if isinstance(flat, np.ndarray):
            pass  # binary tensor data: already of the datatype
        elif datatype in _FLOAT_TYPES:
            # JSON values must be numbers (no bool, no text): checked in C by msgspec; the slow
            # check below only runs to word the error
            try:
                flat = msgspec.convert(flat, list[float], strict=True)
            except msgspec.ValidationError:
                self._check_tensor_values(flat, datatype, name)
                raise SchemaValidationError(
                    f"input {name!r} is {datatype} but holds a value out of range",
                    field=f"{name}.data",
                ) from None
        else:  # JSON values: they must match the datatype
            self._check_tensor_values(flat, datatype, name)
        try:
            arr: np.ndarray = np.asarray(flat, dtype=dtype)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SchemaValidationError(
                f"input {name!r} data does not match datatype {datatype}: {exc}",
                field=f"{name}.data",
            ) from None
        if self.numeric and arr.dtype.kind not in NUMERIC_KINDS:
            # BYTES for a numeric model: numbers as text under coerce "safe" (refused when
            # strict, by the check above); anything else is the caller's error (it used to
            # reach the model and fail there: 500, breaker failures).
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError, OverflowError):
                raise SchemaValidationError(
                    f"input {name!r} must hold numbers: the model's inputs are numeric",
                    field=f"{name}.data",
                ) from None
        rows = shape[0] if len(shape) > 1 else 1
        arr = arr.reshape(rows, -1) if len(shape) > 1 else arr.reshape(1, -1)
        _check_rows(arr.shape[0])
        if self.n_features is not None and arr.shape[1] != self.n_features:
            raise SchemaValidationError(
                f"input {name!r} has {arr.shape[1]} features per row; the model expects "
                f"{self.n_features}",
                field=f"{name}.shape",
            )
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise SchemaValidationError(
                f"input {name!r} contains NaN or infinite values", field=f"{name}.data"
            )
        if len(self._integer_columns) and arr.dtype.kind == "f":
            self._check_integral(arr, lambda i, j: f"input {name!r} row {i} feature {j}")
        return arr

    def _check_tensor_values(self, flat: Sequence[Any], datatype: str, name: str) -> None:
        """JSON tensor values of the declared ``datatype``: numbers for FP*, integral numbers
        for INT*/UINT*, booleans for BOOL, strings for BYTES (numbers as strings for a numeric
        model only under coerce "safe"). Never a silent conversion: ``true`` is not 1.0."""
        types = set(map(type, flat))
        if datatype.startswith("FP"):
            allowed: frozenset[type] = _NUMBERS
        elif datatype.startswith(("INT", "UINT")):
            allowed = _NUMBERS  # floats must be integral: checked below
        elif datatype == "BOOL":
            allowed = frozenset({bool})
        else:  # BYTES
            text_ok = self.coerce == "safe" or not self.numeric
            allowed = frozenset({str, bytes}) if text_ok else frozenset()
            if not allowed and types:
                raise SchemaValidationError(
                    f"input {name!r} is BYTES but the model's inputs are numeric: send FP64 "
                    "numbers (numbers as strings are accepted when the endpoint's coerce is "
                    "'safe')",
                    field=f"{name}.data",
                )
        wrong = types - allowed
        if wrong:
            bad = next(v for v in flat if type(v) in wrong)
            raise SchemaValidationError(
                f"input {name!r} is {datatype} but holds {type(bad).__name__} {str(bad)[:40]!r}",
                field=f"{name}.data",
            )
        if float in types and datatype.startswith(("INT", "UINT")):
            bad = next((v for v in flat if type(v) is float and not v.is_integer()), None)
            if bad is not None:
                raise SchemaValidationError(
                    f"input {name!r} is {datatype} but holds {bad!r}, which is not an integer",
                    field=f"{name}.data",
                )

    def _numeric(
        self, table: Sequence[Sequence[Any]], where: Any, cols: Sequence[str]
    ) -> np.ndarray:
        if not _NUMBERS.issuperset(map(type, chain.from_iterable(table))):
            table = [
                [self._number(v, where, i, j, cols) for j, v in enumerate(row)]
                for i, row in enumerate(table)
            ]
        try:
            arr = np.array(table, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise SchemaValidationError(
                "inputs cannot form a table of numbers", field="inputs"
            ) from None
        if not np.isfinite(arr).all():
            i, j = (int(v[0]) for v in np.nonzero(~np.isfinite(arr)))
            raise SchemaValidationError(
                f"{where(i, j)} is null, NaN or infinite; the model needs a finite number",
                field=cols[j],
            )
        self._check_integral(arr, where)
        return arr

    def _number(self, value: Any, where: Any, i: int, j: int, cols: Sequence[str]) -> Any:
        """One value for a numeric column: a number, or under coerce "safe" a number written
        as a string; anything else is refused naming the cell (a boolean is never 1 or 0)."""
        kind = type(value)
        if kind is int or kind is float:
            return value
        if value is None:
            raise SchemaValidationError(
                f"{where(i, j)} is null; the model needs a number", field=cols[j]
            )
        if kind is str and self.coerce == "safe":
            try:
                return float(value)
            except ValueError:
                pass
        hint = " (numbers as strings are accepted when the endpoint's coerce is 'safe')"
        raise SchemaValidationError(
            f"{where(i, j)} must be a number, got {kind.__name__} {str(value)[:40]!r}"
            + (hint if kind is str else ""),
            field=cols[j],
        )

    def _frame(self, data: dict[str, list[Any]]) -> Any:
        """A table for a signature that is not all-numeric. A value the model cannot take is a
        422 naming its column, not a model failure (500, counted by the breaker): numeric
        columns hold numbers, text columns strings, no cell is a JSON array or object. Nulls pass
        (as NaN / None): such models may impute them, as graph steps may (``fillna``)."""
        import pandas as pd

        for col, dtype in zip(self.columns, self.dtypes, strict=True):
            for i, value in enumerate(data[col]):
                if isinstance(value, (list, dict)):
                    raise SchemaValidationError(
                        f"{col}[{i}] must be a single value, got {type(value).__name__}", field=col
                    )
                if dtype in TEXT_DTYPES and value is not None and not isinstance(value, str):
                    raise SchemaValidationError(
                        f"{col}[{i}] must be a string, got {type(value).__name__}", field=col
                    )
                if _is_numeric(dtype) and value is not None:
                    data[col][i] = self._number(value, _cell_of(col), i, 0, [col])
        frame = _checked_frame(pd, data)
        for col, dtype in zip(self.columns, self.dtypes, strict=True):
            if _is_numeric(dtype):
                try:
                    frame[col] = pd.to_numeric(frame[col], errors="raise")
                except (TypeError, ValueError):
                    raise SchemaValidationError(
                        f"column {col!r} must hold numbers ({dtype})", field=col
                    ) from None
        return frame


V2_DTYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}


def _cell_of(col: str) -> Any:
    """Names a cell of column ``col`` in messages: ``col[row]``."""
    return lambda i, _j: f"{col}[{i}]"


def _kind(dtype: str) -> str:
    try:
        return str(np.dtype(dtype).kind)
    except TypeError:
        return "O"


def _is_numeric(dtype: str) -> bool:
    try:
        return np.dtype(dtype).kind in NUMERIC_KINDS
    except TypeError:
        return False


def _check_rows(n: int) -> None:
    if n > MAX_ROWS:
        raise InvalidInputError(f"{n} rows in one request; the limit is {MAX_ROWS}", field="inputs")


def _flatten(data: Any) -> Any:
    if isinstance(data, np.ndarray):  # binary tensor data, already decoded
        return data.ravel()
    if not isinstance(data, list):
        raise SchemaValidationError("tensor data must be a list", field="data")
    if data and isinstance(data[0], list):
        out: list[Any] = []
        stack = [data]
        while stack:  # iterative, so hostile nesting depth cannot exhaust the stack
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            else:
                out.append(item)
        return out
    return data


def _unknown_records(rows: list[Any]) -> Any:
    import pandas as pd

    if not all(isinstance(r, dict) for r in rows):
        raise SchemaValidationError("each record must be an object", field="inputs")
    return pd.DataFrame.from_records(rows)


def _checked_frame(pd: Any, data: dict[str, Any]) -> Any:
    try:
        return pd.DataFrame(data)
    except (TypeError, ValueError) as exc:
        raise SchemaValidationError(f"inputs cannot form a table: {exc}", field="inputs") from None
