"""The ``xgboost`` flavor: xgboost's scikit-learn wrappers and raw Boosters, in native JSON.

``model.json`` is written with ``save_model``; it carries the trees, the training parameters and,
for the scikit-learn wrappers, their metadata (estimator type, number of classes). :meth:`load`
builds an empty instance of the xgboost class that was saved (``XGBClassifier``, ``XGBRegressor``,
``XGBRanker``, ``XGBRFClassifier``, ``XGBRFRegressor`` or ``Booster``) and calls ``load_model``,
so ``XGBClassifier.predict`` returns class labels again, not probabilities. A user subclass of an
xgboost class is restored as its nearest xgboost base class (its extra Python code is not saved).
A ``Booster`` is restored as a ``Booster``: its ``predict`` takes a ``DMatrix``, as before.
"""

from __future__ import annotations

import pathlib
from typing import Any, ClassVar, Final

from modelplane.errors import FlavorError, needs_extra
from modelplane.registry.flavors.base import (
    Flavor,
    base_info,
    ensure_empty_directory,
    library_version,
    loaded_module,
    payload_file,
    target_file,
)

MODEL_FILE = "model.json"

XGBOOST_CLASSES: Final[frozenset[str]] = frozenset(
    {
        "XGBClassifier",
        "XGBRegressor",
        "XGBRanker",
        "XGBRFClassifier",
        "XGBRFRegressor",
        "XGBModel",
        "Booster",
    }
)
"""The xgboost classes :func:`restore_xgboost` may instantiate (looked up on the package)."""


def xgboost_class_name(obj: object) -> str | None:
    """The nearest class in ``obj``'s MRO that is one of :data:`XGBOOST_CLASSES`, or None."""
    for cls in type(obj).__mro__:
        if cls.__module__.startswith("xgboost") and cls.__name__ in XGBOOST_CLASSES:
            return cls.__name__
    return None


def restore_xgboost(path: pathlib.Path, class_name: str) -> object:
    """A new ``xgboost.<class_name>`` with ``load_model(path)`` applied.

    ``class_name`` may be a bare name or a dotted path such as ``xgboost.sklearn.XGBClassifier``
    (as MLflow records it); only names in :data:`XGBOOST_CLASSES` under the ``xgboost`` package
    are accepted, nothing else is imported.
    """
    module_part, _, bare = str(class_name).rpartition(".")
    if bare not in XGBOOST_CLASSES or (module_part and module_part.split(".")[0] != "xgboost"):
        raise FlavorError(
            f"unsupported xgboost model class {class_name!r}; "
            f"expected one of {', '.join(sorted(XGBOOST_CLASSES))}",
            field="model_class",
        )
    try:
        import xgboost
    except ImportError as exc:
        raise needs_extra("loading an xgboost model", "xgboost", "xgboost") from exc
    try:
        model = getattr(xgboost, bare)()
        model.load_model(str(path))
    except Exception as exc:
        raise FlavorError(f"cannot load the xgboost model: {exc}") from exc
    return model


class XGBoostFlavor(Flavor):
    """``xgboost.XGBModel`` subclasses and ``xgboost.Booster``."""

    name: ClassVar[str] = "xgboost"

    def can_handle(self, obj: object) -> bool:
        xgb = loaded_module("xgboost")
        if xgb is None:
            return False
        return isinstance(obj, (xgb.XGBModel, xgb.Booster))

    def save(self, obj: object, directory: pathlib.Path) -> dict[str, Any]:
        class_name = xgboost_class_name(obj) if self.can_handle(obj) else None
        if class_name is None:
            raise FlavorError(f"the xgboost flavor cannot save a {type(obj).__name__}")
        import xgboost

        path = target_file(ensure_empty_directory(directory), MODEL_FILE)
        try:
            obj.save_model(str(path))  # type: ignore[attr-defined]
        except Exception as exc:
            raise FlavorError(f"cannot save the xgboost model: {exc}") from exc
        info = base_info(obj, [MODEL_FILE], library_version(xgboost))
        info["xgboost_class"] = class_name
        info["model_format"] = "json"
        return info

    def load(self, directory: pathlib.Path, info: dict[str, Any]) -> object:
        path = payload_file(directory, MODEL_FILE)
        class_name = info.get("xgboost_class")
        if not isinstance(class_name, str):
            raise FlavorError("xgboost flavor_info has no 'xgboost_class'", field="xgboost_class")
        return restore_xgboost(path, class_name)
