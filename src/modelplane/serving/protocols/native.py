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
from modelplane.serving.media import MAX_JSON_DEPTH, check_json_depth
from modelplane.serving.protocols.base import JSON, Headers, WireProtocol

_DUMP = orjson.OPT_SERIALIZE_NUMPY


def loads(body: bytes) -> Any:
    """The body's JSON document, nested at most :data:`MAX_JSON_DEPTH` levels (else 400 naming
    the top-level field; orjson itself stops at 1024 levels)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "ecursion" in str(exc):  # past orjson's own 1024 levels
            raise InvalidInputError(
                f"the body nests JSON deeper than {MAX_JSON_DEPTH} levels", field="body"
            ) from None
        raise InvalidInputError(f"the body is not valid JSON: {exc}", field="body") from None
    check_json_depth(body, doc)
    return doc


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
