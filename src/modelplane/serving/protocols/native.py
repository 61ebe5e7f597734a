"""Native JSON: ``{"inputs": [{col: value}, …]}`` (records) or ``{"inputs": {col: [values]}}``
(columns) in; ``{"prediction_ids", "model", "variant", "outputs", "probabilities"?}`` out."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from modelplane.errors import InvalidInputError, SchemaValidationError
from modelplane.inference.inputs import InputSpec
from modelplane.inference.prediction import Prediction
from modelplane.inference.request import InferenceRequest, InferenceResult
from modelplane.serving.protocols.base import JSON, Headers, WireProtocol

_DUMP = orjson.OPT_SERIALIZE_NUMPY


def loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"the body is not valid JSON: {exc}", field="body") from None


def parse(body: bytes, spec: InputSpec) -> Any:
    fast = spec.native_body(body)
    if fast is not None:
        return fast
    doc = loads(body)
    if not isinstance(doc, dict) or "inputs" not in doc:
        raise SchemaValidationError(
            'expected {"inputs": [records…]} or {"inputs": {column: [values…]}}', field="inputs"
        )
    inputs = doc["inputs"]
    if isinstance(inputs, list):
        return spec.records(inputs)
    if isinstance(inputs, dict):
        return spec.columnar(inputs)
    raise SchemaValidationError(
        "inputs must be a list of records or an object of columns", field="inputs"
    )


def plain(values: np.ndarray) -> Any:
    """numpy → something orjson serialises (object arrays hold Python scalars or strings)."""
    if values.dtype.kind in "biuf" and values.dtype.isnative:
        return values
    return values.tolist()


def dump(pred: Prediction, ids: list[str], model: str, variant: str) -> bytes:
    doc: dict[str, Any] = {
        "prediction_ids": ids,
        "model": model,
        "variant": variant,
        "outputs": plain(pred.outputs),
    }
    if pred.probabilities is not None:
        doc["probabilities"] = plain(np.asarray(pred.probabilities))
    return orjson.dumps(doc, option=_DUMP)


class Native(WireProtocol):
    name = "native"

    def decode(self, request: InferenceRequest) -> None:
        X = parse(request.body, request.variant.spec)  # type: ignore[arg-type,union-attr]
        request.X = X
        request.rows = len(X)

    def encode(self, request: InferenceRequest, result: InferenceResult) -> tuple[bytes, Headers]:
        return dump(result.prediction, result.ids, result.model, result.variant), JSON


NATIVE = Native()
