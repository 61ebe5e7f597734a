"""Open Inference Protocol v2 (KServe / Triton) REST: inference requests and responses, model
metadata. Spec: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/

Inputs: one tensor ``[n, features]`` (any name) for a numeric model, or one tensor per signature
column (named like the column, shape ``[n]`` or ``[n, 1]``; strings as ``BYTES``). Outputs:
``predict`` (labels or values, shape ``[n]``) and, for classifiers, ``probabilities``
(``[n, classes]``); a request's ``outputs`` list selects among them. Prediction ids, the variant
and the model that answered travel in the response ``parameters``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelplane.errors import InvalidInputError, SchemaValidationError
from modelplane.inference.inputs import V2_DTYPES, InputSpec
from modelplane.inference.prediction import Prediction
from modelplane.inference.request import InferenceRequest, InferenceResult
from modelplane.serving.protocols.base import JSON, Headers, WireProtocol
from modelplane.serving.protocols.native import loads, plain

OUTPUT_NAMES = ("predict", "probabilities")
_DATATYPES = {
    "b": "BOOL",
    "i1": "INT8",
    "i2": "INT16",
    "i4": "INT32",
    "i8": "INT64",
    "u1": "UINT8",
    "u2": "UINT16",
    "u4": "UINT32",
    "u8": "UINT64",
    "f2": "FP16",
    "f4": "FP32",
    "f8": "FP64",
}


def datatype(dtype: np.dtype[Any] | str) -> str:
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return "BOOL"
    return _DATATYPES.get(f"{dt.kind}{dt.itemsize}", "BYTES")


@dataclass(frozen=True)
class Request:
    """What the caller asked for besides the input: request id, which outputs, which binary."""

    request_id: str | None
    requested: list[str] | None
    binary: frozenset[str]


def parse(body: bytes, spec: InputSpec, header_length: int | None = None) -> tuple[Any, Request]:
    """→ (model input, request). With ``header_length`` (the ``Inference-Header-Content-Length``
    header of the binary tensor extension) the body is that many bytes of JSON followed by the
    raw tensors of the inputs that declare ``parameters.binary_data_size``."""
    blob = b""
    if header_length is not None:
        if not 0 < header_length <= len(body):
            raise InvalidInputError(
                f"Inference-Header-Content-Length {header_length} does not fit a body of "
                f"{len(body)} bytes",
                field="inference-header-content-length",
            )
        body, blob = body[:header_length], body[header_length:]
    doc = loads(body)
    if not isinstance(doc, dict):
        raise SchemaValidationError("the inference request must be a JSON object", field="body")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise SchemaValidationError("inputs must be a non-empty list of tensors", field="inputs")
    _check_headers(inputs)
    _decode_binary(inputs, blob)
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise SchemaValidationError("id must be a string", field="id")
    requested, binary = _requested(doc.get("outputs"), doc.get("parameters"))
    request = Request(request_id, requested, binary)
    if len(inputs) == 1 and (len(spec.columns) != 1 or inputs[0]["name"] not in spec.columns):
        t = inputs[0]
        if spec.numeric or not spec.columns:
            return spec.tensor(t["data"], t["shape"], t["datatype"], t["name"]), request
    columns = {t["name"]: _column(t, spec) for t in inputs}
    return spec.columnar(columns), request


def _check_headers(inputs: list[Any]) -> None:
    for i, t in enumerate(inputs):
        if not isinstance(t, dict) or not {"name", "shape", "datatype"} <= t.keys():
            raise SchemaValidationError(
                f"inputs[{i}] needs name, shape, datatype and data", field=f"inputs[{i}]"
            )
        if not isinstance(t["name"], str) or not isinstance(t["datatype"], str):
            raise SchemaValidationError(
                f"inputs[{i}].name and datatype must be strings", field=f"inputs[{i}]"
            )


def _column(t: dict[str, Any], spec: InputSpec) -> list[Any]:
    """The values of a per-column input tensor (shape ``[n]`` or ``[n, 1]``)."""
    name = t["name"]
    if spec.columns and name not in spec.columns:
        raise SchemaValidationError(
            f"input {name!r} is not a column of the model ({', '.join(spec.columns[:10])}…)",
            field=name,
        )
    shape = t["shape"]
    if (
        not isinstance(shape, list)
        or not shape
        or len(shape) > 2
        or (len(shape) == 2 and shape[1] != 1)
    ):
        raise SchemaValidationError(
            f"a per-column input must have shape [n] or [n, 1], got {shape}",
            field=f"{name}.shape",
        )
    data = t["data"]
    if isinstance(data, np.ndarray):
        data = data.tolist()
    if not isinstance(data, list):
        raise SchemaValidationError(f"input {name!r} data must be a list", field=f"{name}.data")
    if data and isinstance(data[0], list):
        data = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in data]
    if len(data) != shape[0]:
        raise SchemaValidationError(
            f"input {name!r} has {len(data)} values but shape says {shape[0]}",
            field=f"{name}.data",
        )
    return data


def _decode_binary(inputs: list[dict[str, Any]], blob: bytes) -> None:
    """Fill ``data`` of inputs sent as raw bytes (binary tensor data extension)."""
    offset = 0
    view = memoryview(blob)
    for t in inputs:
        params = t.get("parameters")
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        name = t["name"]
        if size is None:
            if "data" not in t:
                raise SchemaValidationError(f"input {name!r} has no data", field=f"{name}.data")
            continue
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise SchemaValidationError(
                f"binary_data_size of {name!r} must be a non-negative integer",
                field=f"{name}.parameters",
            )
        if offset + size > len(blob):
            raise SchemaValidationError(
                f"input {name!r} declares {size} binary bytes but the body holds "
                f"{len(blob) - offset}",
                field=f"{name}.parameters",
            )
        chunk = view[offset : offset + size]
        offset += size
        if t["datatype"] == "BYTES":
            t["data"] = _decode_bytes(chunk, name)
            continue
        dtype = V2_DTYPES.get(t["datatype"])
        if dtype is None:
            raise SchemaValidationError(
                f"unsupported datatype {t['datatype']!r} for input {name!r}",
                field=f"{name}.datatype",
            )
        le = np.dtype(dtype).newbyteorder("<")
        if size % le.itemsize:
            raise SchemaValidationError(
                f"input {name!r}: {size} bytes is not a whole number of {t['datatype']} values",
                field=f"{name}.parameters",
            )
        t["data"] = np.frombuffer(chunk, dtype=le).astype(np.dtype(dtype), copy=False)
    if offset != len(blob):
        raise SchemaValidationError(
            f"{len(blob) - offset} bytes of binary data belong to no input", field="body"
        )


def _decode_bytes(chunk: memoryview, name: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(chunk):
        if pos + 4 > len(chunk):
            raise SchemaValidationError(
                f"truncated BYTES element in {name!r}", field=f"{name}.data"
            )
        (n,) = struct.unpack_from("<I", chunk, pos)
        pos += 4
        if pos + n > len(chunk):
            raise SchemaValidationError(
                f"truncated BYTES element in {name!r}", field=f"{name}.data"
            )
        try:
            out.append(bytes(chunk[pos : pos + n]).decode("utf-8"))
        except UnicodeDecodeError:
            raise SchemaValidationError(
                f"BYTES element of {name!r} is not UTF-8 text", field=f"{name}.data"
            ) from None
        pos += n
    return out


def _requested(outputs: Any, parameters: Any) -> tuple[list[str] | None, frozenset[str]]:
    """Requested output names (None: all) and those to send as binary data."""
    binary_all = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    if outputs is None:
        return None, frozenset(OUTPUT_NAMES) if binary_all else frozenset()
    if not isinstance(outputs, list):
        raise SchemaValidationError("outputs must be a list", field="outputs")
    names = []
    binary = set()
    for i, o in enumerate(outputs):
        name = o.get("name") if isinstance(o, dict) else None
        if name not in OUTPUT_NAMES:
            raise SchemaValidationError(
                f"outputs[{i}].name must be one of {', '.join(OUTPUT_NAMES)}", field=f"outputs[{i}]"
            )
        names.append(name)
        params = o.get("parameters") if isinstance(o, dict) else None
        flag = params.get("binary_data") if isinstance(params, dict) else None
        if flag is True or (flag is None and binary_all):
            binary.add(name)
    return names, frozenset(binary)


def _tensor(name: str, values: np.ndarray, blobs: list[bytes] | None) -> dict[str, Any]:
    """One output tensor; with ``blobs`` its bytes go there (binary extension), not in JSON."""
    values = np.asarray(values)
    dt = datatype(values.dtype)
    tensor: dict[str, Any] = {"name": name, "shape": list(values.shape), "datatype": dt}
    if blobs is not None:
        if dt == "BYTES":
            parts = [str(v).encode("utf-8") for v in values.ravel().tolist()]
            raw = b"".join(struct.pack("<I", len(p)) + p for p in parts)
        else:
            raw = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes()
        blobs.append(raw)
        tensor["parameters"] = {"binary_data_size": len(raw)}
    elif dt == "BYTES":
        tensor["data"] = [str(v) for v in values.ravel().tolist()]
    else:
        tensor["data"] = plain(values.ravel())
    return tensor


def dump(
    pred: Prediction,
    ids: list[str],
    *,
    model_name: str,
    model_version: str,
    request: Request,
    variant: str | None = None,
    model: str | None = None,
) -> tuple[bytes, int | None]:
    """→ (body, JSON header length when binary outputs follow the JSON, else None)."""
    requested = request.requested
    blobs: list[bytes] = []
    outputs = []
    if requested is None or "predict" in requested:
        binary = blobs if "predict" in request.binary else None
        outputs.append(_tensor("predict", pred.outputs, binary))
    if pred.probabilities is not None and (requested is None or "probabilities" in requested):
        # FP64 as the model metadata declares, whichever runtime (ONNX float32) computed them
        binary = blobs if "probabilities" in request.binary else None
        proba = np.asarray(pred.probabilities, dtype=np.float64)
        outputs.append(_tensor("probabilities", proba, binary))
    doc: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "outputs": outputs,
        "parameters": {"prediction_ids": ids},
    }
    if variant is not None:
        doc["parameters"]["variant"] = variant
    if model is not None:
        doc["parameters"]["model"] = model
    if request.request_id is not None:
        doc["id"] = request.request_id
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)


def model_metadata(
    name: str, versions: list[str], platform: str, spec: InputSpec, signature: dict[str, Any]
) -> dict[str, Any]:
    if spec.numeric and spec.columns:
        inputs = [{"name": "input-0", "datatype": "FP64", "shape": [-1, len(spec.columns)]}]
    else:
        inputs = [
            {
                "name": c,
                "datatype": datatype(d) if d not in ("object", "str", "string") else "BYTES",
                "shape": [-1],
            }
            for c, d in zip(spec.columns, spec.dtypes, strict=True)
        ]
    out_dtype = signature.get("output_dtype") or "float64"
    try:
        out_dt = datatype(out_dtype)
    except TypeError:
        out_dt = "BYTES"
    outputs = [{"name": "predict", "datatype": out_dt, "shape": [-1]}]
    classes = signature.get("classes")
    if signature.get("output_kind") == "classification" and classes:
        outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, len(classes)]})
    return {
        "name": name,
        "versions": versions,
        "platform": platform,
        "inputs": inputs,
        "outputs": outputs,
    }


class V2(WireProtocol):
    name = "v2"
    v2_errors = True

    def decode(self, request: InferenceRequest) -> None:
        variant, body = request.variant, request.body
        X, options = parse(body, variant.spec, request.header_length)  # type: ignore[arg-type,union-attr]
        request.X = X
        request.rows = len(X)
        request.options = options

    def encode(self, request: InferenceRequest, result: InferenceResult) -> tuple[bytes, Headers]:
        model = result.model
        out, json_length = dump(
            result.prediction,
            result.ids,
            model_name=request.endpoint,
            model_version=model.rsplit("/", 1)[-1] if "/" in model else model,
            request=request.options,
            variant=result.variant,
            model=model,
        )
        if json_length is None:
            return out, JSON
        return out, [
            (b"content-type", b"application/octet-stream"),
            (b"inference-header-content-length", str(json_length).encode()),
        ]


V2_PROTOCOL = V2()
