"""The ``onnx`` flavor: ONNX graphs, served through onnxruntime on the CPU.

:meth:`OnnxFlavor.save` writes ``model.onnx`` (the serialized ``ModelProto``). :meth:`load`
returns an :class:`OnnxModel`: a small wrapper over ``onnxruntime.InferenceSession``
(``CPUExecutionProvider``, ``intra_op_num_threads=1`` unless ``flavor_info`` says otherwise)
whose ``predict(X)`` feeds a numpy array, a pandas DataFrame or a mapping of input name to array:

* one graph input: a DataFrame's columns are stacked into one 2-D array of the input's declared
  element type (float32 for ``tensor(float)``, float64 for ``tensor(double)``, ...);
* one graph input per column: each column is fed as its own ``(n, 1)`` input, matched by name
  (or by position when the names differ but the counts agree).

``predict`` returns the first output as numpy (a ``(n, 1)`` output is flattened to ``(n,)``, as
scikit-learn regressors return). When the graph has a probabilities output (skl2onnx names it
``probabilities``, or ``output_probability`` behind a ZipMap) the loaded object is an
:class:`OnnxClassifierModel` with ``predict_proba``; a ZipMap's list of dicts is turned into a
2-D float array with one column per class, in ``classes_`` order. Class labels are read from the
graph's ``classlabels_*`` attributes when the ``onnx`` package is installed.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from modelplane.errors import FlavorError, InvalidInputError, SchemaValidationError
from modelplane.registry.flavors.base import (
    Flavor,
    base_info,
    ensure_empty_directory,
    library_version,
    loaded_module,
    payload_file,
    target_file,
)

MODEL_FILE = "model.onnx"
PROBABILITY_OUTPUTS: Final[tuple[str, ...]] = ("probabilities", "output_probability")
ONNX_NUMPY_TYPES: Final[Mapping[str, str]] = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint64)": "uint64",
    "tensor(uint32)": "uint32",
    "tensor(uint16)": "uint16",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


class OnnxModel:
    """An ``onnxruntime.InferenceSession`` with a scikit-learn-like ``predict``."""

    def __init__(self, model_bytes: bytes, *, intra_op_num_threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = intra_op_num_threads
        options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(
                model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise FlavorError(f"onnxruntime cannot load the model: {exc}") from exc
        self.model_bytes = model_bytes
        self.input_names: tuple[str, ...] = tuple(i.name for i in self.session.get_inputs())
        self.output_names: tuple[str, ...] = tuple(o.name for o in self.session.get_outputs())
        classes = onnx_class_labels(model_bytes)
        if classes is not None:
            self.classes_ = classes

    def _feed(self, X: Any) -> dict[str, Any]:
        import numpy as np

        if isinstance(X, (str, bytes, os.PathLike)):
            raise InvalidInputError("predict() takes data, not a file name", field="X")
        inputs = self.session.get_inputs()
        dtypes = [ONNX_NUMPY_TYPES.get(i.type, "float32") for i in inputs]
        if isinstance(X, Mapping):
            missing = [i.name for i in inputs if i.name not in X]
            if missing:
                raise SchemaValidationError(f"missing input {missing[0]!r}", field=missing[0])
            return {i.name: _cast(X[i.name], d) for i, d in zip(inputs, dtypes, strict=True)}
        pandas = loaded_module("pandas")
        if pandas is not None and isinstance(X, pandas.DataFrame):
            if len(inputs) == 1:
                return {inputs[0].name: _cast(X.to_numpy(), dtypes[0])}
            names = [i.name for i in inputs]
            if all(name in X.columns for name in names):
                columns = [X[name] for name in names]
            elif X.shape[1] == len(inputs):
                columns = [X.iloc[:, k] for k in range(len(inputs))]
            else:
                absent = next(n for n in names if n not in X.columns)
                raise SchemaValidationError(f"missing input column {absent!r}", field=absent)
            return {
                i.name: _cast(c.to_numpy(), d).reshape(-1, 1)
                for i, c, d in zip(inputs, columns, dtypes, strict=True)
            }
        array = np.asarray(X)
        if len(inputs) == 1:
            return {inputs[0].name: _cast(array, dtypes[0])}
        if array.ndim == 2 and array.shape[1] == len(inputs):
            return {
                i.name: _cast(array[:, k], d).reshape(-1, 1)
                for k, (i, d) in enumerate(zip(inputs, dtypes, strict=True))
            }
        raise SchemaValidationError(
            f"the model takes {len(inputs)} inputs ({', '.join(self.input_names)}); "
            f"got an array of shape {array.shape}",
            field="X",
        )

    def run(self, X: Any) -> list[Any]:
        """All outputs of the graph for ``X``."""
        feed = self._feed(X)
        try:
            return list(self.session.run(None, feed))
        except Exception as exc:
            raise InvalidInputError(f"onnxruntime rejected the input: {exc}", field="X") from exc

    def predict(self, X: Any) -> Any:
        """The first output as numpy; a single-column 2-D output is flattened."""
        import numpy as np

        result = np.asarray(self.run(X)[0])
        if result.ndim == 2 and result.shape[1] == 1:
            result = result.ravel()
        return result


class OnnxClassifierModel(OnnxModel):
    """An :class:`OnnxModel` whose graph has a probabilities output."""

    def __init__(
        self, model_bytes: bytes, proba_index: int, *, intra_op_num_threads: int = 1
    ) -> None:
        super().__init__(model_bytes, intra_op_num_threads=intra_op_num_threads)
        self.proba_index = proba_index

    def predict_proba(self, X: Any) -> Any:
        """The probabilities output as a 2-D float array (ZipMap lists of dicts converted)."""
        import numpy as np

        result = self.run(X)[self.proba_index]
        if not isinstance(result, list):
            return np.asarray(result)
        keys = list(getattr(self, "classes_", ()))
        if result and set(keys) != set(result[0]):
            keys = list(result[0])
        if not result:
            return np.zeros((0, len(keys)), dtype=np.float32)
        return np.array([[row[k] for k in keys] for row in result], dtype=np.float32)


def _cast(values: Any, dtype: str) -> Any:
    import numpy as np

    array = np.asarray(values)
    try:
        if dtype == "object":
            return array.astype(str).astype(object)
        return array.astype(dtype, copy=False)
    except (TypeError, ValueError) as exc:
        raise SchemaValidationError(f"input cannot be cast to {dtype}: {exc}", field="X") from exc


def onnx_class_labels(model_bytes: bytes) -> Any:
    """Class labels from a graph's ``classlabels_*`` attributes, or None (needs ``onnx``)."""
    try:
        import numpy as np
        import onnx
    except ImportError:
        return None
    try:
        proto = onnx.load_model_from_string(model_bytes)
    except Exception:
        return None
    for node in reversed(proto.graph.node):
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings" and attribute.strings:
                return np.array([s.decode("utf-8") for s in attribute.strings], dtype=object)
            if attribute.name in ("classlabels_ints", "classlabels_int64s") and attribute.ints:
                return np.array(list(attribute.ints), dtype=np.int64)
    return None


def open_onnx(model_bytes: bytes, *, intra_op_num_threads: int = 1) -> OnnxModel:
    """An :class:`OnnxClassifierModel` if the graph has a probabilities output, else OnnxModel."""
    model = OnnxModel(model_bytes, intra_op_num_threads=intra_op_num_threads)
    outputs = model.session.get_outputs()
    proba_index = next(
        (k for k, o in enumerate(outputs) if o.name in PROBABILITY_OUTPUTS),
        None,
    )
    if proba_index is None and len(outputs) >= 2 and str(outputs[1].type).startswith("seq(map"):
        proba_index = 1
    if proba_index is None:
        return model
    return OnnxClassifierModel(model_bytes, proba_index, intra_op_num_threads=intra_op_num_threads)


class OnnxFlavor(Flavor):
    """``onnx.ModelProto`` objects and :class:`OnnxModel` wrappers."""

    name: ClassVar[str] = "onnx"

    def can_handle(self, obj: object) -> bool:
        if isinstance(obj, OnnxModel):
            return True
        onnx = loaded_module("onnx")
        return onnx is not None and isinstance(obj, onnx.ModelProto)

    def save(self, obj: object, directory: pathlib.Path) -> dict[str, Any]:
        if not self.can_handle(obj):
            raise FlavorError(f"the onnx flavor cannot save a {type(obj).__name__}")
        try:
            source: Any = obj
            data: bytes = (
                source.model_bytes if isinstance(obj, OnnxModel) else source.SerializeToString()
            )
            import onnx

            proto = onnx.load_model_from_string(data)
            onnx.checker.check_model(proto)
        except Exception as exc:
            raise FlavorError(f"invalid ONNX model: {exc}") from exc
        path = target_file(ensure_empty_directory(directory), MODEL_FILE)
        path.write_bytes(data)
        info = base_info(obj, [MODEL_FILE], library_version(onnx))
        info["ir_version"] = int(proto.ir_version)
        info["opset"] = {op.domain or "ai.onnx": int(op.version) for op in proto.opset_import}
        info["inputs"] = [i.name for i in proto.graph.input]
        info["outputs"] = [o.name for o in proto.graph.output]
        return info

    def load(self, directory: pathlib.Path, info: dict[str, Any]) -> object:
        path = payload_file(directory, MODEL_FILE)
        threads = info.get("intra_op_num_threads", 1)
        if not isinstance(threads, int) or isinstance(threads, bool) or not 0 <= threads <= 256:
            raise FlavorError(
                f"invalid intra_op_num_threads {threads!r}", field="intra_op_num_threads"
            )
        return open_onnx(path.read_bytes(), intra_op_num_threads=threads)
