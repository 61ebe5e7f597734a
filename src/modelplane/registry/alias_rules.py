"""Alias protection: per model, who may move which alias.

A rule names a model (or ``*``: every model), an alias, the least role that may move or delete
it, and optionally that the version it is pointed at must have passed a validation gate (the
version carries the reserved tag ``modelplane.gate = passed``, which only admins, or the gate
itself acting as one, may set). Without a rule, whoever may change aliases at all (operators,
over the API) may move it. A refused move raises PermissionDeniedError and is audited
(``alias.refused``) with who tried, in a transaction of its own (the move itself is not made).

Roles come from the caller's token; the installation's own user (the local SDK and CLI, with no
role) is not restricted: rules protect aliases from remote callers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.audit import AuditLog
from modelplane.core.names import check_alias, check_name
from modelplane.core.roles import Role
from modelplane.core.sql import now_ms, upsert
from modelplane.errors import NotFoundError, PermissionDeniedError
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import alias_rules

EVERY_MODEL = "*"
GATE_TAG = "modelplane.gate"
GATE_PASSED = "passed"
RESERVED_TAG_PREFIX = "modelplane."


@dataclass(frozen=True)
class AliasRule:
    model: str
    alias: str
    min_role: str
    require_gate: bool
    updated_at: int
    updated_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_model(model: str) -> str:
    return model if model == EVERY_MODEL else check_name(model, "model name")


def check_reserved_tags(tags: Any, role: Role | None) -> None:
    """Tags under ``modelplane.`` (the validation gate's verdict) are for admins only."""
    if role is None or role >= Role.ADMIN or not tags:
        return
    reserved = sorted(k for k in tags if str(k).startswith(RESERVED_TAG_PREFIX))
    if reserved:
        raise PermissionDeniedError(
            f"tags {', '.join(reserved)} are reserved: only an admin (or the validation gate) "
            "may set them",
            field="tags",
        )


class AliasRules:
    def __init__(self, meta: MetadataStore, audit: AuditLog, actor: str) -> None:
        self.meta = meta
        self.audit = audit
        self.actor = actor

    def protect(
        self, model: str, alias: str, *, role: str | Role = Role.ADMIN, require_gate: bool = False
    ) -> AliasRule:
        """Only ``role`` or higher may move ``alias`` of ``model`` (``*``: of every model);
        with ``require_gate``, only to a version that passed the validation gate."""
        model = _check_model(model)
        check_alias(alias)
        least = role if isinstance(role, Role) else Role.parse(role)
        now = now_ms()
        with self.meta.write() as conn:
            before = self._get(conn, model, alias)
            upsert(
                conn,
                alias_rules,
                [
                    {
                        "model": model,
                        "alias": alias,
                        "min_role": least.label,
                        "require_gate": bool(require_gate),
                        "updated_at": now,
                        "updated_by": self.actor,
                    }
                ],
                keys=("model", "alias"),
                update=("min_role", "require_gate", "updated_at", "updated_by"),
            )
            self.audit.append(
                conn,
                actor=self.actor,
                action="alias.protect",
                target=f"models/{model}@{alias}",
                before=None if before is None else _summary(before),
                after={"min_role": least.label, "require_gate": bool(require_gate)},
            )
        return AliasRule(model, alias, least.label, bool(require_gate), now, self.actor)

    def unprotect(self, model: str, alias: str) -> None:
        model = _check_model(model)
        check_alias(alias)
        with self.meta.write() as conn:
            before = self._get(conn, model, alias)
            if before is None:
                raise NotFoundError(f"no rule protects {model}@{alias}", field="alias")
            conn.execute(
                alias_rules.delete().where(
                    alias_rules.c.model == model, alias_rules.c.alias == alias
                )
            )
            self.audit.append(
                conn,
                actor=self.actor,
                action="alias.unprotect",
                target=f"models/{model}@{alias}",
                before=_summary(before),
                after=None,
            )

    def list(self, model: str | None = None) -> list[AliasRule]:
        query = sa.select(alias_rules).order_by(alias_rules.c.model, alias_rules.c.alias)
        if model is not None:
            query = query.where(alias_rules.c.model.in_([_check_model(model), EVERY_MODEL]))
        with self.meta.read() as conn:
            return [_rule(r) for r in conn.execute(query)]

    def _get(self, conn: Connection, model: str, alias: str) -> AliasRule | None:
        row = conn.execute(
            sa.select(alias_rules).where(alias_rules.c.model == model, alias_rules.c.alias == alias)
        ).first()
        return None if row is None else _rule(row)

    def rule_for(self, conn: Connection, model: str, alias: str) -> AliasRule | None:
        """The rule that applies: the model's own, else the ``*`` one."""
        return self._get(conn, model, alias) or self._get(conn, EVERY_MODEL, alias)

    def check_move(
        self,
        conn: Connection,
        model: str,
        alias: str,
        role: Role | None,
        version_tags: dict[str, Any] | None,
    ) -> str | None:
        """Why ``role`` may not move ``alias`` of ``model`` (to a version with ``version_tags``;
        None for a deletion), or None when it may."""
        if role is None:
            return None
        rule = self.rule_for(conn, model, alias)
        if rule is None:
            return None
        if role < Role.parse(rule.min_role):
            return f"@{alias} of {model} is protected: only {rule.min_role} may move it"
        if (
            rule.require_gate
            and version_tags is not None
            and version_tags.get(GATE_TAG) != GATE_PASSED
        ):
            return (
                f"@{alias} of {model} may only point at a version that passed the validation "
                f"gate (tag {GATE_TAG}={GATE_PASSED})"
            )
        return None

    def refuse(self, model: str, alias: str, version: int | None, reason: str) -> None:
        """Audit a refused move (in its own transaction), then raise PermissionDeniedError."""
        with self.meta.write() as conn:
            self.audit.append(
                conn,
                actor=self.actor,
                action="alias.refused",
                target=f"models/{model}@{alias}",
                before=None,
                after={"version": version, "reason": reason},
            )
        raise PermissionDeniedError(reason, field="alias")


def _rule(row: Any) -> AliasRule:
    return AliasRule(
        row.model, row.alias, row.min_role, bool(row.require_gate), row.updated_at, row.updated_by
    )


def _summary(rule: AliasRule) -> dict[str, Any]:
    return {"min_role": rule.min_role, "require_gate": rule.require_gate}


__all__ = ["GATE_TAG", "AliasRule", "AliasRules", "check_reserved_tags"]
