"""The audit key and the MACs it makes.

The hash chain alone only shows that entries were changed by someone who did not recompute the
hashes after them; anyone who can write the database can recompute plain SHA-256. The MACs are
HMAC-SHA256 with a key kept outside the database (:class:`modelplane.core.secrets.Secrets`,
secret ``audit_key``), so rewriting history also needs that key:

* an entry's ``mac`` is ``HMAC(key, hash)`` over the entry's hex hash (which covers its seq,
  content and the previous hash);
* the head's ``mac`` is ``HMAC(key, "audit_head:<seq>:<hash>")``. The prefix keeps the two
  apart: were the head's MAC computable from an entry's, anyone could rewind the head to an
  older entry by copying that entry's MAC.
"""

from __future__ import annotations

import hashlib
import hmac

#: the name of the secret (``<secrets>/audit_key.key`` or ``MODELPLANE_SECRET_AUDIT_KEY``)
KEY_NAME = "audit_key"


class AuditKey:
    """HMACs under one audit key. The keyed state is prepared once; each MAC copies it."""

    __slots__ = ("_base",)

    def __init__(self, key: bytes) -> None:
        self._base = hmac.new(key, digestmod=hashlib.sha256)

    def _mac(self, message: str) -> str:
        mac = self._base.copy()
        mac.update(message.encode("utf-8"))
        return mac.hexdigest()

    @property
    def key_id(self) -> str:
        """A short name of the key that reveals nothing about it (to tell keys apart)."""
        return self._mac("audit_key_id")[:16]

    def entry_mac(self, entry_hash: str) -> str:
        return self._mac(entry_hash)

    def head_mac(self, seq: int, head_hash: str) -> str:
        return self._mac(f"audit_head:{seq}:{head_hash}")

    def entry_ok(self, entry_hash: str, mac: str) -> bool:
        return _same(self.entry_mac(entry_hash), mac)

    def head_ok(self, seq: int, head_hash: str, mac: str) -> bool:
        return _same(self.head_mac(seq, head_hash), mac)


def _same(expected: str, found: str) -> bool:
    """Constant-time comparison that also accepts whatever text a tampered row holds."""
    return hmac.compare_digest(expected.encode("utf-8"), found.encode("utf-8"))


__all__ = ["KEY_NAME", "AuditKey"]
