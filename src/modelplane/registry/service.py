"""The model registry: registered models, auto-numbered versions, aliases with history, lineage.

Registering saves the model with its flavor into a private folder, uploads the files (each with
its SHA-256) under ``models/<name>/<uuid>/``, then allocates the next version number and records
everything — version row, lineage links, model card and audit entry — in one transaction.
Loading fetches the files into a local cache and verifies each against the checksums recorded on
the version *before* the flavor deserialises anything.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.audit import AuditLog
from modelplane.core.names import check_alias, check_key, check_name
from modelplane.core.sql import inserted_id, now_ms, upsert
from modelplane.core.uris import ModelRef, is_model_uri, parse_model_uri
from modelplane.errors import ConflictError, FlavorError, InvalidInputError, NotFoundError
from modelplane.registry.card import render_card
from modelplane.registry.examples import INPUT_EXAMPLE, save_example
from modelplane.registry.loaded import LoadedModel
from modelplane.registry.records import AliasChange, ModelVersion, RegisteredModel
from modelplane.stores.artifacts import ArtifactStore
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import (
    dataset_versions,
    datasets,
    experiments,
    model_alias_history,
    model_aliases,
    model_version_datasets,
    model_versions,
    registered_models,
    runs,
)

RESERVED_ALIASES = ("latest",)
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


def _clean_mapping(values: Mapping[str, Any] | None, field: str) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInputError(f"{field} must be a mapping", field=field)
    out = {}
    for key, value in values.items():
        check_key(key, f"{field} name")
        out[key] = _json_scalar(key, value, field)
    return out


class RegistryService:
    def __init__(
        self,
        meta: MetadataStore,
        artifacts: ArtifactStore,
        audit: AuditLog,
        actor: str,
        *,
        cache_dir: Path,
    ) -> None:
        self.meta = meta
        self.artifacts = artifacts
        self.audit = audit
        self.actor = actor
        self.cache_dir = cache_dir

    # -- registering ----------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        model: Any,
        X_example: Any = None,
        *,
        run_id: str | None = None,
        dataset_version_ids: Sequence[int] = (),
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> ModelVersion:
        check_name(name, "model name")
        if isinstance(model, (str, Path)):
            return self.import_model(
                Path(self._local_source(model)),
                name,
                run_id=run_id,
                dataset_version_ids=dataset_version_ids,
                metrics=metrics,
                params=params,
                tags=tags,
                description=description,
            )
        from modelplane.registry.flavors import flavor_for
        from modelplane.registry.signature import infer_signature

        flavor = flavor_for(model)
        signature = infer_signature(model, X_example)
        with tempfile.TemporaryDirectory(prefix="mp-model-") as tmp:
            info = flavor.save(model, Path(tmp))
            if save_example(X_example, signature.to_dict(), Path(tmp) / INPUT_EXAMPLE):
                info["input_example"] = INPUT_EXAMPLE
            return self._record_version(
                name,
                flavor.name,
                info,
                signature.to_dict(),
                Path(tmp),
                run_id=run_id,
                dataset_version_ids=dataset_version_ids,
                metrics=metrics,
                params=params,
                tags=tags,
                description=description,
            )

    @staticmethod
    def _local_source(source: str | Path) -> str:
        text = str(source)
        if "://" in text or text.startswith("models:"):
            raise FlavorError(
                f"model source {text[:100]!r} is a URI; pass a model object or a local MLflow "
                "model directory (models:/ URIs are loaded with load_model, not registered)",
                field="model",
            )
        path = Path(text)
        if not path.is_dir():
            raise FlavorError(
                f"model source {text[:100]!r} is not a directory: pass a model object or a "
                "local MLflow model directory (a folder with an MLmodel file)",
                field="model",
            )
        return text

    def import_model(
        self,
        path: Path,
        name: str,
        *,
        run_id: str | None = None,
        dataset_version_ids: Sequence[int] = (),
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Import an MLflow model directory (``MLmodel`` + payload) as a new version."""
        check_name(name, "model name")
        from modelplane.registry.flavors import get_flavor
        from modelplane.registry.mlflow_import import read_mlflow_model
        from modelplane.registry.signature import Signature

        spec = read_mlflow_model(Path(self._local_source(path)))
        flavor = get_flavor(spec.flavor)
        signature = spec.signature or Signature.from_dict({})
        all_tags = {"source": "mlflow", **dict(tags or {})}
        with tempfile.TemporaryDirectory(prefix="mp-model-") as tmp:
            info = flavor.save(spec.model, Path(tmp))
            info["imported_from"] = {"format": "mlflow", **_small(spec.info)}
            return self._record_version(
                name,
                flavor.name,
                info,
                signature.to_dict(),
                Path(tmp),
                run_id=run_id,
                dataset_version_ids=dataset_version_ids,
                metrics=metrics,
                params=params,
                tags=all_tags,
                description=description,
            )

    def register_files(
        self,
        name: str,
        flavor: str,
        flavor_info: Mapping[str, Any],
        signature: Mapping[str, Any],
        folder: Path,
        *,
        run_id: str | None = None,
        dataset_version_ids: Sequence[int] = (),
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Register files a flavor saved elsewhere (an upload) as the next version of ``name``.

        Nothing is deserialised: the flavor name and the signature are validated, ``folder`` must
        hold only regular files named as flavors name them (plus the input example), and the
        bytes are stored as they are, with their checksums.
        """
        check_name(name, "model name")
        from modelplane.registry.flavors import get_flavor
        from modelplane.registry.flavors.base import MODEL_FILE_NAMES
        from modelplane.registry.signature import Signature

        flavor_name = get_flavor(flavor).name
        sig = Signature.from_dict(dict(signature) if isinstance(signature, Mapping) else signature)
        if not isinstance(flavor_info, Mapping):
            raise InvalidInputError("flavor_info must be a JSON object", field="flavor_info")
        allowed = MODEL_FILE_NAMES | {INPUT_EXAMPLE}
        folder = Path(folder)
        if not folder.is_dir():
            raise InvalidInputError(f"{folder} is not a folder", field="files")
        present: set[str] = set()
        for path in folder.iterdir():
            if path.name not in allowed or path.is_symlink() or not path.is_file():
                names = ", ".join(sorted(allowed))
                raise InvalidInputError(
                    f"model file {path.name[:100]!r} is not allowed: use {names}", field="files"
                )
            present.add(path.name)
        if not present & MODEL_FILE_NAMES:
            raise InvalidInputError(
                f"no model file: give one of {', '.join(sorted(MODEL_FILE_NAMES))}", field="files"
            )
        listed = flavor_info.get("files", [])
        if not isinstance(listed, list) or any(f not in present for f in listed):
            raise InvalidInputError(
                "flavor_info.files must list uploaded model files only", field="flavor_info.files"
            )
        example = flavor_info.get("input_example")
        if example is not None and (example != INPUT_EXAMPLE or example not in present):
            raise InvalidInputError(
                f"flavor_info.input_example must be {INPUT_EXAMPLE!r}, uploaded with the model",
                field="flavor_info.input_example",
            )
        return self._record_version(
            name,
            flavor_name,
            dict(flavor_info),
            sig.to_dict(),
            folder,
            run_id=run_id,
            dataset_version_ids=dataset_version_ids,
            metrics=metrics,
            params=params,
            tags=tags,
            description=description,
        )

    def _record_version(
        self,
        name: str,
        flavor: str,
        flavor_info: dict[str, Any],
        signature: dict[str, Any],
        folder: Path,
        *,
        run_id: str | None,
        dataset_version_ids: Sequence[int],
        metrics: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
        tags: Mapping[str, Any] | None,
        description: str,
    ) -> ModelVersion:
        metrics_c = _clean_mapping(metrics, "metrics")
        params_c = _clean_mapping(params, "params")
        tags_c = _clean_mapping(tags, "tags")
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

        for attempt in range(10):
            try:
                return self._insert_version(
                    name,
                    flavor,
                    flavor_info,
                    signature,
                    prefix,
                    files,
                    run,
                    ds_rows,
                    metrics_c,
                    params_c,
                    tags_c,
                    description,
                )
            except sa.exc.IntegrityError:  # a concurrent registration took the version number
                if attempt == 9:
                    raise
        raise AssertionError("unreachable")

    def _insert_version(
        self,
        name: str,
        flavor: str,
        flavor_info: dict[str, Any],
        signature: dict[str, Any],
        prefix: str,
        files: dict[str, str],
        run: dict[str, Any] | None,
        ds_rows: list[dict[str, Any]],
        metrics: dict[str, Any],
        params: dict[str, Any],
        tags: dict[str, Any],
        description: str,
    ) -> ModelVersion:
        created = now_ms()
        with self.meta.write() as conn:
            model_id = self._model_id(conn, name, create=True)
            # Claim the next number by bumping the counter: the UPDATE row-locks the model on
            # PostgreSQL (SQLite writers are serialised by BEGIN IMMEDIATE).
            last = conn.execute(
                registered_models.update()
                .where(registered_models.c.id == model_id)
                .values(last_version=registered_models.c.last_version + 1, updated_at=created)
                .returning(registered_models.c.last_version)
            ).scalar_one()
            version = int(last)
            card = render_card(
                name=name,
                version=version,
                flavor=flavor,
                flavor_info=flavor_info,
                signature=signature,
                metrics=metrics,
                params=params,
                tags=tags,
                description=description,
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
                        flavor=flavor,
                        artifact_key=prefix,
                        files=files,
                        signature=signature,
                        metrics=metrics,
                        params=params,
                        tags=tags,
                        flavor_info=flavor_info,
                        description=description,
                        model_card=card,
                        run_id=run["id"] if run else None,
                        status="READY",
                        created_at=created,
                        created_by=self.actor,
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
            self.audit.append(
                conn,
                actor=self.actor,
                action="model.register",
                target=f"models/{name}/{version}",
                after={
                    "version": version,
                    "flavor": flavor,
                    "artifact": prefix,
                    "files": files,
                    "run_id": run["id"] if run else None,
                    "datasets": [f"{d['name']}/{d['version']}" for d in ds_rows],
                },
            )
        return self.get_version(name, version)

    def _model_id(self, conn: Connection, name: str, *, create: bool = False) -> int:
        row = conn.execute(
            sa.select(registered_models.c.id).where(registered_models.c.name == name)
        ).first()
        if row is not None:
            return int(row.id)
        if not create:
            raise NotFoundError(f"no model named {name!r}", field="model")
        now = now_ms()
        model_id = inserted_id(
            conn.execute(
                registered_models.insert().values(
                    name=name, description="", tags={}, created_at=now, updated_at=now
                )
            )
        )
        self.audit.append(
            conn,
            actor=self.actor,
            action="model.create",
            target=f"models/{name}",
            after={"name": name},
        )
        return int(model_id)

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

    # -- reading --------------------------------------------------------------------------------

    def _version_rows(self, conn: Connection, condition: Any) -> list[ModelVersion]:
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
        for model_id, alias, version in conn.execute(
            sa.select(model_aliases.c.model_id, model_aliases.c.alias, model_aliases.c.version)
            .where(model_aliases.c.model_id.in_(model_ids))
            .order_by(model_aliases.c.alias)
        ):
            aliases.setdefault((model_id, version), []).append(alias)
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
            )
            for r in rows
        ]

    def get_version(self, name: str, version: int) -> ModelVersion:
        check_name(name, "model name")
        with self.meta.read() as conn:
            found = self._version_rows(
                conn,
                sa.and_(registered_models.c.name == name, model_versions.c.version == int(version)),
            )
        if not found:
            self.get_model(name)  # raises NotFound for an unknown model
            raise NotFoundError(f"model {name!r} has no version {version}", field="version")
        return found[0]

    def versions(self, name: str) -> list[ModelVersion]:
        self.get_model(name)
        with self.meta.read() as conn:
            return self._version_rows(conn, registered_models.c.name == name)

    def get_model(self, name: str) -> RegisteredModel:
        check_name(name, "model name")
        models = self._models(registered_models.c.name == name)
        if not models:
            raise NotFoundError(f"no model named {name!r}", field="model")
        return models[0]

    def list_models(self) -> list[RegisteredModel]:
        return self._models(sa.true())

    def _models(self, condition: Any) -> list[RegisteredModel]:
        latest = (
            sa.select(sa.func.max(model_versions.c.version))
            .where(model_versions.c.model_id == registered_models.c.id)
            .scalar_subquery()
        )
        with self.meta.read() as conn:
            rows = conn.execute(
                sa.select(registered_models, latest.label("latest"))
                .where(condition)
                .order_by(registered_models.c.name)
            ).all()
            alias_rows = conn.execute(
                sa.select(
                    model_aliases.c.model_id, model_aliases.c.alias, model_aliases.c.version
                ).where(model_aliases.c.model_id.in_([r.id for r in rows]))
            ).all()
        by_model: dict[int, dict[str, int]] = {}
        for model_id, alias, version in alias_rows:
            by_model.setdefault(model_id, {})[alias] = version
        return [
            RegisteredModel(
                r.name,
                r.description,
                r.tags,
                r.created_at,
                r.updated_at,
                r.latest,
                by_model.get(r.id, {}),
            )
            for r in rows
        ]

    def resolve(self, ref: str | ModelRef) -> ModelVersion:
        """A ``models:/`` URI (or parsed ref) → the version it names right now."""
        if isinstance(ref, str):
            if not is_model_uri(ref):
                raise InvalidInputError(
                    f"{ref[:100]!r} is not a model URI: use models:/NAME/VERSION or "
                    "models:/NAME@ALIAS",
                    field="model_uri",
                )
            ref = parse_model_uri(ref)
        if ref.version is not None:
            return self.get_version(ref.name, ref.version)
        if ref.alias is None or ref.alias == "latest":
            model = self.get_model(ref.name)
            if model.latest_version is None:
                raise NotFoundError(f"model {ref.name!r} has no versions", field="model")
            return self.get_version(ref.name, model.latest_version)
        with self.meta.read() as conn:
            model_id = self._model_id(conn, ref.name)
            row = conn.execute(
                sa.select(model_aliases.c.version).where(
                    model_aliases.c.model_id == model_id, model_aliases.c.alias == ref.alias
                )
            ).first()
        if row is None:
            raise NotFoundError(f"model {ref.name!r} has no alias @{ref.alias}", field="alias")
        return self.get_version(ref.name, row.version)

    # -- aliases --------------------------------------------------------------------------------

    def set_alias(
        self, name: str, alias: str, version: int, *, reason: str | None = None
    ) -> ModelVersion:
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
        with self.meta.write() as conn:
            model_id = self._model_id(conn, name)
            exists = conn.execute(
                sa.select(model_versions.c.id).where(
                    model_versions.c.model_id == model_id, model_versions.c.version == version
                )
            ).first()
            if exists is None:
                raise NotFoundError(f"model {name!r} has no version {version}", field="version")
            old = conn.execute(
                sa.select(model_aliases.c.version).where(
                    model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
                )
            ).scalar()
            now = now_ms()
            if old != version:
                upsert(
                    conn,
                    model_aliases,
                    [
                        {
                            "model_id": model_id,
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
                        model_id=model_id,
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
        return self.get_version(name, version)

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> None:
        check_name(name, "model name")
        check_alias(alias)
        with self.meta.write() as conn:
            model_id = self._model_id(conn, name)
            old = conn.execute(
                sa.select(model_aliases.c.version).where(
                    model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
                )
            ).scalar()
            if old is None:
                raise NotFoundError(f"model {name!r} has no alias @{alias}", field="alias")
            conn.execute(
                model_aliases.delete().where(
                    model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
                )
            )
            conn.execute(
                model_alias_history.insert().values(
                    model_id=model_id,
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

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        check_name(name, "model name")
        with self.meta.read() as conn:
            model_id = self._model_id(conn, name)
            query = sa.select(model_alias_history).where(model_alias_history.c.model_id == model_id)
            if alias is not None:
                query = query.where(model_alias_history.c.alias == check_alias(alias))
            rows = conn.execute(query.order_by(model_alias_history.c.id)).all()
        return [
            AliasChange(name, r.alias, r.old_version, r.new_version, r.actor, r.reason, r.ts)
            for r in rows
        ]

    # -- changing and deleting ------------------------------------------------------------------

    def update_version(
        self,
        name: str,
        version: int,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        current = self.get_version(name, version)
        values: dict[str, Any] = {}
        if description is not None:
            if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
                raise InvalidInputError("description too long or not a string", field="description")
            values["description"] = description
        if tags is not None:
            values["tags"] = {**current.tags, **_clean_mapping(tags, "tags")}
        if not values:
            return current
        with self.meta.write() as conn:
            conn.execute(
                model_versions.update().where(model_versions.c.id == current.id).values(**values)
            )
            self.audit.append(
                conn,
                actor=self.actor,
                action="model_version.update",
                target=f"models/{name}/{version}",
                before={k: getattr(current, k) for k in values},
                after=values,
            )
        return self.get_version(name, version)

    def delete_version(self, name: str, version: int) -> None:
        current = self.get_version(name, version)
        if current.aliases:
            raise ConflictError(
                f"models:/{name}/{version} is still @{', @'.join(current.aliases)}; move or delete "
                "those aliases first",
                field="version",
            )
        with self.meta.write() as conn:
            conn.execute(model_versions.delete().where(model_versions.c.id == current.id))
            self.audit.append(
                conn,
                actor=self.actor,
                action="model_version.delete",
                target=f"models/{name}/{version}",
                before={
                    "flavor": current.flavor,
                    "artifact": current.artifact_key,
                    "files": current.files,
                },
            )

    # -- loading --------------------------------------------------------------------------------

    def fetch(self, mv: ModelVersion) -> Path:
        """The version's files in the local cache, each verified against the registry record."""
        local = self.cache_dir / "models" / mv.artifact_key.removeprefix("models/")
        return self.artifacts.get_dir(mv.artifact_key, mv.files, local)

    def load(self, ref: str | ModelRef | ModelVersion) -> LoadedModel:
        from modelplane.registry.flavors import get_flavor

        mv = ref if isinstance(ref, ModelVersion) else self.resolve(ref)
        folder = self.fetch(mv)
        model = get_flavor(mv.flavor).load(folder, mv.flavor_info)
        return LoadedModel(model, mv)

    def clear_cache(self) -> None:
        shutil.rmtree(self.cache_dir / "models", ignore_errors=True)


def _small(info: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only JSON-friendly scalar facts of an imported model's metadata."""
    return {
        k: v
        for k, v in info.items()
        if isinstance(v, (str, int, float, bool)) and len(str(v)) < 500
    }
