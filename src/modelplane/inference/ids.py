"""Prediction ids: unique across processes and restarts without coordination or a syscall per id.

An id is a random 64-bit prefix drawn when the process starts plus a counter, as hex:
``3f9a1c0d5e7b2a41-1f``. (uuid4 per row costs a few microseconds; this costs a few hundred ns.)
"""

from __future__ import annotations

import secrets


class IdSource:
    """Not thread-safe by design: used from the event loop thread only."""

    def __init__(self) -> None:
        self.prefix = secrets.token_hex(8) + "-"
        self._next = 1

    def take(self, n: int) -> list[str]:
        start = self._next
        self._next = start + n
        prefix = self.prefix
        return [prefix + format(i, "x") for i in range(start, start + n)]
