"""The flavor table: which :class:`~modelplane.registry.flavors.base.Flavor` saves which model.

Flavors are listed by name as ``"module:Class"`` strings and imported on first use, so importing
this package never imports scikit-learn, xgboost, lightgbm, onnxruntime or pandas. Detection
(:func:`flavor_for`) never imports a library either: an object of a library's class can only
exist once that library has been imported.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import Final

from modelplane.errors import FlavorError
from modelplane.registry.flavors.base import Flavor

FLAVORS: Final[MappingProxyType[str, str]] = MappingProxyType(
    {
        "onnx": "modelplane.registry.flavors.onnx:OnnxFlavor",
        "xgboost": "modelplane.registry.flavors.xgboost:XGBoostFlavor",
        "lightgbm": "modelplane.registry.flavors.lightgbm:LightGBMFlavor",
        "sklearn": "modelplane.registry.flavors.sklearn:SklearnFlavor",
        "pyfunc": "modelplane.registry.flavors.pyfunc:PyfuncFlavor",
    }
)
"""Flavor name -> ``"module:Class"``; the order is the detection order of :func:`flavor_for`."""

FLAVOR_NAMES: Final[tuple[str, ...]] = tuple(FLAVORS)

_ACCEPTED: Final[str] = (
    "an onnx.ModelProto, an xgboost XGBModel or Booster, a lightgbm LGBMModel or Booster, "
    "a scikit-learn estimator (including a Pipeline), or any object with a callable predict()"
)


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``; an unknown name raises FlavorError."""
    target = FLAVORS.get(name) if isinstance(name, str) else None
    if target is None:
        raise FlavorError(
            f"unknown flavor {name!r}; known flavors: {', '.join(FLAVOR_NAMES)}", field="flavor"
        )
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    flavor_class: type[Flavor] = getattr(module, class_name)
    return flavor_class()


def flavor_for(obj: object) -> Flavor:
    """The first flavor (onnx, xgboost, lightgbm, sklearn, pyfunc) that can save ``obj``."""
    for name in FLAVOR_NAMES:
        flavor = get_flavor(name)
        if flavor.can_handle(obj):
            return flavor
    cls = type(obj)
    raise FlavorError(
        f"no flavor can handle an object of type {cls.__module__}.{cls.__qualname__}; "
        f"accepted: {_ACCEPTED}",
        field="model",
    )


__all__ = ["FLAVORS", "FLAVOR_NAMES", "Flavor", "flavor_for", "get_flavor"]
