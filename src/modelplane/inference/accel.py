"""ONNX Runtime acceleration for scikit-learn models, used only when numerically equivalent.

The model is converted with skl2onnx (float32 first, then float64) and run on onnxruntime with
one intra-op thread. The converted graph must agree with the original on the validation sample:
classifiers give identical labels everywhere and probabilities within ``PROBA_TOL``; regressors
match within ``rtol=REG_RTOL``. Otherwise (or when conversion fails, skl2onnx is absent, the
signature is not numeric or there is no sample) the native runtime serves and the reason is
recorded in the runtime info, saying which: ``onnxruntime not installed``, ``conversion failed
(float32): …``, ``outputs differ (float64): probabilities differ by up to 2.1e-03 > tolerance
1e-04``, ``the signature is not all-numeric``; :func:`off_reason` gives the reasons acceleration
was not tried at all (switched off, a flavor without a converter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.inference.inputs import InputSpec

if TYPE_CHECKING:
    from modelplane.inference.runtime import ModelRuntime
    from modelplane.registry.records import ModelVersion

PROBA_TOL = 1e-4
REG_RTOL = 1e-4
MIN_SAMPLE = 20


def try_onnx(
    version: ModelVersion,
    model: Any,
    spec: InputSpec,
    classes: list[Any] | None,
    sample: Any,
    info: dict[str, Any],
) -> ModelRuntime | None:
    reason = _precondition(spec, sample)
    if reason is not None:
        info["onnx"] = {"used": False, "reason": reason}
        return None
    try:
        import onnxruntime as ort
    except ImportError as exc:
        info["onnx"] = {"used": False, "reason": f"onnxruntime not installed ({exc})"}
        return None
    try:
        from skl2onnx import to_onnx
    except ImportError as exc:
        info["onnx"] = {"used": False, "reason": f"skl2onnx not installed ({exc})"}
        return None
    classifier = version.signature.get("output_kind") == "classification" and bool(classes)
    X = np.asarray(sample, dtype=np.float64)
    fit_input = _fit_input(model, spec, X)
    errors = []
    for dtype in (np.float32, np.float64):
        try:
            options = {id(model): {"zipmap": False}} if classifier else None
            onx = to_onnx(
                model,
                X[:1].astype(dtype),
                options=options,
                target_opset={"": 17, "ai.onnx.ml": 3},
            )
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            session = ort.InferenceSession(
                onx.SerializeToString(), so, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # converters raise many types; any failure means "native"
            errors.append(
                f"conversion failed ({np.dtype(dtype).name}): {type(exc).__name__}: "
                f"{str(exc)[:200]}"
            )
            continue
        input_name = session.get_inputs()[0].name
        try:
            outputs = session.run(None, {input_name: X.astype(dtype)})
        except Exception as exc:  # a graph that converts but cannot run is not equivalent
            errors.append(
                f"the converted model failed ({np.dtype(dtype).name}): {type(exc).__name__}: "
                f"{str(exc)[:200]}"
            )
            continue
        verdict = _agrees(model, fit_input, outputs, classifier)
        if verdict is not True:
            errors.append(f"outputs differ ({np.dtype(dtype).name}): {verdict}")
            continue
        info["onnx"] = {"used": True, "dtype": np.dtype(dtype).name, "validated_rows": len(X)}
        info["runtime"] = "onnxruntime"
        return _runtime(version, spec, classes, session, input_name, dtype, classifier)
    info["onnx"] = {"used": False, "reason": "; ".join(errors)}
    return None


def off_reason(flavor: str, accelerate: bool) -> str | None:
    """Why ONNX Runtime is not even tried for a model of ``flavor`` (None: it is tried)."""
    if flavor == "onnx":
        return "the model is an ONNX graph already (served by onnxruntime)"
    if not accelerate:
        return "acceleration is off for this endpoint (accelerate: false)"
    if flavor != "sklearn":
        return f"the {flavor} flavor has no ONNX converter (only scikit-learn models are converted)"
    return None


def _precondition(spec: InputSpec, sample: Any) -> str | None:
    if not spec.numeric or not spec.columns:
        return "the signature is not all-numeric"
    if sample is None or not isinstance(sample, np.ndarray) or len(sample) < MIN_SAMPLE:
        return "no validation sample (register with an input example or a training dataset)"
    return None


def _fit_input(model: Any, spec: InputSpec, X: np.ndarray) -> Any:
    if getattr(model, "feature_names_in_", None) is not None:
        import pandas as pd

        return pd.DataFrame(X, columns=list(spec.columns))
    return X


def _agrees(model: Any, X: Any, outputs: list[Any], classifier: bool) -> bool | str:
    if classifier:
        labels = np.asarray(outputs[0]).ravel()
        expected = np.asarray(model.predict(X))
        if labels.shape != expected.shape or not np.array_equal(
            labels.astype(expected.dtype), expected
        ):
            mismatches = int((labels.astype(str) != expected.astype(str)).sum())
            return f"labels differ on {mismatches} of {len(expected)} validation rows"
        if len(outputs) > 1 and hasattr(model, "predict_proba"):
            diff = float(np.abs(np.asarray(outputs[1]) - model.predict_proba(X)).max())
            if diff > PROBA_TOL:
                return f"probabilities differ by up to {diff:.2e} > tolerance {PROBA_TOL:.0e}"
        return True
    values = np.asarray(outputs[0]).reshape(np.asarray(model.predict(X)).shape)
    expected = np.asarray(model.predict(X), dtype=np.float64)
    if not np.allclose(values, expected, rtol=REG_RTOL, atol=1e-6):
        return (
            f"values differ by up to {float(np.abs(values - expected).max()):.2e} > tolerance "
            f"(rtol {REG_RTOL:.0e})"
        )
    return True


def _runtime(
    version: ModelVersion,
    spec: InputSpec,
    classes: list[Any] | None,
    session: Any,
    input_name: str,
    dtype: Any,
    classifier: bool,
) -> ModelRuntime:
    from modelplane.inference.prediction import Prediction
    from modelplane.inference.runtime import ModelRuntime

    run = session.run

    def predict(X: Any) -> Any:
        return run(None, {input_name: np.asarray(X, dtype=dtype)})

    def predict_fn(X: Any) -> Any:
        out = predict(X)[0]
        return np.asarray(out).reshape(len(out), -1)[:, 0] if np.ndim(out) == 2 else out

    runtime = ModelRuntime(
        version=version,
        spec=spec,
        runtime="onnxruntime",
        predict_fn=predict_fn,
        proba_fn=None,
        classes=classes,
        labels_from_proba=False,
        feature_frame=False,
    )
    if classifier:

        def both(X: Any) -> Prediction:
            labels, proba = predict(X)[:2]
            return Prediction(np.asarray(labels).ravel(), np.asarray(proba))

        runtime.predict = both  # type: ignore[method-assign]
    return runtime
