"""Encryption at rest for artifacts: the master key, data keys and the streaming file format.

This module owns the cryptography of artifacts and nothing else (no database, no backend):

* **The master key** (:class:`MasterKey`): 32 bytes from ``MODELPLANE_ENCRYPTION_KEY``, given as
  64 hex characters, as base64 (standard or urlsafe), or as the path of a file holding either.
  Its ``key_id`` is a fingerprint (the first 16 hex characters of SHA-256 over a fixed label and
  the key) that is recorded beside every artifact it protects; the key itself is never stored.
* **Data keys**: every artifact is encrypted with its own 256-bit AES key. The key is derived
  with HKDF-SHA256 from the master key, the artifact's name and the SHA-256 of its content: unique
  per artifact and unpredictable without the master key, and the same for two processes that
  store the same content under the same name at once (content-addressed datasets do), so
  whichever of their files lands last opens with the one wrapped key that was recorded. It is
  *wrapped* (AES-256-GCM under the master key, the artifact's name as associated data, so a
  wrapped key moved to another artifact does not open) and kept base64 in
  ``artifacts.wrapped_key``. Rotating the master key re-wraps data keys; files are not rewritten.
* **The file format** (version 1), written and read in chunks so no artifact has to fit in
  memory::

      header  = b"MPAE" | version (1 byte) | chunk size (4 bytes, big-endian)
      chunk i = nonce (12 random bytes) | AES-256-GCM(data key, nonce, plaintext_i, aad_i) | tag (16)
      aad_i   = header | i (8 bytes, big-endian) | final (1 byte: 1 for the last chunk, else 0)

  Every chunk but the last holds exactly ``chunk size`` plaintext bytes; the last holds the rest
  (possibly nothing). Binding the index and the final flag detects reordered, swapped, dropped
  or appended chunks and a file truncated at a chunk boundary; binding the header detects an
  edited chunk size. A reader hands out a chunk's plaintext only after its tag verified.

Errors: a wrong or missing master key is :class:`EncryptionKeyError` (503, naming the key_id
needed); bytes or wrapped keys that do not authenticate are :class:`DecryptionError` (409).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from modelplane.errors import BackendError, IntegrityError, InvalidInputError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
CHUNK_SIZE = 1 << 20
MAGIC = b"MPAE"
VERSION = 1
HEADER = struct.Struct(">4sBI")
_CHUNK_AAD = struct.Struct(">QB")
_MIN_CHUNK, _MAX_CHUNK = 1 << 10, 64 << 20
_WRAP_VERSION = 1
_KEY_ID_LABEL = b"modelplane artifact master key id v1\x00"
_DATA_KEY_SALT = b"modelplane artifact data key v1"
_KEY_FILE_LIMIT = 4096
ENV_VAR = "MODELPLANE_ENCRYPTION_KEY"
FORMATS = "64 hex characters or base64 (standard or urlsafe)"
_B64_CHARS = re.compile(r"[A-Za-z0-9+/_=-]+")


class EncryptionKeyError(BackendError):
    """The master key an artifact needs is not configured (none, or another one): 503, since
    the server cannot serve the artifact until it is given that key. ``details.key_id`` names
    the key needed."""

    code = "encryption_key_unavailable"


class DecryptionError(IntegrityError):
    """Encrypted bytes or a wrapped data key that do not authenticate: modified, truncated,
    reordered or belonging to another artifact. The stored state conflicts with its record."""

    http_status = 409
    exit_code = 1
    code = "decryption_failed"


# -- the master key -----------------------------------------------------------------------------


def key_id_of(key: bytes) -> str:
    """The fingerprint recorded beside the artifacts ``key`` protects (never the key)."""
    return hashlib.sha256(_KEY_ID_LABEL + key).hexdigest()[:16]


@dataclass(frozen=True)
class MasterKey:
    """A 32-byte master key and its ``key_id``; it wraps and unwraps artifacts' data keys."""

    key: bytes = field(repr=False)
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise InvalidInputError(
                f"an encryption key must be {KEY_BYTES} bytes", field="encryption_key"
            )
        object.__setattr__(self, "key_id", key_id_of(self.key))

    @classmethod
    def parse(
        cls, value: str, *, source: str = ENV_VAR, field: str = "encryption_key"
    ) -> MasterKey:
        """A key given as hex, base64, or the path of a file holding one of those.

        ``source`` names where the value came from in error messages; the value itself is never
        repeated in them (a mistyped key is still most of a key).
        """
        text = value.strip()
        key = _decode_key(text)
        if key is not None:
            return cls(key)
        path = Path(text).expanduser()
        if path.is_file():
            return cls(_read_key_file(path, source, field))
        if _path_like(text):
            raise InvalidInputError(
                f"{source}: no key file at {path}; give a 32-byte key as {FORMATS}, or the "
                "path of a file holding one",
                field=field,
            )
        raise InvalidInputError(
            f"{source} is neither a 32-byte key ({FORMATS}) nor the path of a file holding one "
            f"(got {len(text)} characters)",
            field=field,
        )

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(AESGCM.generate_key(bit_length=256))

    def derive_data_key(self, artifact: str, sha256: str) -> bytes:
        """The data key of the artifact named ``artifact`` whose plaintext has ``sha256``."""
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=_DATA_KEY_SALT,
            info=artifact.encode("utf-8") + b"\x00" + sha256.encode("ascii"),
        )
        return hkdf.derive(self.key)

    def wrap(self, data_key: bytes, artifact: str) -> str:
        """``data_key`` encrypted under this key for the artifact ``artifact`` (base64 text)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.key).encrypt(nonce, data_key, artifact.encode("utf-8"))
        return base64.b64encode(bytes([_WRAP_VERSION]) + nonce + sealed).decode("ascii")

    def unwrap(self, wrapped: str, artifact: str) -> bytes:
        """The data key of ``artifact`` from its wrapped form; DecryptionError if it does not
        open (altered, or wrapped for another artifact)."""
        try:
            raw = base64.b64decode(wrapped.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raw = b""
        problem = None
        if len(raw) != 1 + NONCE_BYTES + KEY_BYTES + TAG_BYTES or raw[0] != _WRAP_VERSION:
            problem = "is malformed"
        else:
            nonce, sealed = raw[1 : 1 + NONCE_BYTES], raw[1 + NONCE_BYTES :]
            try:
                return AESGCM(self.key).decrypt(nonce, sealed, artifact.encode("utf-8"))
            except InvalidTag:
                problem = "does not open"
        raise DecryptionError(
            f"the wrapped data key of artifact {artifact!r} {problem} under key {self.key_id}: "
            "it was altered or belongs to another artifact; refusing to read it",
            key=artifact,
            key_id=self.key_id,
        )


def _decode_key(text: str) -> bytes | None:
    """``text`` as 32 bytes of hex or base64, or None when it is neither."""
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    if not 40 <= len(text) <= 48:
        return None
    standard = text.replace("-", "+").replace("_", "/")
    standard += "=" * (-len(standard) % 4)
    try:
        key = base64.b64decode(standard, validate=True)
    except binascii.Error:
        return None
    return key if len(key) == KEY_BYTES else None


def _path_like(text: str) -> bool:
    """Whether a value that is no key was meant as a file path (and may be echoed as one).

    Base64 holds ``/`` too: a value of a key's length in its alphabet is a mistyped key, and a
    mistyped key is never repeated in an error message.
    """
    if not text or not (os.sep in text or text.startswith((".", "~"))):
        return False
    return not (_B64_CHARS.fullmatch(text) and 32 <= len(text) <= 96)


def _read_key_file(path: Path, source: str, field: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_KEY_FILE_LIMIT + 1)
    except OSError as exc:
        raise InvalidInputError(
            f"{source}: cannot read the key file {path}: {exc.strerror}", field=field
        ) from None
    key = None
    if len(raw) <= _KEY_FILE_LIMIT:
        try:
            key = _decode_key(raw.decode("ascii").strip())
        except UnicodeDecodeError:
            key = None
    if key is None:
        raise InvalidInputError(
            f"{source}: the key file {path} does not hold a 32-byte key ({FORMATS})", field=field
        )
    return key


# -- the file format ----------------------------------------------------------------------------


def _read_full(src: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes; fewer only at the end of ``src``."""
    data = src.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    missing = size - len(data)
    while missing:
        more = src.read(missing)
        if not more:
            break
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + _CHUNK_AAD.pack(index, 1 if final else 0)


def encrypt_stream(
    src: IO[bytes], dst: IO[bytes], data_key: bytes, *, chunk_size: int = CHUNK_SIZE
) -> int:
    """Encrypt everything ``src`` holds into ``dst``; returns the bytes written."""
    if not _MIN_CHUNK <= chunk_size <= _MAX_CHUNK:
        raise ValueError(f"chunk size must be between {_MIN_CHUNK} and {_MAX_CHUNK}")
    aead = AESGCM(data_key)
    header = HEADER.pack(MAGIC, VERSION, chunk_size)
    dst.write(header)
    written = len(header)
    index = 0
    current = _read_full(src, chunk_size)
    while True:
        following = _read_full(src, chunk_size) if len(current) == chunk_size else b""
        final = not following
        nonce = os.urandom(NONCE_BYTES)
        sealed = aead.encrypt(nonce, current, _aad(header, index, final))
        dst.write(nonce)
        dst.write(sealed)
        written += NONCE_BYTES + len(sealed)
        if final:
            return written
        current, index = following, index + 1


class DecryptingReader:
    """A read-only file of an artifact's plaintext over its encrypted bytes ``raw``.

    ``read`` hands out plaintext only from chunks whose tag verified; any failure (modified,
    truncated, reordered bytes, a wrong data key) raises :class:`DecryptionError` naming the
    artifact. Closing it closes ``raw``.
    """

    def __init__(self, raw: IO[bytes], data_key: bytes, artifact: str) -> None:
        self._raw = raw
        self._aead = AESGCM(data_key)
        self._artifact = artifact
        self._header = b""
        self._block = 0
        self._index = 0
        self._next: bytes | None = None  # the block read ahead (to know which one is last)
        self._buffer = b""
        self._pos = 0
        self._done = False

    def __enter__(self) -> DecryptingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._raw.close()

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._take(len(self._buffer))]
            while self._fill():
                parts.append(self._take(len(self._buffer)))
            return b"".join(parts)
        while self._pos >= len(self._buffer) and self._fill():
            pass
        return self._take(size)

    def _take(self, size: int) -> bytes:
        if self._pos == 0 and size >= len(self._buffer):
            out, self._buffer = self._buffer, b""
            return out
        out = self._buffer[self._pos : self._pos + size]
        self._pos += len(out)
        if self._pos >= len(self._buffer):
            self._buffer, self._pos = b"", 0
        return out

    def _fail(self, why: str) -> DecryptionError:
        return DecryptionError(
            f"artifact {self._artifact!r} does not decrypt ({why}): it was modified, truncated "
            "or replaced after it was stored; refusing to use it",
            key=self._artifact,
        )

    def _start(self) -> None:
        header = _read_full(self._raw, HEADER.size)
        if len(header) != HEADER.size:
            raise self._fail("shorter than the header")
        magic, version, chunk_size = HEADER.unpack(header)
        if magic != MAGIC or version != VERSION or not _MIN_CHUNK <= chunk_size <= _MAX_CHUNK:
            raise self._fail("not in the encrypted artifact format")
        self._header = header
        self._block = NONCE_BYTES + chunk_size + TAG_BYTES
        self._next = _read_full(self._raw, self._block)

    def _fill(self) -> bool:
        """Decrypt the next chunk into the buffer; False at the end."""
        if self._done:
            return False
        if self._next is None:
            self._start()
        block = self._next or b""
        if len(block) < NONCE_BYTES + TAG_BYTES:
            raise self._fail(f"chunk {self._index} is missing or cut short")
        self._next = _read_full(self._raw, self._block) if len(block) == self._block else b""
        final = not self._next
        aad = _aad(self._header, self._index, final)
        view = memoryview(block)  # no copy of the chunk to split off its nonce
        try:
            plain = self._aead.decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:], aad)
        except InvalidTag:
            raise self._fail(f"chunk {self._index} failed authentication") from None
        self._buffer, self._pos = plain, 0
        self._index += 1
        self._done = final
        return True


__all__ = [
    "CHUNK_SIZE",
    "DecryptingReader",
    "DecryptionError",
    "EncryptionKeyError",
    "MasterKey",
    "encrypt_stream",
    "key_id_of",
]
