"""Registry records (plain data)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelplane.core.times import iso_z


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _ms(iso: str | None) -> int:
    return 0 if iso is None else round(datetime.fromisoformat(iso).timestamp() * 1000)


def _ms_or_none(iso: str | None) -> int | None:
    return None if iso is None else _ms(iso)


def _lifecycle(deleted_at: int | None) -> str:
    return "active" if deleted_at is None else "deleted"


@dataclass(frozen=True)
class VersionFacts:
    """What a version says of itself besides its files: lineage, metrics, params, tags, text."""

    run_id: str | None = None
    dataset_version_ids: Sequence[int] = ()
    metrics: Mapping[str, Any] | None = None
    params: Mapping[str, Any] | None = None
    tags: Mapping[str, Any] | None = None
    description: str = ""
    #: input columns to mark as personal data in the signature (see ``signature.mark_pii``)
    pii: Sequence[str] = ()


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
    deleted_at: int | None = None  # set on a deleted version (the registry hides those)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def lifecycle(self) -> str:
        """``active``, or ``deleted`` (listed only when asked; ``restore_model_version``, or
        ``restore_model`` when it went with its model, brings it back)."""
        return _lifecycle(self.deleted_at)

    def __repr__(self) -> str:  # one line: signature, files and model card stay out
        return (
            f"ModelVersion(name={self.name!r}, version={self.version}, flavor={self.flavor!r}, "
            f"aliases={self.aliases!r}, status={self.status!r}, run_id={self.run_id!r}, "
            f"created={iso_z(self.created_at)!r})"
        )

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
            "lifecycle": self.lifecycle,
            "deleted_at": _iso(self.deleted_at),
        }
        if with_card:
            out["model_card"] = self.model_card
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelVersion:
        """The inverse of :meth:`to_dict` (``model_card``, ``artifact_key``, ``id`` if present)."""
        return cls(
            name=str(data["name"]),
            version=int(data["version"]),
            flavor=str(data["flavor"]),
            artifact_key=str(data.get("artifact_key", "")),
            files=dict(data.get("files") or {}),
            signature=dict(data.get("signature") or {}),
            metrics=dict(data.get("metrics") or {}),
            params=dict(data.get("params") or {}),
            tags=dict(data.get("tags") or {}),
            flavor_info=dict(data.get("flavor_info") or {}),
            description=str(data.get("description") or ""),
            model_card=str(data.get("model_card") or ""),
            run_id=data.get("run_id"),
            status=str(data.get("status") or ""),
            created_at=_ms(data.get("created_at")),
            created_by=data.get("created_by"),
            datasets=list(data.get("datasets") or []),
            aliases=list(data.get("aliases") or []),
            id=int(data.get("id", 0)),
            deleted_at=_ms_or_none(data.get("deleted_at")),
        )


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    description: str
    tags: dict[str, Any]
    created_at: int
    updated_at: int
    latest_version: int | None
    aliases: dict[str, int]
    deleted_at: int | None = None  # set on a deleted model (listed only when asked)

    @property
    def lifecycle(self) -> str:
        """``active``, or ``deleted`` (listed only when asked; ``restore_model`` brings it back
        with the versions deleted with it)."""
        return _lifecycle(self.deleted_at)

    def __repr__(self) -> str:
        return (
            f"RegisteredModel(name={self.name!r}, latest_version={self.latest_version}, "
            f"aliases={self.aliases!r}, updated={iso_z(self.updated_at)!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tags": self.tags,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "latest_version": self.latest_version,
            "aliases": self.aliases,
            "lifecycle": self.lifecycle,
            "deleted_at": _iso(self.deleted_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegisteredModel:
        """The inverse of :meth:`to_dict`."""
        latest = data.get("latest_version")
        return cls(
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            tags=dict(data.get("tags") or {}),
            created_at=_ms(data.get("created_at")),
            updated_at=_ms(data.get("updated_at")),
            latest_version=None if latest is None else int(latest),
            aliases={str(k): int(v) for k, v in (data.get("aliases") or {}).items()},
            deleted_at=_ms_or_none(data.get("deleted_at")),
        )


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
