"""Object-store artifact backend over fsspec (``s3://`` through s3fs; ``memory://`` for tools).

A single PUT (or a completed multipart upload) makes an S3 object visible whole, so writes are
atomic by the object store's own semantics. ``AWS_ENDPOINT_URL`` points at any S3-compatible server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from modelplane.errors import BackendError, needs_extra
from modelplane.stores.artifacts.base import ArtifactStore
from modelplane.stores.artifacts.crypto import MasterKey
from modelplane.stores.metadata import MetadataStore


class FsspecArtifactStore(ArtifactStore):
    def __init__(
        self, root: str, meta: MetadataStore, *, master_key: MasterKey | None = None
    ) -> None:
        super().__init__(root.rstrip("/"), meta, master_key=master_key)
        self.scheme = root.split("://", 1)[0]
        self._fs: Any = None

    @property
    def fs(self) -> Any:
        if self._fs is None:
            import fsspec

            options: dict[str, Any] = {}
            if self.scheme in ("s3", "s3a"):
                endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
                    "AWS_ENDPOINT_URL"
                )
                if endpoint:
                    options["client_kwargs"] = {"endpoint_url": endpoint}
                options["use_listings_cache"] = False
            try:
                self._fs = fsspec.filesystem(self.scheme, **options)
            except ImportError as exc:
                if self.scheme not in ("s3", "s3a"):
                    raise BackendError(
                        f"the {self.scheme}:// artifact store needs a library that is not "
                        f"installed: {exc}"
                    ) from exc
                raise needs_extra(
                    f"the {self.scheme}:// artifact store", "s3fs", "s3", field="artifacts"
                ) from exc
        return self._fs

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def _write_file(self, key: str, local: Path) -> None:
        try:
            self.fs.put_file(str(local), self._path(key))
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot write artifact {key!r} to {self.root}: {exc}") from exc

    def _open_read(self, key: str) -> IO[bytes]:
        try:
            return self.fs.open(self._path(key), "rb")  # type: ignore[no-any-return]
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise BackendError(f"cannot read artifact {key!r} from {self.root}: {exc}") from exc

    def _exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def _delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self._path(key))
        except FileNotFoundError:
            pass

    def uri(self, key: str) -> str:
        return self._path(key)
