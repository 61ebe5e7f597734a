"""The ``sklearn`` flavor: scikit-learn estimators (pipelines included), saved with joblib.

``model.joblib`` is written with ``joblib.dump(compress=0)`` and read back with ``joblib.load``,
so the loaded object is the very estimator class that was saved. joblib files are pickles: load
only directories this process (or a trusted registry) wrote.
"""

from __future__ import annotations

import pathlib
from typing import Any, ClassVar

from modelplane.errors import FlavorError
from modelplane.registry.flavors.base import (
    Flavor,
    base_info,
    ensure_empty_directory,
    library_version,
    loaded_module,
    payload_file,
    target_file,
)

MODEL_FILE = "model.joblib"


class SklearnFlavor(Flavor):
    """scikit-learn estimators, including ``Pipeline`` and other meta-estimators."""

    name: ClassVar[str] = "sklearn"

    def can_handle(self, obj: object) -> bool:
        base = loaded_module("sklearn.base")
        return base is not None and isinstance(obj, base.BaseEstimator)

    def save(self, obj: object, directory: pathlib.Path) -> dict[str, Any]:
        if not self.can_handle(obj):
            raise FlavorError(f"the sklearn flavor cannot save a {type(obj).__name__}")
        import joblib
        import sklearn

        path = target_file(ensure_empty_directory(directory), MODEL_FILE)
        try:
            joblib.dump(obj, path, compress=0)
        except Exception as exc:
            raise FlavorError(f"cannot save the scikit-learn model: {exc}") from exc
        info = base_info(obj, [MODEL_FILE], library_version(sklearn))
        info["serialization"] = "joblib"
        return info

    def load(self, directory: pathlib.Path, info: dict[str, Any]) -> object:
        path = payload_file(directory, MODEL_FILE)
        import joblib

        try:
            return joblib.load(path)
        except Exception as exc:
            raise FlavorError(f"cannot load the scikit-learn model: {exc}") from exc
