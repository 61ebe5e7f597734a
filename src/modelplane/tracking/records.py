"""Records returned by the tracking service (plain data, no I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelplane.core.times import iso_z

RUN_STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")


def ms_to_dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class Experiment:
    id: int
    name: str
    created_at: int


@dataclass(frozen=True)
class ExperimentSummary:
    """An experiment with the number of its (not deleted) runs and when the last one started."""

    id: int
    name: str
    created_at: int
    runs: int
    last_run_time: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": _iso(self.created_at),
            "runs": self.runs,
            "last_run_time": _iso(self.last_run_time),
        }


@dataclass(frozen=True)
class MetricPoint:
    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True)
class RunInfo:
    id: str
    experiment_id: int
    experiment: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    user: str | None
    source: str | None
    code_version: str | None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    deleted_at: int | None = None

    @property
    def lifecycle(self) -> str:
        """``active``, or ``deleted`` (hidden from searches; ``restore_run`` brings it back)."""
        return "active" if self.deleted_at is None else "deleted"

    def __repr__(self) -> str:  # one line: params, metrics and tags are counted, not listed
        return (
            f"RunInfo(id={self.id!r}, experiment={self.experiment!r}, name={self.name!r}, "
            f"status={self.status!r}, started={iso_z(self.start_time)!r}, "
            f"params={len(self.params)}, metrics={len(self.metrics)}, tags={len(self.tags)})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "experiment_id": self.experiment_id,
            "experiment": self.experiment,
            "name": self.name,
            "status": self.status,
            "start_time": _iso(self.start_time),
            "end_time": _iso(self.end_time),
            "user": self.user,
            "source": self.source,
            "code_version": self.code_version,
            "params": self.params,
            "metrics": {k: (None if math.isnan(v) else v) for k, v in self.metrics.items()},
            "tags": self.tags,
            "datasets": self.datasets,
            "lifecycle": self.lifecycle,
            "deleted_at": _iso(self.deleted_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunInfo:
        """The inverse of :meth:`to_dict` (``None`` metrics become NaN)."""
        metrics = data.get("metrics") or {}
        return cls(
            id=str(data["id"]),
            experiment_id=int(data["experiment_id"]),
            experiment=str(data["experiment"]),
            name=str(data["name"]),
            status=str(data["status"]),
            start_time=_ms(data["start_time"]) or 0,
            end_time=_ms(data.get("end_time")),
            user=data.get("user"),
            source=data.get("source"),
            code_version=data.get("code_version"),
            params=dict(data.get("params") or {}),
            metrics={k: math.nan if v is None else float(v) for k, v in metrics.items()},
            tags=dict(data.get("tags") or {}),
            datasets=list(data.get("datasets") or []),
            deleted_at=_ms(data.get("deleted_at")),
        )


def _ms(iso: str | None) -> int | None:
    return None if iso is None else round(datetime.fromisoformat(iso).timestamp() * 1000)


def _iso(ms: int | None) -> str | None:
    dt = ms_to_dt(ms)
    return None if dt is None else dt.isoformat()
