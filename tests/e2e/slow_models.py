"""Model classes the end-to-end tests register as pyfunc models.

The server subprocess imports this module by name (``slow_models``: ``tests/e2e`` is on its
``PYTHONPATH``), because cloudpickle stores classes of importable modules by reference.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

SLOW_SECONDS = 0.2


def _rows(X: Any) -> int:
    return len(X)


class SlowModel:
    """Answers 0 for every row, after sleeping ``SLOW_SECONDS`` per call."""

    def __init__(self, seconds: float = SLOW_SECONDS) -> None:
        self.seconds = seconds

    def predict(self, X: Any) -> np.ndarray:
        time.sleep(self.seconds)
        return np.zeros(_rows(X), dtype=np.int64)


class FailingModel:
    """Raises on every call to predict but the first after loading.

    That first call is the server's warm-up on the input example: a model failing its warm-up is
    refused at load time (see :class:`AlwaysFailingModel`), so this one gets served and then fails
    every request (a model failure, never the caller's fault).
    """

    def __init__(self) -> None:
        self.calls = 0

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.calls = 0

    def predict(self, X: Any) -> np.ndarray:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("the failing model failed on purpose")
        return np.zeros(_rows(X), dtype=np.int64)


class AlwaysFailingModel:
    """Raises on every call, its warm-up included."""

    def predict(self, X: Any) -> np.ndarray:
        raise RuntimeError("the always failing model failed on purpose")


class UnloadableModel:
    """Pickles fine and predicts fine here, but cannot be unpickled (by the server)."""

    def predict(self, X: Any) -> np.ndarray:
        return np.ones(_rows(X), dtype=np.int64)

    def __getstate__(self) -> dict[str, Any]:
        return {"poison": True}

    def __setstate__(self, state: dict[str, Any]) -> None:
        raise RuntimeError("this model version cannot be loaded (on purpose)")
