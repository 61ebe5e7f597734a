"""The ``Run`` handle returned by ``mp.start_run``: a context manager bound to one run id.

There is no global "active run": the handle is passed explicitly (``run=run``), so threads and
async tasks never share hidden state. The convenience methods live in :class:`RunHandle`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.errors import InvalidInputError
from modelplane.tracking.artifacts import ArtifactEntry
from modelplane.tracking.handle import Point, RunHandle
from modelplane.tracking.records import MetricPoint, RunInfo

if TYPE_CHECKING:
    from modelplane.data.records import DatasetVersion
    from modelplane.tracking.run_artifacts import RunArtifacts
    from modelplane.tracking.service import TrackingService


class Run(RunHandle):
    def __init__(
        self, service: TrackingService, info: RunInfo, artifacts: RunArtifacts | None = None
    ) -> None:
        super().__init__(info)
        self._service = service
        self._artifacts = artifacts

    @property
    def info(self) -> RunInfo:
        return self._service.get_run(self.id)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._service.log_params(self.id, params)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        self._service.log_metrics(self.id, metrics, step=step)

    def log_batch(self, points: Iterable[Point]) -> int:
        """Many (key, value, step, timestamp) points in one transaction."""
        return self._service.log_batch(self.id, points)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._service.set_tags(self.id, tags)

    def log_dataset(self, dataset: DatasetVersion | str, context: str = "training") -> None:
        """``dataset``: a DatasetVersion or a ``datasets:/NAME/VERSION`` URI."""
        ref = dataset if isinstance(dataset, str) else dataset.id
        self._service.log_dataset(self.id, ref, context)

    def metric_history(self, key: str) -> list[MetricPoint]:
        return self._service.metric_history(self.id, key)

    def _end(self, status: str) -> None:
        self._service.end_run(self.id, status)

    def _artifact_service(self) -> RunArtifacts:
        if self._artifacts is None:
            raise InvalidInputError(
                "this run handle has no artifact store: start runs with mp.start_run", field="run"
            )
        return self._artifacts

    def _log_artifact_file(self, local: Path, artifact_file: str) -> ArtifactEntry:
        return self._artifact_service().log_file(self.id, local, artifact_file)

    def list_artifacts(self, path: str | None = None) -> list[ArtifactEntry]:
        return self._artifact_service().list(self.id, path)

    def _fetch_artifact(self, entry: ArtifactEntry, target: Path) -> None:
        self._artifact_service().fetch(self.id, entry, target)
