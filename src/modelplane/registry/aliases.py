"""Model aliases (``models:/name@alias``): moving and deleting them, each change kept in the
alias history and the audit log in the same transaction as the change itself.

:class:`~modelplane.registry.service.RegistryService` delegates here; ``@latest`` is reserved
because it always means the newest version.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.audit import AuditLog
from modelplane.core.names import check_alias, check_name
from modelplane.core.roles import Role
from modelplane.core.sql import now_ms, upsert
from modelplane.errors import InvalidInputError, NotFoundError
from modelplane.registry.alias_rules import AliasRules
from modelplane.registry.queries import model_id
from modelplane.registry.records import AliasChange
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import model_alias_history, model_aliases, model_versions

RESERVED_ALIASES = ("latest",)


class _Refused(Exception):
    """A protected alias: leave the write transaction, then audit the refusal."""


class Aliases:
    def __init__(
        self, meta: MetadataStore, audit: AuditLog, actor: str, role: Role | None = None
    ) -> None:
        self.meta = meta
        self.audit = audit
        self.actor = actor
        self.role = role
        self.rules = AliasRules(meta, audit, actor)

    def _guard(self, conn: Connection, name: str, alias: str, tags: dict[str, Any] | None) -> None:
        reason = self.rules.check_move(conn, name, alias, self.role, tags)
        if reason is not None:
            raise _Refused(reason)

    def set(self, name: str, alias: str, version: int, *, reason: str | None = None) -> None:
        """Point ``alias`` of model ``name`` at ``version`` (which must exist)."""
        check_name(name, "model name")
        check_alias(alias)
        if alias in RESERVED_ALIASES:
            raise InvalidInputError(
                f"@{alias} is reserved and always means the newest version", field="alias"
            )
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidInputError(
                f"version must be a positive integer, got {version!r}", field="version"
            )
        try:
            self._set(name, alias, version, reason)
        except _Refused as refused:
            self.rules.refuse(name, alias, version, str(refused))

    def _set(self, name: str, alias: str, version: int, reason: str | None) -> None:
        with self.meta.write() as conn:
            mid = model_id(conn, name, lock=True)
            exists = conn.execute(
                sa.select(
                    model_versions.c.id, model_versions.c.tags, model_versions.c.deleted_at
                ).where(model_versions.c.model_id == mid, model_versions.c.version == version)
            ).first()
            if exists is None:
                raise NotFoundError(f"model {name!r} has no version {version}", field="version")
            if exists.deleted_at is not None:
                raise NotFoundError(
                    f"models:/{name}/{version} is deleted: restore it before pointing an alias "
                    "at it",
                    field="version",
                )
            self._guard(conn, name, alias, dict(exists.tags or {}))
            old = conn.execute(
                sa.select(model_aliases.c.version).where(
                    model_aliases.c.model_id == mid, model_aliases.c.alias == alias
                )
            ).scalar()
            if old == version:
                return
            now = now_ms()
            upsert(
                conn,
                model_aliases,
                [
                    {
                        "model_id": mid,
                        "alias": alias,
                        "version": version,
                        "updated_at": now,
                        "updated_by": self.actor,
                    }
                ],
                keys=("model_id", "alias"),
                update=("version", "updated_at", "updated_by"),
            )
            conn.execute(
                model_alias_history.insert().values(
                    model_id=mid,
                    alias=alias,
                    old_version=old,
                    new_version=version,
                    actor=self.actor,
                    reason=reason,
                    ts=now,
                )
            )
            self.audit.append(
                conn,
                actor=self.actor,
                action="alias.set",
                target=f"models/{name}@{alias}",
                before=None if old is None else {"version": old},
                after={"version": version, "reason": reason},
            )

    def delete(self, name: str, alias: str, *, reason: str | None = None) -> None:
        check_name(name, "model name")
        check_alias(alias)
        try:
            self._delete(name, alias, reason)
        except _Refused as refused:
            self.rules.refuse(name, alias, None, str(refused))

    def _delete(self, name: str, alias: str, reason: str | None) -> None:
        with self.meta.write() as conn:
            mid = model_id(conn, name, lock=True)
            self._guard(conn, name, alias, None)
            old = conn.execute(
                sa.select(model_aliases.c.version).where(
                    model_aliases.c.model_id == mid, model_aliases.c.alias == alias
                )
            ).scalar()
            if old is None:
                raise NotFoundError(f"model {name!r} has no alias @{alias}", field="alias")
            conn.execute(
                model_aliases.delete().where(
                    model_aliases.c.model_id == mid, model_aliases.c.alias == alias
                )
            )
            conn.execute(
                model_alias_history.insert().values(
                    model_id=mid,
                    alias=alias,
                    old_version=old,
                    new_version=None,
                    actor=self.actor,
                    reason=reason,
                    ts=now_ms(),
                )
            )
            self.audit.append(
                conn,
                actor=self.actor,
                action="alias.delete",
                target=f"models/{name}@{alias}",
                before={"version": old},
                after={"reason": reason},
            )

    def history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        check_name(name, "model name")
        with self.meta.read() as conn:
            mid = model_id(conn, name)
            query = sa.select(model_alias_history).where(model_alias_history.c.model_id == mid)
            if alias is not None:
                query = query.where(model_alias_history.c.alias == check_alias(alias))
            rows = conn.execute(query.order_by(model_alias_history.c.id)).all()
        return [
            AliasChange(name, r.alias, r.old_version, r.new_version, r.actor, r.reason, r.ts)
            for r in rows
        ]
