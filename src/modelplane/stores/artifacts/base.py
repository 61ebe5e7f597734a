"""Artifact store interface and the checksum bookkeeping every backend shares.

Keys are validated by :func:`modelplane.core.names.check_artifact_key` before any backend sees
them. Artifacts are immutable: writing an existing key with the same bytes is a no-op, with other
bytes a :class:`ConflictError`. The SHA-256 of every file is recorded in the metadata store's
``artifacts`` table; reads hash the bytes and refuse them (:class:`IntegrityError`) when they do not
match, so nothing is ever handed to a deserialiser unverified.

With a master key (``MODELPLANE_ENCRYPTION_KEY``) every new artifact is stored encrypted
(:mod:`.crypto`): the row keeps the SHA-256 and size of the *plaintext* plus the ``key_id`` and the
wrapped data key, and every read goes through :meth:`ArtifactStore._open_plain`, which decrypts
when the row has a wrapped key (NULL: a plaintext artifact, e.g. written before a key was set).
Backends only ever move the stored (possibly encrypted) bytes.
"""

from __future__ import annotations

import abc
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import sqlalchemy as sa

from modelplane.core.names import check_artifact_key
from modelplane.errors import ConflictError, IntegrityError, InvalidInputError, NotFoundError
from modelplane.stores.artifacts.crypto import (
    DecryptingReader,
    EncryptionKeyError,
    MasterKey,
    encrypt_stream,
)
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.repository import insert_or_ignore
from modelplane.stores.metadata.schema import artifacts as artifacts_table

CHUNK = 1 << 20


@dataclass(frozen=True)
class ArtifactInfo:
    key: str
    sha256: str
    size: int


@dataclass(frozen=True)
class _Row:
    """An ``artifacts`` row: the plaintext's checksum and size, and how it is stored."""

    key: str
    sha256: str
    size: int
    key_id: str | None
    wrapped_key: str | None


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


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

    def __init__(
        self, root: str, meta: MetadataStore, *, master_key: MasterKey | None = None
    ) -> None:
        self.root = root
        self.meta = meta
        #: when set, new artifacts are written encrypted under it (and encrypted ones read)
        self.master_key = master_key

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
        """The backend URI of a key (for display; an encrypted artifact's object is ciphertext)."""

    def _write_stream(self, key: str, produce: Callable[[IO[bytes]], object]) -> None:
        """Make what ``produce`` writes visible under ``key`` atomically.

        By default into a temporary file, then :meth:`_write_file`; a backend that can write
        its own temporary object directly overrides it.
        """
        with tempfile.TemporaryDirectory(prefix="mp-enc-") as tmp:
            staged = Path(tmp) / "artifact"
            with open(staged, "wb") as out:
                produce(out)
            self._write_file(key, staged)

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
        info = ArtifactInfo(key, sha, size)
        # Recorded but lost from the backend: store the bytes again the way the row says.
        stored = self._store(local, info, self._row(key) if known is not None else None)
        recorded = self._record(stored)
        if recorded.key_id != stored.key_id:
            # A concurrent writer recorded the same bytes stored another way (a process with
            # another or no key); its file may have landed first: store them the recorded way.
            self._store(local, info, recorded)
        return info

    def _store(self, local: Path, info: ArtifactInfo, row: _Row | None) -> _Row:
        """Write ``local`` under ``info.key`` as ``row`` says, or for a new artifact (no row)
        encrypted when a master key is set; returns the row that describes what was written."""
        key = info.key
        if row is None and self.master_key is not None:
            data_key = self.master_key.derive_data_key(key, info.sha256)
            wrapped = self.master_key.wrap(data_key, key)
            row = _Row(key, info.sha256, info.size, self.master_key.key_id, wrapped)
        elif row is None or row.wrapped_key is None:
            self._write_file(key, local)
            return row or _Row(key, info.sha256, info.size, None, None)
        else:
            data_key = self._data_key(key, row)

        def produce(out: IO[bytes]) -> None:
            with open(local, "rb") as src:
                encrypt_stream(src, out, data_key)

        self._write_stream(key, produce)
        return row

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
        row = self._row(key)
        return None if row is None else ArtifactInfo(key, row.sha256, row.size)

    def key_id(self, key: str) -> str | None:
        """The ``key_id`` of the master key ``key`` is encrypted under (None: plaintext)."""
        key = check_artifact_key(key)
        row = self._row(key)
        if row is None:
            raise NotFoundError(f"no artifact named {key!r}")
        return row.key_id if row.wrapped_key is not None else None

    def get_bytes(self, key: str, expected_sha256: str | None = None) -> bytes:
        key = check_artifact_key(key)
        row = self._row(key)
        expected = self._expected(key, row, expected_sha256)
        try:
            with closing(self._open_plain(key, row)) as fh:
                data = fh.read()
        except FileNotFoundError as exc:
            raise NotFoundError(f"artifact {key!r} is recorded but missing from the store") from exc
        actual = hashlib.sha256(data).hexdigest()
        self._check(key, expected, actual)
        return data

    def get_file(self, key: str, dest: Path, expected_sha256: str | None = None) -> Path:
        """Copy ``key`` to ``dest``, verified; ``dest`` only appears once the bytes matched."""
        key = check_artifact_key(key)
        row = self._row(key)
        expected = self._expected(key, row, expected_sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".mp-get-", dir=dest.parent)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with closing(self._open_plain(key, row)) as fh:
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

    def infos(self, prefix: str) -> list[ArtifactInfo]:
        """The records (key, SHA-256, size) of every artifact whose key starts with ``prefix``,
        sorted by key, in one query."""
        t = artifacts_table
        query = (
            sa.select(t.c.key, t.c.sha256, t.c.size)
            .where(t.c.key.startswith(prefix, autoescape=True))
            .order_by(t.c.key)
        )
        with self.meta.read() as conn:
            return [ArtifactInfo(r.key, r.sha256, r.size) for r in conn.execute(query)]

    # -- helpers --------------------------------------------------------------------------------

    def _row(self, key: str) -> _Row | None:
        t = artifacts_table
        query = sa.select(t.c.sha256, t.c.size, t.c.key_id, t.c.wrapped_key).where(t.c.key == key)
        with self.meta.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return _Row(key, row.sha256, row.size, row.key_id, row.wrapped_key)

    @staticmethod
    def _expected(key: str, row: _Row | None, given: str | None) -> str:
        if given is not None:
            return given
        if row is None:
            raise NotFoundError(f"no artifact named {key!r}")
        return row.sha256

    def _open_plain(self, key: str, row: _Row | None) -> _Readable:
        """The plaintext of ``key``: the stored bytes, decrypted when ``row`` has a wrapped key.

        Every read of artifact bytes goes through here. The data key is unwrapped before the
        object is opened, so a missing or wrong master key is reported as such.
        """
        if row is None or row.wrapped_key is None:
            return self._open_read(key)
        data_key = self._data_key(key, row)
        return DecryptingReader(self._open_read(key), data_key, key)

    def _data_key(self, key: str, row: _Row) -> bytes:
        assert row.wrapped_key is not None
        needed = row.key_id or "?"
        if self.master_key is None:
            raise EncryptionKeyError(
                f"artifact {key!r} is encrypted under key {needed}, and no encryption key is "
                "configured: set MODELPLANE_ENCRYPTION_KEY to that key",
                key=key,
                key_id=needed,
            )
        if row.key_id != self.master_key.key_id:
            raise EncryptionKeyError(
                f"artifact {key!r} is encrypted under key {needed}, but the configured "
                f"encryption key is {self.master_key.key_id}: set MODELPLANE_ENCRYPTION_KEY to "
                "the key it was written with (or rotate it to this one with "
                "'modelplane keys rotate')",
                key=key,
                key_id=needed,
            )
        return self.master_key.unwrap(row.wrapped_key, key)

    @staticmethod
    def _check(key: str, expected: str, actual: str) -> None:
        if expected != actual:
            raise IntegrityError(
                f"artifact {key!r} failed its checksum (expected sha256 {expected[:12]}…, got "
                f"{actual[:12]}…): it was modified or corrupted after it was stored; refusing to "
                "use it",
                key=key,
            )

    def _record(self, stored: _Row) -> _Row:
        """Record ``stored`` unless its key is recorded already; return the record."""
        t = artifacts_table
        now = int(time.time() * 1000)
        with self.meta.write() as conn:
            values = {
                "key": stored.key,
                "sha256": stored.sha256,
                "size": stored.size,
                "created_at": now,
                "key_id": stored.key_id,
                "wrapped_key": stored.wrapped_key,
            }
            if insert_or_ignore(conn, t, values, keys=("key",)):
                return stored
        # Recorded already, perhaps by a concurrent writer of the same key.
        recorded = self._row(stored.key)
        if recorded is None or recorded.sha256 != stored.sha256:
            # Another writer stored other bytes under this key at the same time.
            raise ConflictError(
                f"artifact {stored.key!r} was stored concurrently with other content; artifacts "
                "are immutable",
                key=stored.key,
            )
        return recorded


def open_artifact_store(
    root: str, meta: MetadataStore, *, encryption_key: str | None = None
) -> ArtifactStore:
    """Pick the backend from the root: a path or ``file://`` → local folder; ``s3://`` → S3.

    ``encryption_key`` (``MODELPLANE_ENCRYPTION_KEY``: hex, base64 or a key file) turns on
    encryption at rest for new artifacts.
    """
    master_key = MasterKey.parse(encryption_key) if encryption_key else None
    if "://" in root and not root.startswith("file://"):
        protocol = root.split("://", 1)[0]
        if protocol not in ("s3", "s3a", "memory"):
            raise InvalidInputError(
                f"unsupported artifact store {root!r}: use a local path or s3://bucket/prefix",
                field="artifacts",
            )
        from modelplane.stores.artifacts.remote import FsspecArtifactStore

        return FsspecArtifactStore(root, meta, master_key=master_key)
    from modelplane.stores.artifacts.local import LocalArtifactStore

    return LocalArtifactStore(root.removeprefix("file://"), meta, master_key=master_key)
