"""Artifact store interface and the checksum bookkeeping every backend shares.

Keys are validated by :func:`modelplane.core.names.check_artifact_key` before any backend sees
them. Artifacts are immutable: writing an existing key with the same bytes is a no-op, with other
bytes a :class:`ConflictError`. The SHA-256 of every file is recorded in the metadata store's
``artifacts`` table; reads hash the bytes and refuse them (:class:`IntegrityError`) when they do not
match, so nothing is ever handed to a deserialiser unverified.
"""

from __future__ import annotations

import abc
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from modelplane.core.names import check_artifact_key
from modelplane.errors import ConflictError, IntegrityError, InvalidInputError, NotFoundError
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.repository import insert_or_ignore
from modelplane.stores.metadata.schema import artifacts as artifacts_table

CHUNK = 1 << 20


@dataclass(frozen=True)
class ArtifactInfo:
    key: str
    sha256: str
    size: int


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class ArtifactStore(abc.ABC):
    """Base class: checksum records and verification; subclasses move bytes."""

    scheme: str = ""

    def __init__(self, root: str, meta: MetadataStore) -> None:
        self.root = root
        self.meta = meta

    # -- backend primitives ---------------------------------------------------------------------

    @abc.abstractmethod
    def _write_file(self, key: str, local: Path) -> None:
        """Make ``local``'s bytes visible under ``key`` atomically (all or nothing)."""

    @abc.abstractmethod
    def _open_read(self, key: str) -> IO[bytes]:
        """Open the stored bytes of ``key``; raise FileNotFoundError when absent."""

    @abc.abstractmethod
    def _exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def _delete(self, key: str) -> None: ...

    @abc.abstractmethod
    def uri(self, key: str) -> str:
        """The backend URI of a key (for display and for tools that read the store directly)."""

    # -- public API -----------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> ArtifactInfo:
        key = check_artifact_key(key)  # before anything is written, even a temp file
        with tempfile.NamedTemporaryFile(prefix="mp-put-", delete=False) as tmp:
            tmp.write(data)
        try:
            return self.put_file(key, Path(tmp.name))
        finally:
            os.unlink(tmp.name)

    def put_file(self, key: str, local: Path) -> ArtifactInfo:
        key = check_artifact_key(key)
        if not local.is_file():
            raise InvalidInputError(f"{local} is not a file", field="path")
        sha, size = sha256_file(local)
        known = self.record(key)
        if known is not None:
            if known.sha256 == sha and self._exists(key):
                return known
            if known.sha256 != sha:
                raise ConflictError(
                    f"artifact {key!r} already exists with other content; artifacts are immutable"
                )
        self._write_file(key, local)
        info = ArtifactInfo(key, sha, size)
        self._record(info)
        return info

    def put_dir(self, prefix: str, local_dir: Path) -> dict[str, str]:
        """Store every regular file under ``local_dir`` below ``prefix``; return {relpath: sha256}."""
        prefix = check_artifact_key(prefix)
        if not local_dir.is_dir():
            raise InvalidInputError(f"{local_dir} is not a folder", field="path")
        files: dict[str, str] = {}
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file() and not p.is_symlink()):
            rel = path.relative_to(local_dir).as_posix()
            files[rel] = self.put_file(f"{prefix}/{rel}", path).sha256
        return files

    def record(self, key: str) -> ArtifactInfo | None:
        key = check_artifact_key(key)
        t = artifacts_table
        with self.meta.read() as conn:
            row = conn.execute(sa.select(t.c.sha256, t.c.size).where(t.c.key == key)).first()
        return None if row is None else ArtifactInfo(key, row.sha256, row.size)

    def get_bytes(self, key: str, expected_sha256: str | None = None) -> bytes:
        key = check_artifact_key(key)
        expected = self._expected(key, expected_sha256)
        try:
            with self._open_read(key) as fh:
                data = fh.read()
        except FileNotFoundError as exc:
            raise NotFoundError(f"artifact {key!r} is recorded but missing from the store") from exc
        actual = hashlib.sha256(data).hexdigest()
        self._check(key, expected, actual)
        return data

    def get_file(self, key: str, dest: Path, expected_sha256: str | None = None) -> Path:
        """Copy ``key`` to ``dest``, verified; ``dest`` only appears once the bytes matched."""
        key = check_artifact_key(key)
        expected = self._expected(key, expected_sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".mp-get-", dir=dest.parent)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with self._open_read(key) as fh:
                        while chunk := fh.read(CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                except FileNotFoundError as exc:
                    raise NotFoundError(
                        f"artifact {key!r} is recorded but missing from the store"
                    ) from exc
            self._check(key, expected, digest.hexdigest())
            os.replace(tmp_name, dest)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
        return dest

    def get_dir(self, prefix: str, files: dict[str, str], dest: Path) -> Path:
        """Fetch ``files`` ({relpath: sha256}) under ``prefix`` into ``dest``, each verified.

        Files already in ``dest`` are re-hashed and only fetched again when they do not match.
        """
        prefix = check_artifact_key(prefix)
        for rel in files:  # every name is checked before anything is fetched
            check_artifact_key(rel)
        for rel, sha in files.items():
            target = dest / rel
            if target.is_file() and sha256_file(target)[0] == sha:
                continue
            self.get_file(f"{prefix}/{rel}", target, expected_sha256=sha)
        return dest

    def exists(self, key: str) -> bool:
        return self._exists(check_artifact_key(key))

    def delete(self, key: str) -> None:
        key = check_artifact_key(key)
        self._delete(key)
        with self.meta.write() as conn:
            conn.execute(sa.delete(artifacts_table).where(artifacts_table.c.key == key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        t = artifacts_table
        query = sa.select(t.c.key).order_by(t.c.key)
        if prefix:
            query = query.where(t.c.key.startswith(prefix, autoescape=True))
        with self.meta.read() as conn:
            yield from conn.execute(query).scalars()

    # -- helpers --------------------------------------------------------------------------------

    def _expected(self, key: str, given: str | None) -> str:
        if given is not None:
            return given
        known = self.record(key)
        if known is None:
            raise NotFoundError(f"no artifact named {key!r}")
        return known.sha256

    @staticmethod
    def _check(key: str, expected: str, actual: str) -> None:
        if expected != actual:
            raise IntegrityError(
                f"artifact {key!r} failed its checksum (expected sha256 {expected[:12]}…, got "
                f"{actual[:12]}…): it was modified or corrupted after it was stored; refusing to "
                "use it",
                key=key,
            )

    def _record(self, info: ArtifactInfo) -> None:
        t = artifacts_table
        now = int(time.time() * 1000)
        with self.meta.write() as conn:
            values = {"key": info.key, "sha256": info.sha256, "size": info.size, "created_at": now}
            if insert_or_ignore(conn, t, values, keys=("key",)):
                return
            # Recorded already, perhaps by a concurrent writer of the same key.
            recorded = str(conn.execute(sa.select(t.c.sha256).where(t.c.key == info.key)).scalar())
        if recorded != info.sha256:
            # Another writer stored other bytes under this key at the same time.
            raise ConflictError(
                f"artifact {info.key!r} was stored concurrently with other content; artifacts are "
                "immutable",
                key=info.key,
            )


def open_artifact_store(root: str, meta: MetadataStore) -> ArtifactStore:
    """Pick the backend from the root: a path or ``file://`` → local folder; ``s3://`` → S3."""
    if "://" in root and not root.startswith("file://"):
        protocol = root.split("://", 1)[0]
        if protocol not in ("s3", "s3a", "memory"):
            raise InvalidInputError(
                f"unsupported artifact store {root!r}: use a local path or s3://bucket/prefix",
                field="artifacts",
            )
        from modelplane.stores.artifacts.remote import FsspecArtifactStore

        return FsspecArtifactStore(root, meta)
    from modelplane.stores.artifacts.local import LocalArtifactStore

    return LocalArtifactStore(root.removeprefix("file://"), meta)
