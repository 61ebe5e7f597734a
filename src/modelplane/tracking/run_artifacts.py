"""The service that stores, lists and reads run artifacts in the artifact store (see
:mod:`modelplane.tracking.artifacts` for the layout and the path rules); every file logged is
audited with the actor."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from modelplane.audit import AuditLog
from modelplane.core.names import check_artifact_key
from modelplane.errors import ConflictError, InvalidInputError, NotFoundError
from modelplane.stores.artifacts import ArtifactStore
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import runs
from modelplane.tracking.artifacts import ArtifactEntry, artifact_path, optional_path, run_root


class RunArtifacts:
    """Log, list and read the artifacts of runs, acting (and audited) as ``actor``."""

    def __init__(
        self, meta: MetadataStore, store: ArtifactStore, audit: AuditLog, actor: str
    ) -> None:
        self.meta = meta
        self.store = store
        self.audit = audit
        self.actor = actor

    def _require_run(self, run_id: object, *, active: bool = False) -> str:
        """``run_id`` if the run exists; ``active``: a deleted run is refused (409), as every
        change to it is (its artifacts stay readable, and come back with it when restored)."""
        if not isinstance(run_id, str) or not run_id or len(run_id) > 32:
            raise InvalidInputError(f"invalid run id {str(run_id)[:40]!r}", field="run_id")
        with self.meta.read() as conn:
            found = conn.execute(
                sa.select(runs.c.id, runs.c.deleted_at).where(runs.c.id == run_id)
            ).first()
        if found is None:
            raise NotFoundError(f"no run with id {run_id!r}", field="run_id")
        if active and found.deleted_at is not None:
            raise ConflictError(f"run {run_id} is deleted: restore it first", field="run_id")
        return run_id

    def _key(self, run_id: str, rel: str, field: str) -> str:
        key = f"{run_root(run_id)}/{rel}"
        try:
            return check_artifact_key(key)
        except InvalidInputError as exc:
            raise InvalidInputError(exc.message, field=field) from None

    def log_file(
        self, run_id: str, local: Path, path: str, *, field: str = "artifact_path"
    ) -> ArtifactEntry:
        """Store the local file ``local`` as the run's artifact ``path``."""
        rel = artifact_path(path, field)
        run_id = self._require_run(run_id, active=True)
        key = self._key(run_id, rel, field)
        if not local.is_file():
            raise InvalidInputError(f"{local} is not a file", field="local_path")
        try:
            info = self.store.put_file(key, local)
        except ConflictError as exc:
            raise ConflictError(
                f"run {run_id} already has an artifact {rel!r} with other content; run "
                "artifacts are immutable: log it under another name",
                field=field,
            ) from exc
        with self.meta.write() as conn:
            self.audit.append(
                conn,
                actor=self.actor,
                action="run.artifact.log",
                target=f"runs/{run_id}/artifacts/{rel}"[:1000],
                after={"sha256": info.sha256, "size": info.size},
            )
        return ArtifactEntry(rel, info.size, info.sha256)

    def list(self, run_id: str, path: str | None = None) -> list[ArtifactEntry]:
        """Every file of the run at or below ``path`` (default: all), sorted by path."""
        rel = optional_path(path)
        run_id = self._require_run(run_id)
        root = run_root(run_id)
        entries: list[ArtifactEntry] = []
        prefix = f"{root}/{rel}" if rel else root
        for info in self.store.infos(prefix + "/"):
            entries.append(ArtifactEntry(info.key[len(root) + 1 :], info.size, info.sha256))
        if rel:
            exact = self.store.record(self._key(run_id, rel, "path"))
            if exact is not None:
                entries.insert(0, ArtifactEntry(rel, exact.size, exact.sha256))
        return entries

    def get_bytes(self, run_id: str, path: str, *, field: str = "path") -> tuple[bytes, str]:
        """One artifact's bytes (verified against its recorded SHA-256) and that SHA-256."""
        rel = artifact_path(path, field)
        run_id = self._require_run(run_id)
        key = self._key(run_id, rel, field)
        info = self.store.record(key)
        if info is None:
            raise NotFoundError(f"run {run_id} has no artifact {rel!r}", field=field)
        return self.store.get_bytes(key, expected_sha256=info.sha256), info.sha256

    def fetch(self, run_id: str, entry: ArtifactEntry, target: Path) -> Path:
        """Copy one listed artifact to ``target``, verified against the listed SHA-256."""
        key = self._key(run_id, artifact_path(entry.path, "path"), "path")
        return self.store.get_file(key, target, expected_sha256=entry.sha256)


__all__ = ["RunArtifacts"]
