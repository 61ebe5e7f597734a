"""Endpoint definitions in the metadata store: create/update (deploy), read, delete — audited.

Deploying checks the functions of ``python`` graph steps against the modules an admin allowed
(``Settings.step_modules``, :mod:`modelplane.core.callables`) before anything is stored, so a
config naming ``os:system`` is refused (422) whether it comes from the SDK, the CLI or HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelplane.audit import AuditLog
from modelplane.core.callables import resolve_function
from modelplane.core.sql import now_ms
from modelplane.core.times import iso_z
from modelplane.endpoints.config import EndpointConfig, check_endpoint_name, parse_config
from modelplane.errors import NotFoundError
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.repository import claim_next, insert_or_ignore
from modelplane.stores.metadata.schema import endpoints


@dataclass(frozen=True)
class Endpoint:
    name: str
    config: EndpointConfig
    generation: int
    created_at: int
    updated_at: int
    updated_by: str | None

    def __repr__(self) -> str:  # one line: the full configuration stays out
        config = self.config
        serves = config.model or ("graph" if config.graph is not None else "traffic")
        return (
            f"Endpoint(name={self.name!r}, serves={serves!r}, generation={self.generation}, "
            f"updated={iso_z(self.updated_at)!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "config": self.config.model_dump(mode="json", exclude_defaults=False),
            "generation": self.generation,
            "created_at": datetime.fromtimestamp(self.created_at / 1000, tz=UTC).isoformat(),
            "updated_at": datetime.fromtimestamp(self.updated_at / 1000, tz=UTC).isoformat(),
            "updated_by": self.updated_by,
        }


class EndpointService:
    def __init__(
        self,
        meta: MetadataStore,
        audit: AuditLog,
        actor: str,
        *,
        step_modules: Sequence[str] = (),
    ) -> None:
        self.meta = meta
        self.audit = audit
        self.actor = actor
        self.step_modules = tuple(step_modules)  # where python steps may take functions from

    def deploy(self, name: str, config: Any) -> Endpoint:
        """Create the endpoint or replace its config (a new generation)."""
        check_endpoint_name(name)
        cfg = parse_config(config)
        check_python_steps(cfg, self.step_modules)
        doc = cfg.model_dump(mode="json")
        now = now_ms()
        with self.meta.write() as conn:
            created = insert_or_ignore(
                conn,
                endpoints,
                {
                    "name": name,
                    "config": doc,
                    "generation": 1,
                    "created_at": now,
                    "updated_at": now,
                    "updated_by": self.actor,
                },
                keys=("name",),
            )
            before: Any = None
            changed = created
            if not created:
                # Locked until commit: concurrent deploys of one endpoint apply one after another.
                row = conn.execute(
                    sa.select(endpoints.c.id, endpoints.c.config)
                    .where(endpoints.c.name == name)
                    .with_for_update()
                ).one()
                changed = row.config != doc
                if changed:
                    before = row.config
                    claim_next(
                        conn,
                        endpoints,
                        "generation",
                        row.id,
                        config=doc,
                        updated_at=now,
                        updated_by=self.actor,
                    )
            if changed:
                self.audit.append(
                    conn,
                    actor=self.actor,
                    action="endpoint.deploy",
                    target=f"endpoints/{name}",
                    before=before,
                    after=doc,
                )
        return self.get(name)

    def get(self, name: str) -> Endpoint:
        check_endpoint_name(name)
        with self.meta.read() as conn:
            row = conn.execute(sa.select(endpoints).where(endpoints.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no endpoint named {name!r}", field="endpoint")
        return _record(row)

    def list(self) -> list[Endpoint]:
        with self.meta.read() as conn:
            rows = conn.execute(sa.select(endpoints).order_by(endpoints.c.name)).all()
        return [_record(r) for r in rows]

    def delete(self, name: str) -> None:
        current = self.get(name)
        with self.meta.write() as conn:
            conn.execute(endpoints.delete().where(endpoints.c.name == name))
            self.audit.append(
                conn,
                actor=self.actor,
                action="endpoint.delete",
                target=f"endpoints/{name}",
                before=current.config.model_dump(mode="json"),
            )

    def record_event(self, name: str, action: str, details: dict[str, Any]) -> None:
        """Server-side events worth keeping (a version that failed to load, and why)."""
        with self.meta.write() as conn:
            self.audit.append(
                conn, actor=self.actor, action=action, target=f"endpoints/{name}", after=details
            )


def check_python_steps(config: EndpointConfig, step_modules: Sequence[str]) -> None:
    """Resolve every python step's function against ``step_modules``; the first refusal raises,
    naming the step's field as the config spells it (``graph.preprocess[1].function``, or
    ``traffic.variants[0].graph.postprocess[0].function``)."""
    for index, variant in enumerate(config.policy.variants):
        graph = variant.graph
        if graph is None:
            continue
        prefix = "graph" if config.traffic is None else f"traffic.variants[{index}].graph"
        for section, steps in (
            ("preprocess", graph.preprocess),
            ("postprocess", graph.postprocess),
        ):
            for i, step in enumerate(steps):
                if step.type == "python":
                    resolve_function(step.function or "", step_modules, f"{prefix}.{section}[{i}]")


def _record(row: Any) -> Endpoint:
    return Endpoint(
        name=row.name,
        config=parse_config(row.config),
        generation=int(row.generation),
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )
