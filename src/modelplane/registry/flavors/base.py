"""The :class:`Flavor` contract and the helpers every flavor shares.

A flavor knows how to write one kind of model object into a directory and read it back. It owns
the file names it writes (only names from :data:`MODEL_FILE_NAMES`), and the ``flavor_info`` dict
it returns from :meth:`Flavor.save` is the only thing :meth:`Flavor.load` gets besides the
directory. This module imports nothing heavier than the standard library.
"""

from __future__ import annotations

import abc
import pathlib
import platform
import sys
from typing import Any, ClassVar, Final

from modelplane.errors import FlavorError

MODEL_FILE_NAMES: Final[frozenset[str]] = frozenset(
    {"model.joblib", "model.json", "model.txt", "model.onnx", "model.pkl"}
)
"""The only file names a flavor may write into or read from a model directory."""


class Flavor(abc.ABC):
    """Saves and loads one family of model objects.

    Flavors are stateless: :func:`modelplane.registry.flavors.get_flavor` hands out a new instance
    each time, and an instance may be used from several threads.
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def can_handle(self, obj: object) -> bool:
        """Whether ``obj`` is a model this flavor can save.

        Never imports a library that is not imported yet: an object of a library's class can only
        exist once that library is imported, so ``sys.modules`` is checked first.
        """

    @abc.abstractmethod
    def save(self, obj: object, directory: pathlib.Path) -> dict[str, Any]:
        """Write ``obj`` into the existing, empty local ``directory``; return its ``flavor_info``.

        The returned dict is JSON-serialisable and holds at least ``files``, ``library_version``
        and ``model_class``.
        """

    @abc.abstractmethod
    def load(self, directory: pathlib.Path, info: dict[str, Any]) -> object:
        """Read back a model saved by :meth:`save` into ``directory`` with ``info``.

        The result has ``predict(X)`` giving what the saved object's ``predict`` gave, and
        ``predict_proba(X)`` when the saved object had one.
        """


def qualified_class_name(obj: object) -> str:
    """``module.QualName`` of ``obj``'s class."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def loaded_module(name: str) -> Any:
    """The module ``name`` if it is already imported, else ``None`` (never imports it)."""
    return sys.modules.get(name)


def library_version(module: Any) -> str:
    """``module.__version__`` as a string, or ``"unknown"``."""
    return str(getattr(module, "__version__", "unknown"))


def base_info(obj: object, files: list[str], version: str) -> dict[str, Any]:
    """The keys every ``flavor_info`` carries."""
    return {
        "files": list(files),
        "library_version": version,
        "model_class": qualified_class_name(obj),
        "python_version": platform.python_version(),
    }


def ensure_empty_directory(directory: pathlib.Path) -> pathlib.Path:
    """Return ``directory`` if it is an existing, empty local directory, else raise FlavorError."""
    path = pathlib.Path(directory)
    if not path.is_dir():
        raise FlavorError(f"cannot save a model into {str(path)!r}: not an existing directory")
    if any(path.iterdir()):
        raise FlavorError(f"cannot save a model into {str(path)!r}: the directory is not empty")
    return path


def target_file(directory: pathlib.Path, file_name: str) -> pathlib.Path:
    """The path a flavor writes ``file_name`` to; ``file_name`` must be a fixed safe name."""
    if file_name not in MODEL_FILE_NAMES:
        raise FlavorError(f"refusing to write model file {file_name!r}: not an allowed name")
    return pathlib.Path(directory) / file_name


def payload_file(directory: pathlib.Path, file_name: str) -> pathlib.Path:
    """The regular file ``file_name`` inside ``directory``, else FlavorError."""
    path = target_file(directory, file_name)
    if path.is_symlink() or not path.is_file():
        raise FlavorError(
            f"model directory {str(directory)!r} has no regular file {file_name!r}",
            field="files",
        )
    return path


__all__ = [
    "MODEL_FILE_NAMES",
    "Flavor",
    "base_info",
    "ensure_empty_directory",
    "library_version",
    "loaded_module",
    "payload_file",
    "qualified_class_name",
    "target_file",
]
