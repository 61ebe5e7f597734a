"""The model registry: registered models, auto-numbered versions, aliases with history, lineage.

Registering saves the model with its flavor into a private folder, uploads the files (each with
its SHA-256) under ``models/<name>/<uuid>/``, then allocates the next version number and records
everything — version row, lineage links, model card and audit entry — in one transaction
(:mod:`.versions`). Loading fetches the files into a local cache and verifies each against the
checksums recorded on the version *before* the flavor deserialises anything.

This module owns the public face of the registry; recording versions (:mod:`.versions`), aliases
(:mod:`.aliases`) and the read queries (:mod:`.queries`) live beside it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from modelplane.audit import AuditLog
from modelplane.core.lifecycle import check_lifecycle
from modelplane.core.names import check_name
from modelplane.core.roles import Role
from modelplane.core.uris import ModelRef, is_model_uri, parse_model_uri
from modelplane.errors import InvalidInputError, NotFoundError
from modelplane.registry.alias_rules import AliasRules, check_reserved_tags
from modelplane.registry.aliases import Aliases
from modelplane.registry.examples import INPUT_EXAMPLE
from modelplane.registry.lifecycle import Lifecycle, ModelUsers
from modelplane.registry.loaded import LoadedModel
from modelplane.registry.packaging import (
    SavedModel,
    save_mlflow_directory,
    save_object,
    with_pii,
)
from modelplane.registry.queries import (
    ACTIVE_MODEL,
    in_lifecycle,
    model_id,
    model_rows,
    version_rows,
)
from modelplane.registry.records import AliasChange, ModelVersion, RegisteredModel, VersionFacts
from modelplane.registry.versions import MAX_DESCRIPTION, VersionRecorder, clean_mapping
from modelplane.stores.artifacts import ArtifactStore
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import model_aliases, model_versions, registered_models


class RegistryService:
    def __init__(
        self,
        meta: MetadataStore,
        artifacts: ArtifactStore,
        audit: AuditLog,
        actor: str,
        *,
        cache_dir: Path,
        role: Role | None = None,
        model_users: ModelUsers | None = None,
    ) -> None:
        self.meta = meta
        self.artifacts = artifacts
        self.audit = audit
        self.actor = actor
        self.cache_dir = cache_dir
        self.role = role  # the caller's role when it came from a token (None: the owner)
        self._versions = VersionRecorder(meta, artifacts, audit, actor)
        self._aliases = Aliases(meta, audit, actor, role)
        # model_users: which deployed endpoints name a model (deleting a version they serve is
        # refused); wired in by the workspace, as endpoints sit above the registry
        self._lifecycle = Lifecycle(meta, audit, actor, model_users)

    @property
    def alias_rules(self) -> AliasRules:
        """Who may move which alias (:mod:`modelplane.registry.alias_rules`)."""
        return self._aliases.rules

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
        """Save ``model`` (an object, or a local MLflow model directory) with its flavor and
        record it as the next version of ``name``."""
        facts = VersionFacts(run_id, tuple(dataset_version_ids), metrics, params, tags, description)
        return self.register(name, model, X_example, facts)

    def register(self, name: str, model: Any, X_example: Any, facts: VersionFacts) -> ModelVersion:
        """:meth:`register_model` with what the version says of itself in one record."""
        check_name(name, "model name")
        with tempfile.TemporaryDirectory(prefix="mp-model-") as tmp:
            if isinstance(model, (str, Path)):
                saved = save_mlflow_directory(model, Path(tmp))
            else:
                saved = save_object(model, X_example, Path(tmp))
            return self._record(name, with_pii(saved, facts.pii), Path(tmp), facts)

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
        facts = VersionFacts(run_id, tuple(dataset_version_ids), metrics, params, tags, description)
        with tempfile.TemporaryDirectory(prefix="mp-model-") as tmp:
            saved = save_mlflow_directory(path, Path(tmp))
            return self._record(name, saved, Path(tmp), facts)

    def _record(
        self, name: str, saved: SavedModel, folder: Path, facts: VersionFacts
    ) -> ModelVersion:
        check_reserved_tags(facts.tags, self.role)
        if saved.tags:  # what the source implies (source: mlflow), under the caller's own tags
            facts = replace(facts, tags={**saved.tags, **dict(facts.tags or {})})
        version = self._versions.record(name, saved, folder, facts)
        return self.get_version(name, version)

    def register_files(
        self,
        name: str,
        flavor: str,
        flavor_info: Mapping[str, Any],
        signature: Mapping[str, Any],
        folder: Path,
        facts: VersionFacts | None = None,
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
        saved = SavedModel(flavor_name, dict(flavor_info), sig.to_dict())
        return self._record(name, saved, folder, facts or VersionFacts())

    # -- reading --------------------------------------------------------------------------------

    def get_version(self, name: str, version: int) -> ModelVersion:
        check_name(name, "model name")
        with self.meta.read() as conn:
            found = version_rows(
                conn,
                sa.and_(
                    registered_models.c.name == name,
                    model_versions.c.version == int(version),
                    ACTIVE_MODEL,
                ),
            )
        if not found:
            self.get_model(name)  # raises NotFound for an unknown model
            raise NotFoundError(f"model {name!r} has no version {version}", field="version")
        if found[0].deleted_at is not None:
            raise NotFoundError(
                f"models:/{name}/{version} is deleted (restore it with "
                f"mp.restore_model_version or modelplane models restore {name} {version})",
                field="version",
            )
        return found[0]

    def versions(self, name: str, *, lifecycle: str = "active") -> list[ModelVersion]:
        """The versions of ``name`` by number: ``active`` ones (default; a deleted model is a
        NotFoundError saying so), ``deleted`` ones or ``all`` — those two list the versions of
        a deleted model too (every one of them is deleted)."""
        stage = check_lifecycle(lifecycle)
        check_name(name, "model name")
        with self.meta.read() as conn:
            mid = model_id(conn, name, include_deleted=stage != "active")
            return version_rows(
                conn,
                sa.and_(
                    model_versions.c.model_id == mid,
                    in_lifecycle(model_versions.c.deleted_at, stage),
                ),
            )

    def get_model(self, name: str, *, include_deleted: bool = False) -> RegisteredModel:
        """A registered model; a deleted one is a NotFoundError saying so, unless
        ``include_deleted`` (its ``latest_version`` is then the one it has once restored)."""
        check_name(name, "model name")
        with self.meta.read() as conn:
            # NotFound for an unknown (or, unless asked for, deleted) model, saying which
            model_id(conn, name, include_deleted=include_deleted)
            return model_rows(conn, registered_models.c.name == name)[0]

    def list_models(self, *, lifecycle: str = "active") -> list[RegisteredModel]:
        """Registered models by name: ``active`` ones (default), ``deleted`` ones or ``all``.

        A deleted model's ``latest_version`` is the newest of the versions deleted with it: the
        one ``models:/NAME`` names once :meth:`restore_model` brings them back. Deleted versions
        of an active model are listed by :meth:`versions` (``lifecycle="deleted"``)."""
        stage = check_lifecycle(lifecycle)
        return self._models(in_lifecycle(registered_models.c.deleted_at, stage))

    def _models(self, condition: Any) -> list[RegisteredModel]:
        with self.meta.read() as conn:
            return model_rows(conn, condition)

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
            mid = model_id(conn, ref.name)
            row = conn.execute(
                sa.select(model_aliases.c.version).where(
                    model_aliases.c.model_id == mid, model_aliases.c.alias == ref.alias
                )
            ).first()
        if row is None:
            raise NotFoundError(f"model {ref.name!r} has no alias @{ref.alias}", field="alias")
        return self.get_version(ref.name, row.version)

    # -- aliases --------------------------------------------------------------------------------

    def set_alias(
        self, name: str, alias: str, version: int, *, reason: str | None = None
    ) -> ModelVersion:
        self._aliases.set(name, alias, version, reason=reason)
        return self.get_version(name, version)

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> None:
        self._aliases.delete(name, alias, reason=reason)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        return self._aliases.history(name, alias)

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
            check_reserved_tags(tags, self.role)
            values["tags"] = {**current.tags, **clean_mapping(tags, "tags")}
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
        """Delete a version (soft: kept, restorable); refused (409) while an alias points to it
        or a deployed endpoint serves it (:mod:`.lifecycle`)."""
        self._lifecycle.delete_version(name, version)

    def restore_version(self, name: str, version: int) -> ModelVersion:
        self._lifecycle.restore_version(name, version)
        return self.get_version(name, version)

    def delete_model(self, name: str) -> list[int]:
        """Delete a model with its versions (each checked as :meth:`delete_version` checks);
        returns the version numbers deleted with it."""
        return self._lifecycle.delete_model(name)

    def restore_model(self, name: str) -> RegisteredModel:
        """Restore a deleted model with the versions deleted with it."""
        self._lifecycle.restore_model(name)
        return self.get_model(name)

    # -- loading --------------------------------------------------------------------------------

    def fetch(self, mv: ModelVersion) -> Path:
        """The version's files in the local cache, each verified against the registry record."""
        local = self.cache_dir / "models" / mv.artifact_key.removeprefix("models/")
        return self.artifacts.get_dir(mv.artifact_key, mv.files, local)

    def verify(self, ref: str | ModelRef) -> ModelVersion:
        """The version ``ref`` names, after reading every one of its stored files and checking
        it against its recorded SHA-256 (IntegrityError, 409, naming the file, when one does not
        match): deploying checks this, so serving nodes never meet a corrupted model."""
        mv = self.resolve(ref)
        with tempfile.TemporaryDirectory(prefix="mp-verify-") as tmp:
            self.artifacts.get_dir(mv.artifact_key, mv.files, Path(tmp) / "files")
        return mv

    def load(self, ref: str | ModelRef | ModelVersion) -> LoadedModel:
        from modelplane.registry.flavors import get_flavor

        mv = ref if isinstance(ref, ModelVersion) else self.resolve(ref)
        folder = self.fetch(mv)
        model = get_flavor(mv.flavor).load(folder, mv.flavor_info)
        return LoadedModel(model, mv)

    def clear_cache(self) -> None:
        shutil.rmtree(self.cache_dir / "models", ignore_errors=True)
