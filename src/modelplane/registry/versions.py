"""Recording a model version: checks of its metadata, the upload of its files, then one
transaction that creates the model on first use, claims the next version number from the model's
counter and writes the version row, its lineage links, its model card and the audit entry.

Version numbers come from :func:`~modelplane.stores.metadata.repository.claim_next`: concurrent
registrations queue on the model row, and numbers are never reused after a deletion.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from modelplane.audit import AuditLog
from modelplane.core.names import check_key
from modelplane.core.sql import inserted_id, now_ms
from modelplane.errors import ConflictError, FlavorError, InvalidInputError, NotFoundError
from modelplane.registry.card import render_card
from modelplane.registry.packaging import SavedModel
from modelplane.registry.records import VersionFacts
from modelplane.stores.artifacts import ArtifactStore
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.repository import claim_next, get_or_create
from modelplane.stores.metadata.schema import (
    dataset_versions,
    datasets,
    experiments,
    model_version_datasets,
    model_versions,
    registered_models,
    runs,
)

MAX_DESCRIPTION = 20_000


def _json_scalar(key: str, value: Any, field: str) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    try:
        return float(value)  # numpy scalars
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{field} {key!r} must be a number, string or bool, got {type(value).__name__}",
            field=f"{field}.{key}",
        ) from None


def clean_mapping(values: Mapping[str, Any] | None, field: str) -> dict[str, Any]:
    """``values`` as a JSON object of scalars with checked keys (metrics, params, tags)."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInputError(f"{field} must be a mapping", field=field)
    out = {}
    for key, value in values.items():
        check_key(key, f"{field} name")
        out[key] = _json_scalar(key, value, field)
    return out


class VersionRecorder:
    """Stores a saved model folder as the next version of a registered model."""

    def __init__(
        self, meta: MetadataStore, artifacts: ArtifactStore, audit: AuditLog, actor: str
    ) -> None:
        self.meta = meta
        self.artifacts = artifacts
        self.audit = audit
        self.actor = actor

    def record(self, name: str, saved: SavedModel, folder: Path, about: VersionFacts) -> int:
        """Upload ``folder`` (what ``saved`` describes) and record it; returns the new version
        number."""
        description = about.description
        facts = {
            "flavor": saved.flavor,
            "flavor_info": saved.flavor_info,
            "signature": saved.signature,
            "metrics": clean_mapping(about.metrics, "metrics"),
            "params": clean_mapping(about.params, "params"),
            "tags": clean_mapping(about.tags, "tags"),
            "description": description,
        }
        run_id, dataset_version_ids, flavor = about.run_id, about.dataset_version_ids, saved.flavor
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidInputError(
                f"description must be a string of at most {MAX_DESCRIPTION} characters",
                field="description",
            )
        run = self._run_summary(run_id) if run_id is not None else None
        ds_rows = self._dataset_summaries(dataset_version_ids)

        prefix = f"models/{name}/{uuid.uuid4().hex}"
        files = self.artifacts.put_dir(prefix, folder)
        if not files:
            raise FlavorError(f"the {flavor} flavor saved no files", field="model")
        return self._insert(name, facts, prefix, files, run, ds_rows)

    def _insert(
        self,
        name: str,
        facts: dict[str, Any],
        prefix: str,
        files: dict[str, str],
        run: dict[str, Any] | None,
        ds_rows: list[dict[str, Any]],
    ) -> int:
        created = now_ms()
        with self.meta.write() as conn:
            model_id, new_model = get_or_create(
                conn,
                registered_models,
                key="name",
                value=name,
                defaults={
                    "description": "",
                    "tags": {},
                    "created_at": created,
                    "updated_at": created,
                },
            )
            deleted = conn.execute(
                sa.select(registered_models.c.deleted_at).where(registered_models.c.id == model_id)
            ).scalar()
            if deleted is not None:
                raise ConflictError(
                    f"model {name!r} is deleted: restore it (mp.restore_model or modelplane "
                    "models restore) before registering versions of it, or choose another name",
                    field="model",
                )
            version = claim_next(
                conn, registered_models, "last_version", model_id, updated_at=created
            )
            card = render_card(
                facts,
                name=name,
                version=version,
                run=run,
                datasets=ds_rows,
                created_at=created,
                created_by=self.actor,
            )
            version_id = inserted_id(
                conn.execute(
                    model_versions.insert().values(
                        model_id=model_id,
                        version=version,
                        artifact_key=prefix,
                        files=files,
                        model_card=card,
                        run_id=run["id"] if run else None,
                        status="READY",
                        created_at=created,
                        created_by=self.actor,
                        **facts,
                    )
                )
            )
            if ds_rows:
                conn.execute(
                    model_version_datasets.insert(),
                    [
                        {"model_version_id": version_id, "dataset_version_id": d["id"]}
                        for d in ds_rows
                    ],
                )
            # The audit head is locked last, once every other lock is held: a transaction that
            # holds it never waits for another, so registrations cannot dead-lock on PostgreSQL.
            if new_model:
                self.audit.append(
                    conn,
                    actor=self.actor,
                    action="model.create",
                    target=f"models/{name}",
                    after={"name": name},
                )
            self.audit.append(
                conn,
                actor=self.actor,
                action="model.register",
                target=f"models/{name}/{version}",
                after={
                    "version": version,
                    "flavor": facts["flavor"],
                    "artifact": prefix,
                    "files": files,
                    "run_id": run["id"] if run else None,
                    "datasets": [f"{d['name']}/{d['version']}" for d in ds_rows],
                },
            )
        return version

    def _run_summary(self, run_id: str) -> dict[str, Any]:
        if not isinstance(run_id, str) or len(run_id) > 32:
            raise InvalidInputError(f"invalid run id {str(run_id)[:40]!r}", field="run_id")
        with self.meta.read() as conn:
            row = conn.execute(
                sa.select(
                    runs.c.id, runs.c.name, runs.c.code_version, experiments.c.name.label("exp")
                )
                .join(experiments, experiments.c.id == runs.c.experiment_id)
                .where(runs.c.id == run_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no run with id {run_id!r}", field="run_id")
        return {
            "id": row.id,
            "name": row.name,
            "experiment": row.exp,
            "code_version": row.code_version,
        }

    def _dataset_summaries(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        if not ids:
            return []
        wanted = sorted({int(i) for i in ids})
        with self.meta.read() as conn:
            rows = conn.execute(
                sa.select(
                    dataset_versions.c.id,
                    datasets.c.name,
                    dataset_versions.c.version,
                    dataset_versions.c.num_rows,
                    dataset_versions.c.content_hash,
                )
                .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                .where(dataset_versions.c.id.in_(wanted))
            ).all()
        found = {r.id for r in rows}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise NotFoundError(f"unknown dataset version id(s) {missing}", field="datasets")
        return [dict(r._mapping) for r in rows]
