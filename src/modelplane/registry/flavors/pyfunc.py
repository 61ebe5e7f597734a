"""The ``pyfunc`` flavor: any other Python object with a callable ``predict``, via cloudpickle.

``model.pkl`` is written with ``cloudpickle.dump``: classes defined in ``__main__`` or in a
notebook are pickled by value; classes from importable modules by reference, so those modules
must be importable where the model is loaded. cloudpickle files are pickles: load only
directories this process (or a trusted registry) wrote.
"""

from __future__ import annotations

import pathlib
import types
from typing import Any, ClassVar

from modelplane.errors import FlavorError
from modelplane.registry.flavors.base import (
    Flavor,
    base_info,
    ensure_empty_directory,
    library_version,
    payload_file,
    target_file,
)

MODEL_FILE = "model.pkl"


class PyfuncFlavor(Flavor):
    """Any instance with a callable ``predict`` attribute (classes and modules excluded)."""

    name: ClassVar[str] = "pyfunc"

    def can_handle(self, obj: object) -> bool:
        if isinstance(obj, (type, types.ModuleType)):
            return False
        return callable(getattr(obj, "predict", None))

    def save(self, obj: object, directory: pathlib.Path) -> dict[str, Any]:
        if not self.can_handle(obj):
            raise FlavorError(
                f"the pyfunc flavor needs an object with a callable predict(), "
                f"got {type(obj).__name__}"
            )
        import cloudpickle

        path = target_file(ensure_empty_directory(directory), MODEL_FILE)
        try:
            with path.open("wb") as out:
                cloudpickle.dump(obj, out)
        except Exception as exc:
            raise FlavorError(f"cannot pickle the model: {exc}") from exc
        info = base_info(obj, [MODEL_FILE], library_version(cloudpickle))
        info["serialization"] = "cloudpickle"
        info["has_predict_proba"] = callable(getattr(obj, "predict_proba", None))
        return info

    def load(self, directory: pathlib.Path, info: dict[str, Any]) -> object:
        path = payload_file(directory, MODEL_FILE)
        import cloudpickle

        try:
            with path.open("rb") as src:
                return cloudpickle.load(src)
        except Exception as exc:
            raise FlavorError(f"cannot unpickle the model: {exc}") from exc
