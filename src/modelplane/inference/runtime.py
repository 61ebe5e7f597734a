"""A model version made ready to serve: one ``predict`` that returns outputs and probabilities.

:func:`load_runtime` loads the version through the registry (checksums verified), then — for
scikit-learn models with a numeric signature — tries ONNX Runtime (:mod:`.accel`): the converted
graph is used only when it agrees with the original on a validation sample. Which runtime serves
is recorded in :attr:`ModelRuntime.info` and shown in model metadata.

Classifiers answer labels *and* probabilities from one pass: for the native path, labels are
``classes_[argmax(proba)]`` when that equals the model's own ``predict`` on the sample (true for
scikit-learn's standard classifiers), else both methods run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.inference.inputs import InputSpec
from modelplane.inference.prediction import Prediction

if TYPE_CHECKING:
    from modelplane.registry.loaded import LoadedModel
    from modelplane.registry.records import ModelVersion
    from modelplane.registry.service import RegistryService


@dataclass
class ModelRuntime:
    """What the server calls per batch. ``predict`` takes a 2-D array or a DataFrame."""

    version: ModelVersion
    spec: InputSpec
    runtime: str
    predict_fn: Any
    proba_fn: Any | None
    classes: list[Any] | None
    labels_from_proba: bool
    feature_frame: bool
    info: dict[str, Any] = field(default_factory=dict)
    load_seconds: float = 0.0
    load_error: str | None = None  # set on a stand-in for a version that could not load

    @property
    def name(self) -> str:
        return self.version.name

    @property
    def model_id(self) -> str:
        return f"{self.version.name}/{self.version.version}"

    def _prepare(self, X: Any) -> Any:
        if self.feature_frame and isinstance(X, np.ndarray):
            import pandas as pd

            return pd.DataFrame(X, columns=list(self.spec.columns))
        return X

    def predict(self, X: Any) -> Prediction:
        X = self._prepare(X)
        if self.proba_fn is None:
            return Prediction(np.asarray(self.predict_fn(X)))
        proba = np.asarray(self.proba_fn(X))
        if self.labels_from_proba and self.classes is not None:
            labels = np.asarray(self.classes, dtype=object if _has_str(self.classes) else None)[
                proba.argmax(axis=1)
            ]
        else:
            labels = np.asarray(self.predict_fn(X))
        return Prediction(labels, proba)


def unloaded_runtime(version: ModelVersion, reason: str) -> ModelRuntime:
    """A stand-in for a version that failed to load: its signature (so requests are still
    validated) and the reason; calling it raises. An endpoint with a fallback serves through the
    fallback rather than not at all."""

    def refuse(X: Any) -> Any:
        raise RuntimeError(f"model {version.name}/{version.version} is not loaded: {reason}")

    return ModelRuntime(
        version=version,
        spec=InputSpec.from_signature(version.signature),
        runtime="not_loaded",
        predict_fn=refuse,
        proba_fn=None,
        classes=_classes(None, version),
        labels_from_proba=False,
        feature_frame=False,
        info={"runtime": "not_loaded", "load_error": reason},
        load_error=reason,
    )


def _has_str(values: list[Any]) -> bool:
    return any(isinstance(v, str) for v in values)


def example_rows(version: ModelVersion, loaded: LoadedModel, folder: Any) -> Any:
    """The version's stored input example (if any) as the serving input shape."""
    name = version.flavor_info.get("input_example")
    if not name:
        return None
    import pandas as pd

    path = folder / name
    if not path.is_file():
        return None
    return pd.read_parquet(path)


def load_runtime(
    registry: RegistryService, version: ModelVersion, *, accelerate: bool = True
) -> ModelRuntime:
    start = time.perf_counter()
    loaded = registry.load(version)
    model = loaded.raw
    spec = InputSpec.from_signature(version.signature)
    info: dict[str, Any] = {"flavor": version.flavor}
    sample = validation_sample(registry, version, spec)
    classes = _classes(model, version)
    runtime = _native(version, model, spec, classes, sample, info)
    from modelplane.inference.accel import off_reason, try_onnx

    off = off_reason(version.flavor, accelerate)
    if off is not None:
        info["onnx"] = {"used": version.flavor == "onnx", "reason": off}
    else:
        accelerated = try_onnx(version, model, spec, classes, sample, info)
        if accelerated is not None:
            runtime = accelerated
    runtime.info = info
    if sample is not None and len(sample):
        runtime.predict(sample[: min(len(sample), 8)])  # warm-up: first calls allocate
    runtime.load_seconds = time.perf_counter() - start
    info["load_seconds"] = round(runtime.load_seconds, 4)
    return runtime


def _classes(model: Any, version: ModelVersion) -> list[Any] | None:
    classes = getattr(model, "classes_", None)
    if classes is not None:
        return [c.item() if hasattr(c, "item") else c for c in classes]
    sig = version.signature.get("classes")
    return list(sig) if sig else None


def _native(
    version: ModelVersion,
    model: Any,
    spec: InputSpec,
    classes: list[Any] | None,
    sample: Any,
    info: dict[str, Any],
) -> ModelRuntime:
    feature_frame = bool(getattr(model, "feature_names_in_", None) is not None and spec.columns)
    proba = getattr(model, "predict_proba", None)
    is_classifier = version.signature.get("output_kind") == "classification" and classes
    labels_from_proba = False
    if proba is not None and is_classifier and sample is not None and len(sample):
        X = sample
        if feature_frame and isinstance(X, np.ndarray):
            import pandas as pd

            X = pd.DataFrame(X, columns=list(spec.columns))
        try:
            p = np.asarray(proba(X))
            derived = np.asarray(classes)[p.argmax(axis=1)]
            labels_from_proba = bool(np.array_equal(derived, np.asarray(model.predict(X))))
        except Exception:  # the sample is only a probe; serving falls back to two calls
            labels_from_proba = False
    info["runtime"] = version.flavor
    return ModelRuntime(
        version=version,
        spec=spec,
        runtime=version.flavor,
        predict_fn=model.predict,
        proba_fn=proba if (proba is not None and is_classifier) else None,
        classes=classes,
        labels_from_proba=labels_from_proba,
        feature_frame=feature_frame,
    )


def validation_sample(registry: RegistryService, version: ModelVersion, spec: InputSpec) -> Any:
    """Rows to validate an accelerated runtime and to warm up with, in serving input shape.

    The stored input example, plus up to 1,000 rows of the training dataset recorded in the
    version's lineage, plus noisy copies of the example rows (to probe decision boundaries).
    None when neither exists.
    """
    frames = []
    folder = registry.fetch(version)
    example = example_rows(version, None, folder)  # type: ignore[arg-type]
    if example is not None:
        frames.append(example)
    for ds in version.datasets:
        try:
            from modelplane.data.service import DatasetService

            svc = DatasetService(registry.meta, registry.artifacts, registry.audit, registry.actor)
            df = svc.load(ds["name"], ds["version"])
        except Exception:  # a missing or unreadable dataset only means a smaller sample
            continue
        if all(c in df.columns for c in spec.columns):
            frames.append(df[list(spec.columns)].head(1000))
    if not frames:
        return None
    import pandas as pd

    data = pd.concat(frames, ignore_index=True)
    if spec.columns:
        data = data[list(spec.columns)]
    if spec.numeric and spec.columns:
        arr = data.to_numpy(dtype=np.float64)
        if example is not None and len(example) > 1:
            rng = np.random.default_rng(0)
            base = example[list(spec.columns)].to_numpy(dtype=np.float64)
            scale = base.std(axis=0) + 1e-9
            noisy = (
                base[rng.integers(0, len(base), 500)]
                + rng.normal(0, 1, (500, base.shape[1])) * scale
            )
            arr = np.vstack([arr, noisy])
        return arr[np.isfinite(arr).all(axis=1)]
    return data
