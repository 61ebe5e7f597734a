"""The ``lightgbm`` flavor: lightgbm Boosters and scikit-learn wrappers, as booster text.

Only ``model.txt`` (``Booster.save_model``: the trees, the objective, feature names and pandas
categories) is written, never a pickle; ``flavor_info`` adds what the scikit-learn wrapper needs
on top of the booster: the wrapper kind, ``classes_`` with their dtype, and whether the
objective was a Python callable.

:meth:`LightGBMFlavor.load` rebuilds the wrapper's behaviour from that, without pickles:

* a saved ``Booster`` comes back as a ``lightgbm.Booster``;
* an ``LGBMClassifier`` comes back as a :class:`LightGBMClassifierModel` whose ``predict_proba``
  is the booster's output (two columns ``[1 - p, p]`` for binary tasks) and whose ``predict``
  maps the arg-max back to the original ``classes_`` (string labels included);
* an ``LGBMRegressor``, ``LGBMRanker`` or ``LGBMModel`` comes back as a :class:`LightGBMModel`
  whose ``predict`` is the booster's output.

This matches the wrappers' ``predict``/``predict_proba`` called with default arguments. Caveats:
prediction-time keyword arguments given to the wrapper's constructor (for example
``predict_disable_shape_check``) are not carried over, and the rebuilt object is not an
``LGBMModel`` instance (no ``fit``).
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, ClassVar, Final

from modelplane.errors import FlavorError, InvalidInputError, SchemaValidationError, needs_extra
from modelplane.registry.flavors.base import (
    Flavor,
    base_info,
    ensure_empty_directory,
    library_version,
    loaded_module,
    payload_file,
    target_file,
)

MODEL_FILE = "model.txt"
KINDS: Final[frozenset[str]] = frozenset({"booster", "classifier", "regressor", "ranker", "model"})


class LightGBMModel:
    """A lightgbm booster with the ``predict`` of lightgbm's scikit-learn wrappers."""

    def __init__(self, booster: Any, kind: str, *, custom_objective: bool = False) -> None:
        self.booster_ = booster
        self.kind = kind
        self.custom_objective = custom_objective
        self.n_features_in_: int = int(booster.num_feature())

    def _raw(self, X: Any) -> Any:
        import numpy as np

        if isinstance(X, (str, bytes, os.PathLike)):
            raise InvalidInputError("predict() takes data, not a file name", field="X")
        pandas = loaded_module("pandas")
        sparse = loaded_module("scipy.sparse")
        if (pandas is not None and isinstance(X, pandas.DataFrame)) or (
            sparse is not None and sparse.issparse(X)
        ):
            data = X
        else:
            data = np.asarray(X)
            if data.dtype == object:
                data = data.astype(np.float64)
            if data.ndim != 2:
                raise SchemaValidationError(
                    f"expected a 2-D input with {self.n_features_in_} columns, "
                    f"got an array of shape {data.shape}",
                    field="X",
                )
        return self.booster_.predict(data, validate_features=False)

    def predict(self, X: Any) -> Any:
        """What ``LGBMRegressor.predict`` / ``LGBMRanker.predict`` returns."""
        return self._raw(X)


class LightGBMClassifierModel(LightGBMModel):
    """A lightgbm booster with the ``predict``/``predict_proba`` of ``LGBMClassifier``."""

    def __init__(self, booster: Any, classes: Any, *, custom_objective: bool = False) -> None:
        super().__init__(booster, "classifier", custom_objective=custom_objective)
        self.classes_ = classes
        self.n_classes_ = len(classes)

    def predict_proba(self, X: Any) -> Any:
        """What ``LGBMClassifier.predict_proba`` returns (raw scores for a custom objective)."""
        import numpy as np

        result = self._raw(X)
        if self.custom_objective or self.n_classes_ > 2:
            return result
        return np.vstack((1.0 - result, result)).transpose()

    def predict(self, X: Any) -> Any:
        """What ``LGBMClassifier.predict`` returns: labels from ``classes_``."""
        import numpy as np

        result = self.predict_proba(X)
        if self.custom_objective:
            return result
        return self.classes_[np.argmax(result, axis=1)]


def _describe(obj: object) -> tuple[Any, str, Any, bool]:
    """``(booster, kind, classes_ or None, custom_objective)`` of a saveable lightgbm object."""
    if isinstance(obj, LightGBMModel):
        return obj.booster_, obj.kind, getattr(obj, "classes_", None), obj.custom_objective
    import lightgbm

    if isinstance(obj, lightgbm.Booster):
        return obj, "booster", None, False
    try:
        booster = obj.booster_  # type: ignore[attr-defined]
        objective = obj.objective_  # type: ignore[attr-defined]
    except Exception as exc:
        raise FlavorError(f"cannot save an unfitted {type(obj).__name__}: {exc}") from exc
    if isinstance(obj, lightgbm.LGBMClassifier):
        return booster, "classifier", obj.classes_, callable(objective)
    if isinstance(obj, lightgbm.LGBMRanker):
        return booster, "ranker", None, callable(objective)
    if isinstance(obj, lightgbm.LGBMRegressor):
        return booster, "regressor", None, callable(objective)
    return booster, "model", None, callable(objective)


def _plain_classes(classes: Any) -> tuple[list[Any], str]:
    import numpy as np

    array = np.asarray(classes)
    values = array.tolist()
    if not all(isinstance(v, (str, int, float, bool)) for v in values):
        raise FlavorError("lightgbm classes_ must be strings, numbers or booleans")
    return values, array.dtype.str if array.dtype != object else "object"


def _restore_classes(info: dict[str, Any]) -> Any:
    import numpy as np

    classes = info.get("classes")
    if not isinstance(classes, list) or not classes:
        raise FlavorError("lightgbm flavor_info of a classifier has no 'classes'", field="classes")
    try:
        dtype = np.dtype(str(info.get("classes_dtype", "object")))
        return np.asarray(classes, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise FlavorError(f"invalid lightgbm classes in flavor_info: {exc}") from exc


class LightGBMFlavor(Flavor):
    """``lightgbm.LGBMModel`` subclasses, ``lightgbm.Booster``, and :class:`LightGBMModel`."""

    name: ClassVar[str] = "lightgbm"

    def can_handle(self, obj: object) -> bool:
        if isinstance(obj, LightGBMModel):
            return True
        lgb = loaded_module("lightgbm")
        if lgb is None:
            return False
        return isinstance(obj, (lgb.LGBMModel, lgb.Booster))

    def save(self, obj: object, directory: pathlib.Path) -> dict[str, Any]:
        if not self.can_handle(obj):
            raise FlavorError(f"the lightgbm flavor cannot save a {type(obj).__name__}")
        booster, kind, classes, custom_objective = _describe(obj)
        import lightgbm

        path = target_file(ensure_empty_directory(directory), MODEL_FILE)
        try:
            booster.save_model(str(path))
        except Exception as exc:
            raise FlavorError(f"cannot save the lightgbm model: {exc}") from exc
        info = base_info(obj, [MODEL_FILE], library_version(lightgbm))
        info.update(kind=kind, custom_objective=custom_objective, model_format="text")
        if classes is not None:
            info["classes"], info["classes_dtype"] = _plain_classes(classes)
        return info

    def load(self, directory: pathlib.Path, info: dict[str, Any]) -> object:
        path = payload_file(directory, MODEL_FILE)
        kind = info.get("kind")
        if kind not in KINDS:
            raise FlavorError(f"invalid lightgbm model kind {kind!r} in flavor_info", field="kind")
        custom_objective = bool(info.get("custom_objective", False))
        classes = _restore_classes(info) if kind == "classifier" else None
        try:
            import lightgbm
        except ImportError as exc:
            raise needs_extra("loading a lightgbm model", "lightgbm", "lightgbm") from exc
        try:
            booster = lightgbm.Booster(model_file=str(path))
        except Exception as exc:
            raise FlavorError(f"cannot load the lightgbm model: {exc}") from exc
        if kind == "booster":
            return booster
        if kind == "classifier":
            return LightGBMClassifierModel(booster, classes, custom_objective=custom_objective)
        return LightGBMModel(booster, str(kind), custom_objective=custom_objective)
