"""Import of MLflow model directories (``MLmodel`` + payload) without needing mlflow.

:func:`read_mlflow_model` parses ``MLmodel`` with ``yaml.safe_load``, picks the best flavor
present (``onnx``, ``xgboost``, ``lightgbm``, ``sklearn``, then ``python_function`` backed by
``mlflow.sklearn``), loads its payload and converts the MLflow signature into a
:class:`~modelplane.registry.signature.Signature`. The directory is treated as hostile: it must
be a local directory whose symlinks all stay inside it, ``MLmodel`` must be a regular file of at
most 1 MiB holding a YAML mapping, and every file named in it must be a relative path without
``..`` that resolves to a regular file inside the directory. Pickled payloads (``pickle`` and
``cloudpickle`` formats) are still pickles; skops payloads are loaded trusting only types from
``sklearn.`` and ``numpy.``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import pickle
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import yaml

from modelplane.core.safepaths import check_member_name
from modelplane.errors import FlavorError, InvalidInputError, needs_extra
from modelplane.registry.flavors import flavor_for
from modelplane.registry.signature import ColumnSpec, Signature, dtype_name, infer_signature

MAX_MLMODEL_BYTES: Final = 1024 * 1024
MAX_DIRECTORY_ENTRIES: Final = 100_000
MAX_YAML_NODES: Final = 20_000
FLAVOR_PRIORITY: Final = ("onnx", "xgboost", "lightgbm", "sklearn", "python_function")
SKOPS_TRUSTED_PREFIXES: Final = ("sklearn.", "numpy.")
MLFLOW_TYPES: Final = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "object",
    "datetime": "datetime64[ns]",
    "binary": "object",
}


@dataclass
class MlflowModelSpec:
    """A loaded MLflow model: our flavor name, the model object, its signature, and metadata.

    ``flavor`` is the modelplane flavor to register the object with (for pickled payloads, the
    one :func:`~modelplane.registry.flavors.flavor_for` picks for the unpickled object).
    ``info`` holds ``mlflow_flavor`` (the MLmodel flavor used), ``payload`` (its relative
    path), ``flavors`` (the flavor names present), ``flavor_conf`` (that flavor's settings) and
    MLmodel's ``mlflow_version``, ``model_uuid`` and ``utc_time_created``.
    """

    flavor: str
    model: object
    signature: Signature | None
    info: dict[str, Any] = field(default_factory=dict)


def read_mlflow_model(directory: pathlib.Path) -> MlflowModelSpec:
    """Load the MLflow model saved in the local ``directory``; anything unusable -> FlavorError."""
    root = _check_directory(directory)
    document = _read_mlmodel(root)
    flavors = document.get("flavors")
    if not isinstance(flavors, dict) or not flavors:
        raise FlavorError("MLmodel declares no flavors", field="flavors")
    found = sorted(str(name) for name in flavors)
    name = next((f for f in FLAVOR_PRIORITY if isinstance(flavors.get(f), dict)), None)
    if name is None:
        raise FlavorError(
            f"no supported flavor in MLmodel; found: {', '.join(found)}; "
            f"supported: {', '.join(FLAVOR_PRIORITY)}",
            field="flavors",
        )
    conf: dict[str, Any] = flavors[name]
    model: object
    if name == "onnx":
        payload = _member(root, conf.get("onnx_model") or conf.get("data"), "data")
        from modelplane.registry.flavors.onnx import open_onnx

        ours, model = "onnx", open_onnx(payload.read_bytes())
    elif name == "xgboost":
        payload = _member(root, conf.get("data"), "data")
        from modelplane.registry.flavors.xgboost import restore_xgboost

        ours = "xgboost"
        model = restore_xgboost(payload, str(conf.get("model_class", "xgboost.core.Booster")))
    elif name == "lightgbm":
        payload = _member(root, conf.get("data"), "data")
        model = _load_lightgbm(payload, conf)
        ours = flavor_for(model).name
    elif name == "sklearn":
        payload = _member(root, conf.get("pickled_model"), "pickled_model")
        model = _load_sklearn(payload, conf.get("serialization_format"))
        ours = flavor_for(model).name
    else:
        ours, payload, model = _load_python_function(root, conf, flavors)
    sig = document.get("signature")
    signature = signature_from_mlflow(sig, model) if isinstance(sig, dict) else None
    info: dict[str, Any] = {
        "mlflow_flavor": name,
        "payload": payload.relative_to(root).as_posix(),
        "flavors": found,
        "flavor_conf": _plain(conf),
    }
    for key in ("mlflow_version", "model_uuid", "utc_time_created"):
        if document.get(key) is not None:
            info[key] = _plain(document[key])
    return MlflowModelSpec(flavor=ours, model=model, signature=signature, info=info)


def _check_directory(directory: pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(directory)
    if not path.is_dir():
        raise FlavorError(f"{str(path)!r} is not an existing local directory", field="directory")
    root = path.resolve(strict=True)
    mlmodel = root / "MLmodel"
    if not mlmodel.is_file() or not mlmodel.resolve().is_relative_to(root):
        raise FlavorError(f"{str(path)!r} has no regular file 'MLmodel'", field="directory")
    entries = 0
    for current, dirs, files in os.walk(root):
        for entry in (*dirs, *files):
            entries += 1
            if entries > MAX_DIRECTORY_ENTRIES:
                raise FlavorError("the model directory has too many files", field="directory")
            candidate = pathlib.Path(current, entry)
            if candidate.is_symlink() and not _resolves_inside(candidate, root):
                rel = candidate.relative_to(root).as_posix()
                raise FlavorError(
                    f"symlink {rel!r} points outside the model directory", field="directory"
                )
    return root


def _resolves_inside(path: pathlib.Path, root: pathlib.Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # symlink loops
        return False


def _read_mlmodel(root: pathlib.Path) -> dict[str, Any]:
    path = root / "MLmodel"
    if path.stat().st_size > MAX_MLMODEL_BYTES:
        raise FlavorError("MLmodel is larger than 1 MiB", field="MLmodel")
    with path.open("rb") as src:
        raw = src.read(MAX_MLMODEL_BYTES + 1)
    if len(raw) > MAX_MLMODEL_BYTES:
        raise FlavorError("MLmodel is larger than 1 MiB", field="MLmodel")
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FlavorError(f"MLmodel is not valid YAML: {exc}", field="MLmodel") from exc
    if not isinstance(document, dict):
        raise FlavorError(
            f"MLmodel must be a YAML mapping, got {type(document).__name__}", field="MLmodel"
        )
    _plain(document)  # bounds the document's size (YAML aliases can make it explode)
    return document


def _plain(value: Any, budget: list[int] | None = None) -> Any:
    """A JSON-safe copy of parsed YAML; more than MAX_YAML_NODES nodes -> FlavorError."""
    budget = [MAX_YAML_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise FlavorError("MLmodel is too large or too deeply aliased", field="MLmodel")
    if isinstance(value, dict):
        return {str(k): _plain(v, budget) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, budget) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _member(root: pathlib.Path, relative: object, key: str) -> pathlib.Path:
    """The regular file ``relative`` (a path from MLmodel) inside ``root``, else FlavorError."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise FlavorError(f"MLmodel key {key!r} must name a file in the model", field=key)
    try:
        clean = check_member_name(relative, field=key)  # the check every outside name takes
    except InvalidInputError as exc:
        raise FlavorError(
            f"MLmodel key {key!r} must be a relative path inside the model: {exc.message}",
            field=key,
        ) from None
    path = (root / clean).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise FlavorError(f"MLmodel key {key!r}: no file {relative!r} in the model", field=key)
    return path


def _load_pickle(path: pathlib.Path) -> object:
    try:
        with path.open("rb") as src:
            return pickle.load(src)
    except Exception as exc:
        raise FlavorError(f"cannot unpickle {path.name!r}: {exc}") from exc


def _load_sklearn(path: pathlib.Path, serialization_format: object) -> object:
    if serialization_format in ("cloudpickle", "pickle", None):
        return _load_pickle(path)
    if serialization_format != "skops":
        raise FlavorError(
            f"unsupported sklearn serialization_format {serialization_format!r}; "
            "expected cloudpickle, pickle or skops",
            field="serialization_format",
        )
    try:
        import skops.io
    except ImportError as exc:
        raise needs_extra("loading a skops model", "skops", "mlflow") from exc
    try:
        types = [str(t) for t in skops.io.get_untrusted_types(file=path)]
    except Exception as exc:
        raise FlavorError(f"cannot read the skops model: {exc}") from exc
    refused = sorted(t for t in types if not t.startswith(SKOPS_TRUSTED_PREFIXES))
    if refused:
        raise FlavorError(
            f"refusing to load skops model: untrusted types {', '.join(refused)}",
            field="pickled_model",
        )
    try:
        return skops.io.load(path, trusted=types)
    except Exception as exc:
        raise FlavorError(f"cannot load the skops model: {exc}") from exc


def _load_lightgbm(path: pathlib.Path, conf: dict[str, Any]) -> object:
    model_class = str(conf.get("model_class", "lightgbm.basic.Booster"))
    if not model_class.startswith("lightgbm."):
        raise FlavorError(f"unsupported lightgbm model_class {model_class!r}", field="model_class")
    if model_class.rpartition(".")[2] != "Booster":
        return _load_pickle(path)  # MLflow cloudpickles lightgbm's scikit-learn wrappers
    try:
        import lightgbm

        return lightgbm.Booster(model_file=str(path))
    except Exception as exc:
        raise FlavorError(f"cannot load the lightgbm model: {exc}") from exc


def _load_python_function(
    root: pathlib.Path, conf: dict[str, Any], flavors: dict[str, Any]
) -> tuple[str, pathlib.Path, object]:
    if conf.get("loader_module") == "mlflow.sklearn":
        payload = _member(root, conf.get("model_path"), "model_path")
        model = _load_pickle(payload)
        return flavor_for(model).name, payload, model
    if importlib.util.find_spec("mlflow") is None:
        raise FlavorError(
            f"this python_function model (loader_module {conf.get('loader_module')!r}; "
            f"flavors: {', '.join(sorted(map(str, flavors)))}) requires the mlflow package "
            "to load; re-save it with the sklearn/onnx/xgboost/lightgbm flavor or install mlflow",
            field="flavors",
        )
    try:
        import mlflow.pyfunc

        return "pyfunc", root / "MLmodel", mlflow.pyfunc.load_model(str(root))
    except Exception as exc:
        raise FlavorError(f"mlflow cannot load the model: {exc}") from exc


def signature_from_mlflow(mlflow_signature: dict[str, Any], model: object) -> Signature | None:
    """Our Signature for MLmodel's ``signature`` (column- or tensor-based JSON schemas)."""
    inputs = _schema(mlflow_signature.get("inputs"), "inputs")
    outputs = _schema(mlflow_signature.get("outputs"), "outputs")
    if inputs is None and outputs is None:
        return None
    columns: tuple[ColumnSpec, ...] = ()
    kind = "unknown"
    shape: tuple[int, ...] | None = None
    if inputs:
        tensors = [_tensor(spec) for spec in inputs if spec.get("type") == "tensor"]
        if tensors and len(tensors) != len(inputs):
            raise FlavorError("MLmodel signature mixes tensors and columns", field="signature")
        kind = "tensor" if tensors else "dataframe"
        if len(tensors) == 1 and len(tensors[0][2]) == 2 and tensors[0][2][1] >= 0:
            dtype, shape = tensors[0][1], tensors[0][2]
            columns = tuple(ColumnSpec(f"f{k}", dtype) for k in range(shape[1]))
        elif tensors:
            columns = tuple(ColumnSpec(n or f"input-{k}", d) for k, (n, d, _) in enumerate(tensors))
            shape = tensors[0][2] if len(tensors) == 1 else None
        else:
            columns = tuple(
                ColumnSpec(str(spec.get("name") or f"f{k}"), _column_type(spec))
                for k, spec in enumerate(inputs)
            )
    output_dtype = None
    if outputs:
        first = outputs[0]
        output_dtype = _tensor(first)[1] if first.get("type") == "tensor" else _column_type(first)
    inferred = infer_signature(model, None)
    output_kind = inferred.output_kind
    if (
        output_kind == "unknown"
        and output_dtype in ("float64", "float32")
        and len(outputs or ()) == 1
    ):
        output_kind = "regression"
    return Signature(columns, kind, shape, output_kind, output_dtype, inferred.classes)


def _schema(value: object, key: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError as exc:
        raise FlavorError(f"MLmodel signature {key} is not JSON: {exc}", field="signature") from exc
    if not isinstance(parsed, list) or not all(isinstance(s, dict) for s in parsed):
        raise FlavorError(f"MLmodel signature {key} must be a list of specs", field="signature")
    return parsed


def _column_type(spec: dict[str, Any]) -> str:
    return MLFLOW_TYPES.get(str(spec.get("type")), "object")


def _tensor(spec: dict[str, Any]) -> tuple[str | None, str, tuple[int, ...]]:
    tensor = spec.get("tensor-spec")
    try:
        if not isinstance(tensor, dict):
            raise TypeError("no tensor-spec")
        dtype = dtype_name(np.dtype(str(tensor["dtype"])))
        shape = tuple(int(n) for n in tensor.get("shape") or ())
    except (KeyError, TypeError, ValueError) as exc:
        raise FlavorError(f"invalid tensor spec in MLmodel: {exc}", field="signature") from exc
    name = spec.get("name")
    return (str(name) if name else None), dtype, shape


__all__ = ["MlflowModelSpec", "read_mlflow_model", "signature_from_mlflow"]
