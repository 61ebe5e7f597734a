"""``LoadedModel``: what ``mp.load_model`` returns — the deserialised model plus its identity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelplane.errors import InvalidInputError

if TYPE_CHECKING:
    from modelplane.registry.records import ModelVersion


def as_frame(data: Any, columns: list[str] | None = None) -> Any:
    """Records (list of dicts) or columns (dict of lists) → DataFrame; arrays and frames pass."""
    if isinstance(data, (list, dict)):
        import pandas as pd

        if isinstance(data, dict):
            return pd.DataFrame(data)
        if data and isinstance(data[0], dict):
            return pd.DataFrame.from_records(data)
        if columns and data and isinstance(data[0], (list, tuple)):
            return pd.DataFrame(data, columns=columns)
        import numpy as np

        return np.asarray(data)
    return data


class LoadedModel:
    def __init__(self, model: Any, version: ModelVersion) -> None:
        self.raw = model
        self.version = version

    @property
    def name(self) -> str:
        return self.version.name

    @property
    def uri(self) -> str:
        return self.version.uri

    @property
    def signature(self) -> dict[str, Any]:
        return self.version.signature

    @property
    def flavor(self) -> str:
        return self.version.flavor

    def _input(self, data: Any) -> Any:
        names = [c["name"] for c in self.version.signature.get("inputs") or []]
        kind = self.version.signature.get("input_kind")
        frame = as_frame(data, names if kind == "dataframe" else None)
        return frame

    def predict(self, data: Any) -> Any:
        return self.raw.predict(self._input(data))

    def predict_proba(self, data: Any) -> Any:
        if not hasattr(self.raw, "predict_proba"):
            raise InvalidInputError(
                f"{self.version.uri} ({self.flavor}) has no predict_proba", field="method"
            )
        return self.raw.predict_proba(self._input(data))

    def __repr__(self) -> str:
        return f"LoadedModel({self.version.uri!r}, flavor={self.flavor!r})"
