"""What every run handle offers — local (:class:`~modelplane.tracking.run.Run`) or remote
(``modelplane.client.RemoteRun``): the convenience methods and the context-manager protocol,
built on a few primitives each handle implements (params, metric points, tags, datasets, end,
artifact files).

A handle used as a context manager (``with mp.start_run() as run:``) is the *active run* of its
thread or task for the block (a context variable, never shared between threads): what
``mp.autolog()`` logs to. Handles are still passed explicitly everywhere else."""

from __future__ import annotations

import abc
import tempfile
from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from modelplane.errors import InvalidInputError, NotFoundError
from modelplane.tracking import artifact_files
from modelplane.tracking.artifacts import ArtifactEntry, optional_path
from modelplane.tracking.artifacts import artifact_path as check_path
from modelplane.tracking.records import MetricPoint, RunInfo

if TYPE_CHECKING:
    from modelplane.data.records import DatasetVersion

Point = tuple[str, Any, int | None, int | None]

_ACTIVE: ContextVar[RunHandle | None] = ContextVar("modelplane_active_run", default=None)


def active_run() -> RunHandle | None:
    """The run whose ``with`` block this thread or task is in (the innermost), or None."""
    return _ACTIVE.get()


class RunHandle(abc.ABC):
    def __init__(self, info: RunInfo) -> None:
        self._info = info
        self._ended = False
        self._active: list[Token[RunHandle | None]] = []

    # -- primitives ----------------------------------------------------------------------------

    @abc.abstractmethod
    def log_params(self, params: Mapping[str, Any]) -> None: ...

    @abc.abstractmethod
    def log_batch(self, points: Iterable[Point]) -> int:
        """Many (key, value, step, timestamp) points; returns how many were logged."""

    @abc.abstractmethod
    def set_tags(self, tags: Mapping[str, Any]) -> None: ...

    @abc.abstractmethod
    def log_dataset(self, dataset: DatasetVersion | str, context: str = "training") -> None:
        """Record a dataset version the run used: a DatasetVersion or a ``datasets:/`` URI."""

    @abc.abstractmethod
    def metric_history(self, key: str) -> list[MetricPoint]: ...

    @property
    @abc.abstractmethod
    def info(self) -> RunInfo:
        """A fresh snapshot of the run (params, latest metrics, tags, datasets)."""

    @abc.abstractmethod
    def _end(self, status: str) -> None: ...

    @abc.abstractmethod
    def _log_artifact_file(self, local: Path, artifact_file: str) -> ArtifactEntry:
        """Store the local file as the run's artifact ``artifact_file`` (a checked path)."""

    @abc.abstractmethod
    def list_artifacts(self, path: str | None = None) -> list[ArtifactEntry]:
        """Every artifact file at or below ``path`` (default: all), sorted by path."""

    @abc.abstractmethod
    def _fetch_artifact(self, entry: ArtifactEntry, target: Path) -> None:
        """Copy one listed artifact to ``target``, verified against ``entry.sha256``."""

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

    # -- artifacts -----------------------------------------------------------------------------

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        """Log a local file under the folder ``artifact_path`` (default: the run's root)."""
        local = Path(local_path)
        if not local.is_file():
            raise InvalidInputError(f"{local} is not a file", field="local_path")
        folder = optional_path(artifact_path, "artifact_path")
        name = f"{folder}/{local.name}" if folder else local.name
        self._log_artifact_file(local, check_path(name, "local_path"))

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        """Log every regular file below ``local_dir`` (symbolic links are skipped), keeping the
        folder layout, under the folder ``artifact_path`` (default: the run's root)."""
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidInputError(f"{root} is not a folder", field="local_dir")
        folder = optional_path(artifact_path, "artifact_path")
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        # every name is checked before anything is logged
        names = [
            check_path(f"{folder}/{rel}" if folder else rel, "local_dir")
            for rel in (p.relative_to(root).as_posix() for p in files)
        ]
        for local, name in zip(files, names, strict=True):
            self._log_artifact_file(local, name)

    def log_text(self, text: str, artifact_file: str) -> None:
        """Log ``text`` (UTF-8) as the file ``artifact_file``, e.g. ``"notes.txt"``."""
        self._log_written(artifact_file, lambda target: artifact_files.write_text(text, target))

    def log_dict(self, dictionary: Mapping[str, Any], artifact_file: str) -> None:
        """Log a dict as JSON, or as YAML when ``artifact_file`` ends .yaml or .yml."""
        self._log_written(
            artifact_file,
            lambda target: artifact_files.write_dict(dictionary, target, artifact_file),
        )

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """Log a matplotlib Figure (.png, .svg, .pdf, .jpg) or a plotly figure (.html; an image
        format needs kaleido), e.g. ``run.log_figure(fig, "roc.png")``."""
        self._log_written(
            artifact_file,
            lambda target: artifact_files.write_figure(figure, target, artifact_file),
        )

    def log_table(self, data: Any, artifact_file: str) -> None:
        """Log a DataFrame or a dict of columns as JSON (``{"columns": [...], "data": [...]}``),
        or as Parquet or CSV when ``artifact_file`` ends .parquet or .csv."""
        self._log_written(
            artifact_file,
            lambda target: artifact_files.write_table(data, target, artifact_file),
        )

    def _log_written(self, artifact_file: str, write: Any) -> None:
        name = check_path(artifact_file, "artifact_file")
        with tempfile.TemporaryDirectory(prefix="mp-artifact-") as tmp:
            target = Path(tmp) / Path(name).name
            write(target)
            self._log_artifact_file(target, name)

    def download_artifacts(self, path: str = "", dst: str | Path | None = None) -> Path:
        """Download the artifact ``path`` (a file or a folder; default: all of them) into the
        folder ``dst`` (default: a new temporary folder), keeping the run's layout; every file
        is verified against its recorded SHA-256. Returns ``dst / path``."""
        rel = optional_path(path, "path")
        entries = self.list_artifacts(rel or None)
        if rel and not entries:
            raise NotFoundError(f"run {self.id} has no artifact {rel!r}", field="path")
        root = Path(tempfile.mkdtemp(prefix="mp-run-artifacts-") if dst is None else dst)
        for entry in entries:
            self._fetch_artifact(entry, root / check_path(entry.path, "path"))
        return root / rel if rel else root

    def end(self, status: str = "FINISHED") -> None:
        if not self._ended:
            self._end(status)
            self._ended = True

    def __enter__(self) -> Self:
        self._active.append(_ACTIVE.set(self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._active:
            try:
                _ACTIVE.reset(self._active.pop())
            except ValueError:  # left in another context than entered (a generator's frame)
                _ACTIVE.set(None)
        if exc_type is KeyboardInterrupt:
            self.end("KILLED")
        else:
            self.end("FAILED" if exc_type is not None else "FINISHED")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, name={self.name!r}, experiment={self.experiment!r})"
