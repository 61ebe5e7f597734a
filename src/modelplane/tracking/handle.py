"""What every run handle offers — local (:class:`~modelplane.tracking.run.Run`) or remote
(``modelplane.client.RemoteRun``): the convenience methods and the context-manager protocol,
built on a few primitives each handle implements (params, metric points, tags, datasets, end)."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from modelplane.errors import InvalidInputError
from modelplane.tracking.records import MetricPoint, RunInfo

if TYPE_CHECKING:
    from modelplane.data.records import DatasetVersion

Point = tuple[str, Any, int | None, int | None]


class RunHandle(abc.ABC):
    def __init__(self, info: RunInfo) -> None:
        self._info = info
        self._ended = False

    # -- primitives ----------------------------------------------------------------------------

    @abc.abstractmethod
    def log_params(self, params: Mapping[str, Any]) -> None: ...

    @abc.abstractmethod
    def log_batch(self, points: Iterable[Point]) -> int:
        """Many (key, value, step, timestamp) points; returns how many were logged."""

    @abc.abstractmethod
    def set_tags(self, tags: Mapping[str, Any]) -> None: ...

    @abc.abstractmethod
    def log_dataset(self, dataset: DatasetVersion, context: str = "training") -> None: ...

    @abc.abstractmethod
    def metric_history(self, key: str) -> list[MetricPoint]: ...

    @property
    @abc.abstractmethod
    def info(self) -> RunInfo:
        """A fresh snapshot of the run (params, latest metrics, tags, datasets)."""

    @abc.abstractmethod
    def _end(self, status: str) -> None: ...

    # -- shared --------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._info.id

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def experiment(self) -> str:
        return self._info.experiment

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.log_batch([(key, value, step, None)])

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """One value per metric at ``step`` (default: each metric's next step), one call."""
        if not isinstance(metrics, Mapping):
            raise InvalidInputError("metrics must be a mapping of name to number", field="metrics")
        self.log_batch([(k, v, step, None) for k, v in metrics.items()])

    def log_series(self, key: str, values: Iterable[Any], start_step: int = 0) -> int:
        """A whole series of one metric (e.g. a loss curve) in one call."""
        return self.log_batch((key, v, start_step + i, None) for i, v in enumerate(values))

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def end(self, status: str = "FINISHED") -> None:
        if not self._ended:
            self._end(status)
            self._ended = True

    def __enter__(self) -> Self:
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
        return f"{type(self).__name__}(id={self.id!r}, name={self.name!r}, experiment={self.experiment!r})"
