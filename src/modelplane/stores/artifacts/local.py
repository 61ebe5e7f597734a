"""Local-folder artifact backend: atomic writes by write-to-temp, fsync, rename.

Encrypted artifacts are encrypted straight into the temporary file (:meth:`_write_stream`), so
no plaintext or extra copy is staged anywhere else.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from modelplane.errors import ConflictError, PermissionDeniedError
from modelplane.stores.artifacts.base import ArtifactStore
from modelplane.stores.artifacts.crypto import MasterKey
from modelplane.stores.metadata import MetadataStore


class LocalArtifactStore(ArtifactStore):
    scheme = "file"

    def __init__(
        self, root: str, meta: MetadataStore, *, master_key: MasterKey | None = None
    ) -> None:
        super().__init__(root, meta, master_key=master_key)
        self.path = Path(root).expanduser().resolve()

    def _target(self, key: str) -> Path:
        # Keys are validated already (no '..', '.', empty or absolute parts), so ``path / key`` is
        # canonical unless a symlink was planted inside the store: never follow one, wherever it
        # points (outside the store, or to another artifact).
        target = self.path / key
        if target.resolve() != target:
            raise PermissionDeniedError(
                f"artifact {key!r} goes through a symbolic link inside the artifact store "
                f"{self.path}; refusing to follow it",
                key=key,
            )
        return target

    def _write_file(self, key: str, local: Path) -> None:
        def copy(out: IO[bytes]) -> None:
            with open(local, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)

        self._write_stream(key, copy)

    def _write_stream(self, key: str, produce: Callable[[IO[bytes]], object]) -> None:
        target = self._target(key)
        created = [
            d
            for d in (target.parent, *target.parent.parents)
            if d.is_relative_to(self.path) and not d.exists()
        ]
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise ConflictError(
                f"cannot store artifact {key!r}: a parent of it is already an artifact (a file)",
                key=key,
            ) from exc
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                produce(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except IsADirectoryError as exc:
            os.unlink(tmp)
            raise ConflictError(
                f"cannot store artifact {key!r}: it is already a folder of other artifacts",
                key=key,
            ) from exc
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        # Make the rename durable: the folder holding the file and every folder created for it.
        for folder in [target.parent, *(d.parent for d in created)]:
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _open_read(self, key: str) -> IO[bytes]:
        target = self._target(key)
        try:
            # O_NOFOLLOW: a symlink swapped in after the check above is still not followed.
            # O_NONBLOCK: a FIFO planted under the key cannot hang the reader.
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except NotADirectoryError as exc:  # a parent is a file: the key cannot exist
            raise FileNotFoundError(str(target)) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PermissionDeniedError(
                    f"artifact {key!r} is a symbolic link inside the artifact store; refusing to "
                    "follow it",
                    key=key,
                ) from exc
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a folder, a FIFO, a device...
            os.close(fd)
            raise FileNotFoundError(str(target))
        return os.fdopen(fd, "rb")

    def _exists(self, key: str) -> bool:
        return self._target(key).is_file()

    def _delete(self, key: str) -> None:
        target = self._target(key)
        if target.is_file():
            target.unlink(missing_ok=True)

    def uri(self, key: str) -> str:
        return self._target(key).as_uri()
