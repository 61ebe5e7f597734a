"""Local-folder artifact backend: atomic writes by write-to-temp, fsync, rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import IO

from modelplane.stores.artifacts.base import ArtifactStore
from modelplane.stores.metadata import MetadataStore


class LocalArtifactStore(ArtifactStore):
    scheme = "file"

    def __init__(self, root: str, meta: MetadataStore) -> None:
        super().__init__(root, meta)
        self.path = Path(root).expanduser().resolve()

    def _target(self, key: str) -> Path:
        target = (self.path / key).resolve()
        # Keys are validated already; this guards against symlinks planted inside the store.
        if not target.is_relative_to(self.path):
            raise PermissionError(f"{key!r} resolves outside the artifact store")
        return target

    def _write_file(self, key: str, local: Path) -> None:
        target = self._target(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, open(local, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _open_read(self, key: str) -> IO[bytes]:
        return open(self._target(key), "rb")

    def _exists(self, key: str) -> bool:
        return self._target(key).is_file()

    def _delete(self, key: str) -> None:
        self._target(key).unlink(missing_ok=True)

    def uri(self, key: str) -> str:
        return self._target(key).as_uri()
