"""Server secrets: random keys that must live outside the database.

An attacker who can write the metadata database must not also hold the keys that make tampering
detectable (the audit chain's HMAC key) or that protect data (the salt that hashes PII columns).
They are files in the secrets folder (``MODELPLANE_SECRETS_DIR``, default ``<home>/secrets``,
mode 0700, each file 0600), created on first use, or given directly in the environment as
``MODELPLANE_SECRET_<NAME>`` (hex), which is how replicas on several machines share them.

Creation is race-free: a secret is written to a temporary file and hard-linked into place, so two
processes starting at once both end up with the one that won, and neither ever reads a partly
written file.
"""

from __future__ import annotations

import os
import re
import secrets as _random
import tempfile
from pathlib import Path

from modelplane.errors import InvalidInputError

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
SECRET_BYTES = 32


def env_var(name: str) -> str:
    return f"MODELPLANE_SECRET_{name.upper()}"


class Secrets:
    """The secrets of one installation, read from ``folder`` (and the environment)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, bytes] = {}

    def path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise InvalidInputError(f"invalid secret name {name!r}", field="name")
        return self.folder / f"{name}.key"

    def exists(self, name: str) -> bool:
        return env_var(name) in os.environ or self.path(name).is_file()

    def get(self, name: str) -> bytes | None:
        """The secret ``name``, or None when it was never created."""
        if name in self._cache:
            return self._cache[name]
        raw = os.environ.get(env_var(name))
        if raw:
            value = _decode(raw.strip(), env_var(name))
        else:
            path = self.path(name)
            try:
                value = _decode(path.read_text(encoding="ascii").strip(), str(path))
            except FileNotFoundError:
                return None
        self._cache[name] = value
        return value

    def get_or_create(self, name: str) -> tuple[bytes, bool]:
        """``(secret, created)``: the secret, made now (``created``) if it did not exist."""
        found = self.get(name)
        if found is not None:
            return found, False
        value = _random.token_bytes(SECRET_BYTES)
        created = self._install(name, value)
        if not created:  # another process won the race: use theirs
            found = self.get(name)
            assert found is not None
            return found, False
        self._cache[name] = value
        return value, True

    def _install(self, name: str, value: bytes) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path(name)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}-")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(value.hex() + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False
            return True
        finally:
            os.unlink(tmp)


def _decode(text: str, where: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise InvalidInputError(f"{where}: a secret must be hex", field=where) from None
    if len(value) < 16:
        raise InvalidInputError(f"{where}: a secret must be at least 16 bytes", field=where)
    return value


__all__ = ["Secrets", "env_var"]
