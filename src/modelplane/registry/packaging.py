"""A model as the flat folder of files a version is made of, before anything is recorded.

:func:`save_object` writes a Python model object with its flavor, infers its signature and keeps
the input example; :func:`save_mlflow_directory` does the same for an MLflow model directory
(``MLmodel`` + payload). The remote client uploads such a folder and the server records it
without deserialising anything; a registry that records folders it saved itself needs the same
two steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelplane.errors import FlavorError
from modelplane.registry.examples import INPUT_EXAMPLE, save_example


@dataclass(frozen=True)
class SavedModel:
    """What a version records besides its files: the flavor and its info, the signature, and
    the tags the source implies (an import is tagged ``source: mlflow``)."""

    flavor: str
    flavor_info: dict[str, Any]
    signature: dict[str, Any]
    tags: dict[str, Any] = field(default_factory=dict)


def with_pii(saved: SavedModel, columns: Sequence[str]) -> SavedModel:
    """``saved`` with the input ``columns`` marked as personal data in its signature (unknown
    names are refused, naming them); the local registry and the remote client both call it."""
    if not columns:
        return saved
    from modelplane.registry.signature import mark_pii

    return replace(saved, signature=mark_pii(saved.signature, columns))


def local_model_source(source: str | Path) -> Path:
    """``source`` as a local directory, or a FlavorError saying what to pass instead."""
    text = str(source)
    if "://" in text or text.startswith("models:"):
        raise FlavorError(
            f"model source {text[:100]!r} is a URI; pass a model object or a local MLflow "
            "model directory (models:/ URIs are loaded with load_model, not registered)",
            field="model",
        )
    path = Path(text)
    if not path.is_dir():
        raise FlavorError(
            f"model source {text[:100]!r} is not a directory: pass a model object or a "
            "local MLflow model directory (a folder with an MLmodel file)",
            field="model",
        )
    return path


def save_object(model: Any, X_example: Any, folder: Path) -> SavedModel:
    """Save ``model`` with the first flavor that handles it, plus up to 100 example rows."""
    from modelplane.registry.flavors import flavor_for
    from modelplane.registry.signature import infer_signature

    flavor = flavor_for(model)
    signature = infer_signature(model, X_example).to_dict()
    info = flavor.save(model, folder)
    if save_example(X_example, signature, folder / INPUT_EXAMPLE):
        info["input_example"] = INPUT_EXAMPLE
    return SavedModel(flavor.name, info, signature)


def save_mlflow_directory(source: str | Path, folder: Path) -> SavedModel:
    """Load the MLflow model in the local directory ``source`` and save it with our flavor."""
    # Imported here: the importer needs numpy and PyYAML, which plain registrations do not.
    from modelplane.registry.flavors import get_flavor
    from modelplane.registry.mlflow_import import read_mlflow_model
    from modelplane.registry.signature import Signature

    spec = read_mlflow_model(local_model_source(source))
    flavor = get_flavor(spec.flavor)
    info = flavor.save(spec.model, folder)
    info["imported_from"] = {"format": "mlflow", **_small(spec.info)}
    signature = (spec.signature or Signature.from_dict({})).to_dict()
    return SavedModel(flavor.name, info, signature, {"source": "mlflow"})


def _small(info: Mapping[str, Any]) -> dict[str, Any]:
    """Only the JSON-friendly scalar facts of an imported model's metadata."""
    return {
        k: v
        for k, v in info.items()
        if isinstance(v, (str, int, float, bool)) and len(str(v)) < 500
    }
