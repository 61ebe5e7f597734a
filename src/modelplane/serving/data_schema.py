"""The OpenAPI declarations of the data plane and the server's own routes: path parameters,
request bodies, answers.

The fast path parses prediction bodies itself (:mod:`modelplane.serving.protocols`), so their
request schemas are declared here for the document only (``openapi_extra``), never validated by
FastAPI; the answers are pydantic models, so they appear once under ``components``. What a body
must hold beyond its shape — the columns and types of the deployed model's signature — is the
endpoint's, not the document's: ``GET /v2/models/{endpoint}`` describes it, and a body that does
not match answers 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, Field

from modelplane.core.names import MAX_NAME_LEN, NAME_PATTERN
from modelplane.serving.http_errors import TRANSPORT_ERRORS, error_responses
from modelplane.serving.protocols.v2 import OUTPUT_NAMES

PROMETHEUS = "text/plain; version=0.0.4"
"""The media type of ``/metrics``: Prometheus's text exposition format."""
OCTET_STREAM = "application/octet-stream"

ENDPOINT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME_LEN,
    "pattern": NAME_PATTERN,
}
EndpointPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_NAME_LEN,
        description="endpoint name",
        json_schema_extra={"pattern": NAME_PATTERN},
    ),
]
"""An endpoint name in a path FastAPI declares (the fast path's are :data:`ENDPOINT_PARAM`)."""
VersionPath = Annotated[str, Path(min_length=1, description="a model version the endpoint serves")]
ENDPOINT_PARAM = {
    "name": "endpoint",
    "in": "path",
    "required": True,
    "description": "endpoint name",
    "schema": ENDPOINT_SCHEMA,
}
VERSION_PARAM = {
    "name": "version",
    "in": "path",
    "required": True,
    "description": "a model version the endpoint serves (its metadata's ``versions``)",
    "schema": {"type": "string", "minLength": 1},
}
HEADER_LENGTH_PARAM = {
    "name": "Inference-Header-Content-Length",
    "in": "header",
    "required": False,
    "description": "binary tensor extension: the length of the JSON part of the body",
    "schema": {"type": "integer", "minimum": 1},
}

AUTH_ERRORS = (*TRANSPORT_ERRORS, 401, 403, 429)
"""What a route needing a permission can answer before it does anything: the connection
layer's refusals and the permission check's."""
PREDICT_ERRORS = (*AUTH_ERRORS, 400, 404, 413, 415, 422, 500, 503, 504)
"""What a prediction can answer: bad JSON or headers (400), an unknown endpoint or version
(404), a body over the endpoint's limit (413) or in a refused encoding (415), inputs that do
not match the signature (422), a failed model (500), an overloaded, loading or draining server
or an open circuit breaker (503), a model over its time limit (504)."""

_SCALAR = {"type": ["number", "string", "boolean", "null"]}

NATIVE_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "inputs": {
            "description": "rows as records, or columns as lists of values",
            "anyOf": [
                {"type": "array", "items": {"type": "object", "additionalProperties": _SCALAR}},
                {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": _SCALAR},
                },
            ],
        }
    },
}
V2_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string", "description": "echoed in the answer"},
        "parameters": {"description": "binary_data_output: true asks for binary outputs"},
        "inputs": {
            "type": "array",
            "minItems": 1,
            "description": "one [n, features] tensor, or one [n] tensor per signature column",
            "items": {
                "type": "object",
                "required": ["name", "shape", "datatype"],
                "properties": {
                    "name": {"type": "string"},
                    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                    "datatype": {"type": "string", "description": "e.g. FP64, INT64, BYTES"},
                    "parameters": {"description": "binary_data_size: bytes in the binary part"},
                    "data": {"type": "array", "description": "the values, flat or nested"},
                },
            },
        },
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"enum": list(OUTPUT_NAMES)},
                    "parameters": {"description": "binary_data: true sends it binary"},
                },
            },
        },
    },
}


def request_body(schema: dict[str, Any], *, binary: bool = False) -> dict[str, Any]:
    """``openapi_extra`` of a data route: its JSON body (with ``binary``, the v2 binary tensor
    extension's body too: JSON, then raw tensors, split at ``Inference-Header-Content-Length``)."""
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if binary:
        content[OCTET_STREAM] = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": True, "content": content}}


# -- answers -------------------------------------------------------------------------------------


class NativePrediction(BaseModel):
    prediction_ids: list[str] = Field(description="one id per row, to join feedback later")
    model: str = Field(description="the model version that answered, e.g. models:/churn/3")
    variant: str = Field(description="the endpoint's variant that answered")
    outputs: list[Any] = Field(description="one label or value per row")
    probabilities: list[list[float | None]] | None = Field(
        None, description="classifiers: one row of class probabilities per row"
    )


class V2Tensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any] | None = Field(None, description="absent when sent as binary data")
    parameters: dict[str, Any] | None = None


class V2Prediction(BaseModel):
    model_name: str
    model_version: str
    id: str | None = Field(None, description="the request's id")
    outputs: list[V2Tensor]
    parameters: dict[str, Any] = Field(description="prediction_ids, variant, model")


class V2TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class V2ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[V2TensorMetadata]
    outputs: list[V2TensorMetadata]
    parameters: dict[str, Any] = Field(description="model, variant, variants, runtime")


class V2ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ModelReadiness(BaseModel):
    name: str
    ready: bool


class Liveness(BaseModel):
    live: bool


class Readiness(BaseModel):
    ready: bool
    failed: list[str] | None = Field(
        None, description="when not ready: endpoints with no loadable model and no fallback"
    )
    loading: bool | None = Field(None, description="when not ready: still loading at start-up")
    draining: bool | None = Field(None, description="when not ready: shutting down")


def prediction_responses(v2: bool) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a prediction route."""
    ok: dict[str, Any] = {
        "model": V2Prediction if v2 else NativePrediction,
        "description": "the prediction",
    }
    if v2:
        ok["content"] = {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}}
        ok["headers"] = {
            "Inference-Header-Content-Length": {
                "description": "binary outputs: the length of the JSON part before them",
                "schema": {"type": "integer"},
            }
        }
    return {200: ok, **error_responses(*PREDICT_ERRORS, v2=v2)}


def ready_responses() -> dict[int | str, dict[str, Any]]:
    """v2 model readiness: 200 ready, 400 not ready (the protocol's "4xx means false")."""
    not_ready = {"model": ModelReadiness, "description": "the model is not ready (loading)"}
    return {400: not_ready, **error_responses(*AUTH_ERRORS, 404, 422, v2=True)}


def health_responses(body: type[BaseModel], *, not_ready: bool) -> dict[int | str, dict[str, Any]]:
    """The probes': their body, and the connection layer's refusals (no permission needed).
    Readiness answers 503 with its own body while starting or draining."""
    out: dict[int | str, dict[str, Any]] = {
        200: {"model": body},
        **error_responses(*TRANSPORT_ERRORS, v2=True),
    }
    if not_ready:
        out[503] = {
            "description": "not ready (starting or draining), or the server is at capacity",
            "headers": {
                "Retry-After": {
                    "description": "at capacity: seconds to wait before retrying",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0},
                }
            },
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            {"$ref": "#/components/schemas/Readiness"},
                            {"$ref": "#/components/schemas/V2ErrorBody"},
                        ]
                    }
                }
            },
        }
    return out


METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition",
        "content": {PROMETHEUS: {"schema": {"type": "string"}}},
    },
    **error_responses(*AUTH_ERRORS),
}


__all__ = [
    "AUTH_ERRORS",
    "ENDPOINT_PARAM",
    "HEADER_LENGTH_PARAM",
    "METRICS_RESPONSES",
    "NATIVE_REQUEST",
    "PROMETHEUS",
    "V2_REQUEST",
    "VERSION_PARAM",
    "EndpointPath",
    "Liveness",
    "ModelReadiness",
    "NativePrediction",
    "Readiness",
    "V2ModelMetadata",
    "V2Prediction",
    "V2ServerMetadata",
    "VersionPath",
    "health_responses",
    "prediction_responses",
    "ready_responses",
    "request_body",
]
