"""The ``Run`` handle returned by ``mp.start_run``: a context manager bound to one run id.

There is no global "active run": the handle is passed explicitly (``run=run``), so threads and
async tasks never share hidden state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from modelplane.tracking.records import MetricPoint, RunInfo

if TYPE_CHECKING:
    from modelplane.data.records import DatasetVersion
    from modelplane.tracking.service import TrackingService


class Run:
    def __init__(self, service: TrackingService, info: RunInfo) -> None:
        self._service = service
        self._info = info
        self._ended = False

    @property
    def id(self) -> str:
        return self._info.id

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def experiment(self) -> str:
        return self._info.experiment

    @property
    def info(self) -> RunInfo:
        """A fresh snapshot of the run (params, latest metrics, tags, datasets)."""
        return self._service.get_run(self.id)

    def log_param(self, key: str, value: Any) -> None:
        self._service.log_params(self.id, {key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._service.log_params(self.id, params)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self._service.log_metrics(self.id, {key: value}, step=step)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        self._service.log_metrics(self.id, metrics, step=step)

    def log_batch(self, points: Iterable[tuple[str, Any, int | None, int | None]]) -> int:
        """Many (key, value, step, timestamp) points in one transaction."""
        return self._service.log_batch(self.id, points)

    def log_series(self, key: str, values: Iterable[Any], start_step: int = 0) -> int:
        """A whole series of one metric (e.g. a loss curve) in one transaction."""
        return self._service.log_batch(
            self.id, ((key, v, start_step + i, None) for i, v in enumerate(values))
        )

    def set_tag(self, key: str, value: Any) -> None:
        self._service.set_tags(self.id, {key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._service.set_tags(self.id, tags)

    def log_dataset(self, dataset: DatasetVersion, context: str = "training") -> None:
        self._service.log_dataset(self.id, dataset.id, context)

    def metric_history(self, key: str) -> list[MetricPoint]:
        return self._service.metric_history(self.id, key)

    def end(self, status: str = "FINISHED") -> None:
        if not self._ended:
            self._service.end_run(self.id, status)
            self._ended = True

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is KeyboardInterrupt:
            self.end("KILLED")
        else:
            self.end("FAILED" if exc_type is not None else "FINISHED")

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, name={self.name!r}, experiment={self.experiment!r})"
