"""Read-side SQL of the registry: a model's id by name, version rows with their aliases and
lineage, registered models with their latest version and aliases. Each runs on the caller's
connection, so a service can read inside its own transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.errors import NotFoundError
from modelplane.registry.records import ModelVersion, RegisteredModel
from modelplane.stores.metadata.schema import (
    dataset_versions,
    datasets,
    model_aliases,
    model_version_datasets,
    model_versions,
    registered_models,
)


def model_id(
    conn: Connection, name: str, *, lock: bool = False, include_deleted: bool = False
) -> int:
    """The id of the registered model ``name``; :class:`NotFoundError` when there is none (or
    when it is deleted, unless ``include_deleted``).

    ``lock``: hold the model's row until the transaction ends (``SELECT … FOR UPDATE``; SQLite
    writers are serialised already), so changes to one model's aliases happen one at a time and
    each sees the one before it.
    """
    query = sa.select(registered_models.c.id, registered_models.c.deleted_at).where(
        registered_models.c.name == name
    )
    if lock:
        query = query.with_for_update()
    found = conn.execute(query).first()
    if found is None:
        raise NotFoundError(f"no model named {name!r}", field="model")
    if found.deleted_at is not None and not include_deleted:
        raise NotFoundError(
            f"model {name!r} is deleted (restore it with mp.restore_model or "
            f"modelplane models restore {name})",
            field="model",
        )
    return int(found.id)


ACTIVE_VERSION = model_versions.c.deleted_at.is_(None)
"""The condition of versions that are not deleted."""
ACTIVE_MODEL = registered_models.c.deleted_at.is_(None)
"""The condition of models that are not deleted."""


def in_lifecycle(deleted_at: Any, lifecycle: str) -> Any:
    """The condition on a ``deleted_at`` column of the rows a listing of ``lifecycle`` returns
    (a value :func:`~modelplane.core.lifecycle.check_lifecycle` returned)."""
    if lifecycle == "active":
        return deleted_at.is_(None)
    if lifecycle == "deleted":
        return deleted_at.is_not(None)
    return sa.true()


def version_rows(conn: Connection, condition: Any) -> list[ModelVersion]:
    """The versions matching ``condition`` (on model_versions/registered_models), by name and
    number, each with its aliases and the datasets it was trained on."""
    rows = conn.execute(
        sa.select(model_versions, registered_models.c.name)
        .join(registered_models, registered_models.c.id == model_versions.c.model_id)
        .where(condition)
        .order_by(registered_models.c.name, model_versions.c.version)
    ).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    model_ids = {r.model_id for r in rows}
    aliases: dict[tuple[int, int], list[str]] = {}
    for mid, alias, version in conn.execute(
        sa.select(model_aliases.c.model_id, model_aliases.c.alias, model_aliases.c.version)
        .where(model_aliases.c.model_id.in_(model_ids))
        .order_by(model_aliases.c.alias)
    ):
        aliases.setdefault((mid, version), []).append(alias)
    lineage: dict[int, list[dict[str, Any]]] = {}
    for mv_id, name, version, digest in conn.execute(
        sa.select(
            model_version_datasets.c.model_version_id,
            datasets.c.name,
            dataset_versions.c.version,
            dataset_versions.c.content_hash,
        )
        .join(
            dataset_versions,
            dataset_versions.c.id == model_version_datasets.c.dataset_version_id,
        )
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .where(model_version_datasets.c.model_version_id.in_(ids))
    ):
        lineage.setdefault(mv_id, []).append(
            {"name": name, "version": version, "content_hash": digest}
        )
    return [
        ModelVersion(
            name=r.name,
            version=r.version,
            flavor=r.flavor,
            artifact_key=r.artifact_key,
            files=r.files,
            signature=r.signature,
            metrics=r.metrics,
            params=r.params,
            tags=r.tags,
            flavor_info=r.flavor_info,
            description=r.description,
            model_card=r.model_card,
            run_id=r.run_id,
            status=r.status,
            created_at=r.created_at,
            created_by=r.created_by,
            datasets=lineage.get(r.id, []),
            aliases=aliases.get((r.model_id, r.version), []),
            id=r.id,
            deleted_at=r.deleted_at,
        )
        for r in rows
    ]


def model_rows(conn: Connection, condition: Any) -> list[RegisteredModel]:
    """The registered models matching ``condition``, by name, with latest version and aliases.

    The latest version of an active model is its newest active version; that of a deleted model
    is the newest of the versions deleted with it — the one ``models:/NAME`` names once the model
    is restored (versions deleted on their own before stay deleted then)."""
    latest = (
        sa.select(sa.func.max(model_versions.c.version))
        .where(
            model_versions.c.model_id == registered_models.c.id,
            sa.or_(ACTIVE_VERSION, model_versions.c.deleted_at == registered_models.c.deleted_at),
        )
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(registered_models, latest.label("latest"))
        .where(condition)
        .order_by(registered_models.c.name)
    ).all()
    alias_rows = conn.execute(
        sa.select(model_aliases.c.model_id, model_aliases.c.alias, model_aliases.c.version).where(
            model_aliases.c.model_id.in_([r.id for r in rows])
        )
    ).all()
    by_model: dict[int, dict[str, int]] = {}
    for mid, alias, version in alias_rows:
        by_model.setdefault(mid, {})[alias] = version
    return [
        RegisteredModel(
            r.name,
            r.description,
            r.tags,
            r.created_at,
            r.updated_at,
            r.latest,
            by_model.get(r.id, {}),
            r.deleted_at,
        )
        for r in rows
    ]
