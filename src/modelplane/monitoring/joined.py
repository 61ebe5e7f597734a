"""The prediction log joined to its labels: what export, quality and drift read.

:func:`labelled_frames` yields the log's frames (one row per prediction id, see
:mod:`modelplane.stores.predictions.base`) with two more columns, ``label`` and
``labelled_at`` (null where no label arrived), in bounded chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd

from modelplane.errors import InvalidInputError

if TYPE_CHECKING:
    from modelplane.monitoring.feedback import FeedbackService
    from modelplane.stores.predictions import PredictionLog


def labelled_frames(
    log: PredictionLog | None,
    feedback: FeedbackService,
    *,
    endpoint: str | None = None,
    since: float | None = None,
    until: float | None = None,
    chunk_rows: int = 100_000,
) -> Iterator[pd.DataFrame]:
    if log is None:
        raise InvalidInputError(
            "the prediction log is off (MODELPLANE_PREDICTION_LOG=off)", field="prediction_log"
        )
    for frame in log.frames(endpoint=endpoint, since=since, until=until, chunk_rows=chunk_rows):
        labels = feedback.labels(frame["prediction_id"].tolist())
        frame["label"] = pd.Series(
            [labels[p][0] if p in labels else None for p in frame["prediction_id"]],
            dtype=object,
            index=frame.index,
        )
        frame["labelled_at"] = pd.to_datetime(
            [labels[p][1] if p in labels else None for p in frame["prediction_id"]],
            unit="ms",
            utc=True,
        )
        yield frame


def empty_labelled() -> pd.DataFrame:
    """The columns of a joined frame, without rows."""
    from modelplane.stores.predictions.base import empty_frame

    frame = empty_frame()
    frame["label"] = pd.Series(dtype=object)
    frame["labelled_at"] = pd.Series(dtype="datetime64[ms, UTC]")
    return frame


def labelled(
    log: PredictionLog | None,
    feedback: FeedbackService,
    *,
    endpoint: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> pd.DataFrame:
    """Every matching prediction with its label, in one frame ordered by time."""
    parts = list(labelled_frames(log, feedback, endpoint=endpoint, since=since, until=until))
    if not parts:
        return empty_labelled()
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return frame.sort_values("time", kind="stable", ignore_index=True)


__all__ = ["empty_labelled", "labelled", "labelled_frames"]
