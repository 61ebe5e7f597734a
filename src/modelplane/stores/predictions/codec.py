"""How one answered request is stored: a compact document of its inputs, outputs and context.

A request's record holds the input columns (column-major), the outputs, the class
probabilities and the classes they belong to, the caller and whether the fallback answered.
Columns marked PII are replaced by their keyed hash (:mod:`modelplane.core.pii`) before the
record is encoded, so no raw value of them is ever written.

Two encodings of the same document: MessagePack with numeric arrays as raw little-endian
bytes (segments: fast to write, exact floats, NaN kept) and plain JSON-able lists (a database
JSON column). :func:`decode` reads either back into numpy arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec
import numpy as np


class LoggedPrediction(Protocol):
    """What the log needs of an answered request (inference's PredictionRecord has it)."""

    @property
    def ids(self) -> list[str]: ...

    @property
    def time(self) -> float: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def variant(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def inputs(self) -> Any: ...

    @property
    def columns(self) -> tuple[str, ...]: ...

    @property
    def outputs(self) -> Any: ...

    @property
    def probabilities(self) -> Any: ...

    @property
    def latency(self) -> float: ...

    @property
    def caller(self) -> str | None: ...

    @property
    def fallback(self) -> bool: ...

    @property
    def pii(self) -> tuple[str, ...]: ...

    @property
    def classes(self) -> Any: ...


def _array(values: Any, binary: bool) -> Any:
    arr = np.asarray(values)
    if binary and arr.dtype.kind in "biuf":
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        return {"d": arr.dtype.str, "s": list(arr.shape), "b": arr.tobytes()}
    return {"l": arr.tolist()}


def _columns(record: LoggedPrediction, n: int) -> tuple[list[str], list[Any]]:
    """The inputs as (names, column arrays)."""
    X = record.inputs
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # a DataFrame
        names = [str(c) for c in X.columns]
        return names, [X[c].to_numpy() for c in X.columns]
    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr.reshape(n, -1) if n else arr.reshape(0, 1)
    names = list(record.columns) or [f"x{j}" for j in range(arr.shape[1])]
    if len(names) != arr.shape[1]:
        names = [f"x{j}" for j in range(arr.shape[1])]
    return names, [arr[:, j] for j in range(arr.shape[1])]


def document(
    record: LoggedPrediction, *, binary: bool, hasher: Callable[[object], str] | None
) -> dict[str, Any]:
    """The stored document of ``record`` (PII columns hashed when ``hasher`` is given, dropped
    when it is not)."""
    n = len(record.ids)
    names, cols = _columns(record, n)
    pii = set(record.pii)
    inputs: dict[str, Any] = {}
    for name, col in zip(names, cols, strict=True):
        if name in pii:
            if hasher is None:
                continue
            inputs[name] = {"l": [hasher(v) for v in np.asarray(col).tolist()], "pii": True}
        else:
            inputs[name] = _array(col, binary)
    doc: dict[str, Any] = {
        "inputs": inputs,
        "outputs": _array(record.outputs, binary),
    }
    if record.probabilities is not None:
        doc["probabilities"] = _array(record.probabilities, binary)
    if record.classes is not None:
        doc["classes"] = np.asarray(record.classes).tolist()
    if record.caller is not None:
        doc["caller"] = record.caller
    if record.fallback:
        doc["fallback"] = True
    return doc


_packer = msgspec.msgpack.Encoder()
_unpacker = msgspec.msgpack.Decoder()
_json = msgspec.json.Encoder()


def pack(doc: dict[str, Any]) -> bytes:
    return _packer.encode(doc)


def unpack(blob: bytes) -> dict[str, Any]:
    out: dict[str, Any] = _unpacker.decode(blob)
    return out


def to_json(doc: dict[str, Any]) -> bytes:
    return _json.encode(doc)


def array(cell: Any) -> np.ndarray:
    """One stored array back as numpy."""
    if "b" in cell:
        data = cell["b"]
        return np.frombuffer(data, dtype=np.dtype(cell["d"])).reshape(cell["s"])
    return np.asarray(cell["l"], dtype=object if _mixed(cell["l"]) else None)


def _mixed(values: list[Any]) -> bool:
    return any(isinstance(v, (list, dict, str)) for v in values[:1]) and not all(
        isinstance(v, str) for v in values
    )


__all__ = ["LoggedPrediction", "array", "document", "pack", "to_json", "unpack"]
