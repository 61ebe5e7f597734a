"""Open Inference Protocol v2 (KServe / Triton) REST: inference requests and responses, model
metadata. Spec: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/

Inputs: one tensor ``[n, features]`` (any name) for a numeric model, or one tensor per signature
column (named like the column, shape ``[n]`` or ``[n, 1]``; strings as ``BYTES``). Outputs:
``predict`` (labels or values, shape ``[n]``) and, for classifiers, ``probabilities``
(``[n, classes]``); a request's ``outputs`` list selects among them. Prediction ids travel in the
response ``parameters``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from modelplane.errors import SchemaValidationError
from modelplane.serving.inputs import InputSpec
from modelplane.serving.protocols.native import loads, plain
from modelplane.serving.runtime import Prediction

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


def parse(body: bytes, spec: InputSpec) -> tuple[Any, str | None, list[str] | None]:
    """→ (model input, request id, requested output names or None for all)."""
    doc = loads(body)
    if not isinstance(doc, dict):
        raise SchemaValidationError("the inference request must be a JSON object", field="body")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise SchemaValidationError("inputs must be a non-empty list of tensors", field="inputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, dict) or not {"name", "shape", "datatype", "data"} <= t.keys():
            raise SchemaValidationError(
                f"inputs[{i}] needs name, shape, datatype and data", field=f"inputs[{i}]"
            )
        if not isinstance(t["name"], str) or not isinstance(t["datatype"], str):
            raise SchemaValidationError(
                f"inputs[{i}].name and datatype must be strings", field=f"inputs[{i}]"
            )
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise SchemaValidationError("id must be a string", field="id")
    requested = _requested(doc.get("outputs"))
    if len(inputs) == 1 and (len(spec.columns) != 1 or inputs[0]["name"] not in spec.columns):
        t = inputs[0]
        if spec.numeric or not spec.columns:
            return (
                spec.tensor(t["data"], t["shape"], t["datatype"], t["name"]),
                request_id,
                requested,
            )
    columns: dict[str, list[Any]] = {}
    for t in inputs:
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
        if not isinstance(data, list):
            raise SchemaValidationError(f"input {name!r} data must be a list", field=f"{name}.data")
        if data and isinstance(data[0], list):
            data = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in data]
        if len(data) != shape[0]:
            raise SchemaValidationError(
                f"input {name!r} has {len(data)} values but shape says {shape[0]}",
                field=f"{name}.data",
            )
        columns[name] = data
    return spec.columnar(columns), request_id, requested


def _requested(outputs: Any) -> list[str] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise SchemaValidationError("outputs must be a list", field="outputs")
    names = []
    for i, o in enumerate(outputs):
        name = o.get("name") if isinstance(o, dict) else None
        if name not in OUTPUT_NAMES:
            raise SchemaValidationError(
                f"outputs[{i}].name must be one of {', '.join(OUTPUT_NAMES)}", field=f"outputs[{i}]"
            )
        names.append(name)
    return names


def _tensor(name: str, values: np.ndarray) -> dict[str, Any]:
    values = np.asarray(values)
    dt = datatype(values.dtype)
    if dt == "BYTES":
        data: Any = [str(v) for v in values.ravel().tolist()]
    else:
        data = plain(values.ravel())
    return {"name": name, "shape": list(values.shape), "datatype": dt, "data": data}


def dump(
    pred: Prediction,
    ids: list[str],
    *,
    model_name: str,
    model_version: str,
    request_id: str | None,
    requested: list[str] | None,
) -> bytes:
    outputs = []
    if requested is None or "predict" in requested:
        outputs.append(_tensor("predict", pred.outputs))
    if pred.probabilities is not None and (requested is None or "probabilities" in requested):
        # FP64 as the model metadata declares, whichever runtime (ONNX float32) computed them
        outputs.append(_tensor("probabilities", np.asarray(pred.probabilities, dtype=np.float64)))
    doc: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "outputs": outputs,
        "parameters": {"prediction_ids": ids},
    }
    if request_id is not None:
        doc["id"] = request_id
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


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
