"""The prediction log: every answered prediction, durably, with its inputs and outputs.

One abstract base (:class:`~modelplane.stores.predictions.base.PredictionLog`) and two backends:
append-only SQLite segment files under ``<home>/predictions`` (the embedded default,
:mod:`.segments`) and the metadata database's ``predictions`` table on PostgreSQL
(:mod:`.database`). :func:`open_prediction_log` picks one from the settings.
"""

from modelplane.stores.predictions.base import (
    LOG_MODES,
    LoggedPrediction,
    PredictionLog,
    open_prediction_log,
    split_id,
)

__all__ = ["LOG_MODES", "LoggedPrediction", "PredictionLog", "open_prediction_log", "split_id"]
