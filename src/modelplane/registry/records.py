"""Registry records (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    flavor: str
    artifact_key: str
    files: dict[str, str]
    signature: dict[str, Any]
    metrics: dict[str, Any]
    params: dict[str, Any]
    tags: dict[str, Any]
    flavor_info: dict[str, Any]
    description: str
    model_card: str
    run_id: str | None
    status: str
    created_at: int
    created_by: str | None
    datasets: list[dict[str, Any]] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    id: int = 0

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def to_dict(self, *, with_card: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "flavor": self.flavor,
            "aliases": self.aliases,
            "signature": self.signature,
            "metrics": self.metrics,
            "params": self.params,
            "tags": self.tags,
            "description": self.description,
            "run_id": self.run_id,
            "datasets": self.datasets,
            "status": self.status,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "files": self.files,
            "flavor_info": self.flavor_info,
        }
        if with_card:
            out["model_card"] = self.model_card
        return out


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    description: str
    tags: dict[str, Any]
    created_at: int
    updated_at: int
    latest_version: int | None
    aliases: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tags": self.tags,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "latest_version": self.latest_version,
            "aliases": self.aliases,
        }


@dataclass(frozen=True)
class AliasChange:
    name: str
    alias: str
    old_version: int | None
    new_version: int | None
    actor: str | None
    reason: str | None
    ts: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alias": self.alias,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "actor": self.actor,
            "reason": self.reason,
            "time": _iso(self.ts),
        }
