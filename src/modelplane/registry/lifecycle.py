"""Deleting and restoring models and model versions.

Deleting is a soft delete (as MLflow does for runs): the row stays, with ``deleted_at`` set, and
the version leaves listings, URI resolution and loading until it is restored. A version that an
alias points to, or that a deployed endpoint serves (by number, by alias, or as the latest
version), cannot be deleted: the refusal (409) names the aliases and endpoints. Deleting a model
deletes its versions (each checked the same way) in one transaction; restoring the model brings
back the versions deleted with it, not those deleted before. Every change is audited with the
actor. There is no purge: deleted items are kept (their files too) and can always be restored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.audit import AuditLog
from modelplane.core.names import check_name
from modelplane.core.sql import now_ms
from modelplane.core.uris import parse_model_uri
from modelplane.errors import ConflictError, InvalidInputError, NotFoundError
from modelplane.registry.queries import ACTIVE_VERSION, model_id
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import model_aliases, model_versions, registered_models

ModelUsers = Callable[[Connection, str], list[tuple[str, str]]]
"""``(conn, model name)`` → the ``(endpoint, model URI)`` pairs of deployed endpoints that name
the model (what the workspace wires in from the endpoint layer, which the registry sits below)."""


@dataclass(frozen=True)
class _Holds:
    aliases: dict[int, list[str]]
    endpoints: dict[int, list[str]]


def _check_version_number(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInputError(
            f"version must be a positive integer, got {version!r}", field="version"
        )
    return version


class Lifecycle:
    def __init__(
        self, meta: MetadataStore, audit: AuditLog, actor: str, users: ModelUsers | None = None
    ) -> None:
        self.meta = meta
        self.audit = audit
        self.actor = actor
        self.users = users

    def _holds(self, conn: Connection, name: str, mid: int) -> _Holds:
        """Per version number: the aliases pointing at it and the endpoints serving it."""
        aliases: dict[int, list[str]] = {}
        for alias, version in conn.execute(
            sa.select(model_aliases.c.alias, model_aliases.c.version)
            .where(model_aliases.c.model_id == mid)
            .order_by(model_aliases.c.alias)
        ):
            aliases.setdefault(version, []).append(alias)
        endpoints: dict[int, list[str]] = {}
        if self.users is not None:
            latest = conn.execute(
                sa.select(sa.func.max(model_versions.c.version)).where(
                    model_versions.c.model_id == mid, ACTIVE_VERSION
                )
            ).scalar()
            for endpoint, uri in self.users(conn, name):
                ref = parse_model_uri(uri)
                if ref.version is not None:
                    pinned: int | None = ref.version
                elif ref.alias is not None and ref.alias != "latest":
                    pinned = next((v for v, names in aliases.items() if ref.alias in names), None)
                else:
                    pinned = latest
                if pinned is not None:
                    endpoints.setdefault(pinned, []).append(f"{endpoint} ({uri})")
        return _Holds(aliases, endpoints)

    @staticmethod
    def _refuse_held(name: str, versions: Iterable[int], holds: _Holds) -> None:
        reasons = []
        for version in sorted(versions):
            held = []
            if holds.aliases.get(version):
                held.append("alias @" + ", @".join(holds.aliases[version]))
            if holds.endpoints.get(version):
                held.append("endpoint " + ", ".join(sorted(holds.endpoints[version])))
            if held:
                reasons.append(f"models:/{name}/{version} is used by {' and '.join(held)}")
        if reasons:
            raise ConflictError(
                "; ".join(reasons) + ": move or delete those aliases and redeploy or delete "
                "those endpoints first",
                field="version",
            )

    # -- versions ----------------------------------------------------------------------------

    def delete_version(self, name: str, version: int) -> None:
        check_name(name, "model name")
        _check_version_number(version)
        with self.meta.write() as conn:
            mid = model_id(conn, name, lock=True)
            row = self._version(conn, name, mid, version)
            if row.deleted_at is not None:
                return  # deleting twice changes nothing
            self._refuse_held(name, [version], self._holds(conn, name, mid))
            conn.execute(
                model_versions.update()
                .where(model_versions.c.id == row.id)
                .values(deleted_at=now_ms())
            )
            self.audit.append(
                conn,
                actor=self.actor,
                action="model_version.delete",
                target=f"models/{name}/{version}",
                before={"lifecycle": "active", "flavor": row.flavor, "artifact": row.artifact_key},
                after={"lifecycle": "deleted"},
            )

    def restore_version(self, name: str, version: int) -> None:
        check_name(name, "model name")
        _check_version_number(version)
        with self.meta.write() as conn:
            mid = model_id(conn, name, lock=True)
            row = self._version(conn, name, mid, version)
            if row.deleted_at is None:
                return
            conn.execute(
                model_versions.update().where(model_versions.c.id == row.id).values(deleted_at=None)
            )
            self.audit.append(
                conn,
                actor=self.actor,
                action="model_version.restore",
                target=f"models/{name}/{version}",
                before={"lifecycle": "deleted"},
                after={"lifecycle": "active"},
            )

    @staticmethod
    def _version(conn: Connection, name: str, mid: int, version: int) -> Any:
        row = conn.execute(
            sa.select(
                model_versions.c.id,
                model_versions.c.flavor,
                model_versions.c.artifact_key,
                model_versions.c.deleted_at,
            ).where(model_versions.c.model_id == mid, model_versions.c.version == version)
        ).first()
        if row is None:
            raise NotFoundError(f"model {name!r} has no version {version}", field="version")
        return row

    # -- models ------------------------------------------------------------------------------

    def delete_model(self, name: str) -> list[int]:
        """Delete a model and its versions; returns the version numbers deleted with it."""
        check_name(name, "model name")
        with self.meta.write() as conn:
            mid = model_id(conn, name, lock=True)
            versions = list(
                conn.execute(
                    sa.select(model_versions.c.version)
                    .where(model_versions.c.model_id == mid, ACTIVE_VERSION)
                    .order_by(model_versions.c.version)
                ).scalars()
            )
            holds = self._holds(conn, name, mid)
            self._refuse_held(name, {*versions, *holds.aliases, *holds.endpoints}, holds)
            now = now_ms()
            conn.execute(
                model_versions.update()
                .where(model_versions.c.model_id == mid, ACTIVE_VERSION)
                .values(deleted_at=now)
            )
            conn.execute(
                registered_models.update()
                .where(registered_models.c.id == mid)
                .values(deleted_at=now, updated_at=now)
            )
            self.audit.append(
                conn,
                actor=self.actor,
                action="model.delete",
                target=f"models/{name}",
                before={"lifecycle": "active", "versions": versions},
                after={"lifecycle": "deleted"},
            )
        return versions

    def restore_model(self, name: str) -> list[int]:
        """Restore a deleted model with the versions deleted with it; returns their numbers."""
        check_name(name, "model name")
        with self.meta.write() as conn:
            mid = model_id(conn, name, lock=True, include_deleted=True)
            deleted_at = conn.execute(
                sa.select(registered_models.c.deleted_at).where(registered_models.c.id == mid)
            ).scalar()
            if deleted_at is None:
                return []
            with_it = model_versions.c.deleted_at == deleted_at
            versions = list(
                conn.execute(
                    sa.select(model_versions.c.version)
                    .where(model_versions.c.model_id == mid, with_it)
                    .order_by(model_versions.c.version)
                ).scalars()
            )
            conn.execute(
                model_versions.update()
                .where(model_versions.c.model_id == mid, with_it)
                .values(deleted_at=None)
            )
            conn.execute(
                registered_models.update()
                .where(registered_models.c.id == mid)
                .values(deleted_at=None, updated_at=now_ms())
            )
            self.audit.append(
                conn,
                actor=self.actor,
                action="model.restore",
                target=f"models/{name}",
                before={"lifecycle": "deleted"},
                after={"lifecycle": "active", "versions": versions},
            )
        return versions
