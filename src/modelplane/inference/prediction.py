"""What a model answers for a batch of rows: outputs (labels or values) and, for classifiers,
probabilities; with the slicing and joining the batcher needs to split and reassemble batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Prediction:
    outputs: np.ndarray
    probabilities: np.ndarray | None = None

    def slice(self, start: int, stop: int) -> Prediction:
        proba = None if self.probabilities is None else self.probabilities[start:stop]
        return Prediction(self.outputs[start:stop], proba)


def join(preds: list[Prediction]) -> Prediction:
    """Predictions of consecutive chunks of rows as one."""
    outputs = np.concatenate([p.outputs for p in preds])
    if any(p.probabilities is None for p in preds):
        return Prediction(outputs)
    return Prediction(
        outputs, np.concatenate([p.probabilities for p in preds if p.probabilities is not None])
    )


__all__ = ["Prediction", "join"]
