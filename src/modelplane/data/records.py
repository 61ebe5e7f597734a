"""Dataset records (plain data)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelplane.core.times import iso_z, short_hash
from modelplane.errors import InvalidInputError


@dataclass(frozen=True)
class DatasetVersion:
    id: int
    name: str
    version: int
    content_hash: str
    artifact_key: str
    num_rows: int
    num_columns: int
    schema: dict[str, str]
    profile: dict[str, Any]
    source: str | None
    created_at: int
    created_by: str | None

    @property
    def uri(self) -> str:
        return f"datasets:/{self.name}/{self.version}"

    def __repr__(self) -> str:  # one line: the schema and profile stay out
        return (
            f"DatasetVersion(name={self.name!r}, version={self.version}, rows={self.num_rows}, "
            f"columns={self.num_columns}, hash={short_hash(self.content_hash)!r}, "
            f"created={iso_z(self.created_at)!r})"
        )

    def to_dict(self, *, with_profile: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "content_hash": self.content_hash,
            "num_rows": self.num_rows,
            "num_columns": self.num_columns,
            "schema": self.schema,
            "source": self.source,
            "created_at": datetime.fromtimestamp(self.created_at / 1000, tz=UTC).isoformat(),
            "created_by": self.created_by,
        }
        if with_profile:
            out["profile"] = self.profile
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetVersion:
        """The inverse of :meth:`to_dict`, plus ``id`` and ``artifact_key`` when present."""
        created = datetime.fromisoformat(str(data["created_at"]))
        return cls(
            id=int(data.get("id", 0)),
            name=str(data["name"]),
            version=int(data["version"]),
            content_hash=str(data["content_hash"]),
            artifact_key=str(data.get("artifact_key", "")),
            num_rows=int(data["num_rows"]),
            num_columns=int(data["num_columns"]),
            schema=dict(data.get("schema") or {}),
            profile=dict(data.get("profile") or {}),
            source=data.get("source"),
            created_at=round(created.timestamp() * 1000),
            created_by=data.get("created_by"),
        )


def dataset_version_ids(datasets: Sequence[Any] | None) -> list[int]:
    """Lineage ids from DatasetVersion objects (or their integer ids; the SDK resolves
    ``datasets:/`` URIs to versions before asking)."""
    ids = []
    for ds in datasets or ():
        if isinstance(ds, int) and not isinstance(ds, bool):
            ids.append(ds)
        elif isinstance(ds, DatasetVersion):
            ids.append(ds.id)
        else:
            raise InvalidInputError(
                "datasets must be DatasetVersion objects from register_dataset or datasets:/ URIs",
                field="datasets",
            )
    return ids
