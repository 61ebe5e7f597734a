"""Master-key rotation for encrypted artifacts, and the count of artifacts per master key.

Rotation re-wraps each artifact's data key from the old master key to the new one in the
``artifacts`` table; no artifact file is read or rewritten. It walks the table in key order, one
batch per write transaction, so an interrupted rotation keeps what it committed and a rerun skips
rows already under the new ``key_id`` (idempotent, resumable). Each row is updated only if it
still holds the wrapped key that was read (a concurrent rotation or restore wins, never both).
The caller's ``on_batch`` hook runs inside each batch's transaction: the audit entry commits with
the change it describes (the audit log sits above the stores, so it is passed in).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.stores.artifacts.crypto import DecryptionError, MasterKey
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import artifacts

BatchHook = Callable[[Connection, dict[str, Any]], None]
"""Called as ``hook(conn, summary)`` inside each batch's write transaction."""

DEFAULT_BATCH = 500


@dataclass
class RotationResult:
    """What one run of :func:`rotate` did."""

    old_key_id: str
    new_key_id: str
    rewrapped: int = 0
    already: int = 0  # under the new key before this run (a rerun, or written with it)
    batches: int = 0
    other: Counter[str] = field(default_factory=Counter)  # under keys neither old nor new
    failed: list[str] = field(default_factory=list)  # wrapped keys that did not open

    @property
    def complete(self) -> bool:
        return not self.other and not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_key_id": self.old_key_id,
            "new_key_id": self.new_key_id,
            "rewrapped": self.rewrapped,
            "already_under_new_key": self.already,
            "batches": self.batches,
            "under_other_keys": dict(self.other),
            "failed": list(self.failed),
            "complete": self.complete,
        }


def rotate(
    meta: MetadataStore,
    old: MasterKey,
    new: MasterKey,
    *,
    batch_size: int = DEFAULT_BATCH,
    on_batch: BatchHook | None = None,
) -> RotationResult:
    """Re-wrap every data key under ``old`` to ``new``; see the module docstring."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    t = artifacts
    result = RotationResult(old.key_id, new.key_id)
    last = ""
    while True:
        query = (
            sa.select(t.c.key, t.c.key_id, t.c.wrapped_key)
            .where(t.c.wrapped_key.is_not(None), t.c.key > last)
            .order_by(t.c.key)
            .limit(batch_size)
        )
        with meta.read() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return result
        last = rows[-1].key
        updates: list[tuple[str, str, str]] = []
        for row in rows:
            if row.key_id == new.key_id:
                result.already += 1
            elif row.key_id != old.key_id:
                result.other[str(row.key_id)] += 1
            else:
                try:
                    data_key = old.unwrap(row.wrapped_key, row.key)
                except DecryptionError:
                    result.failed.append(row.key)
                    continue
                updates.append((row.key, row.wrapped_key, new.wrap(data_key, row.key)))
        if updates:
            result.rewrapped += _apply(meta, old, new, updates, on_batch)
            result.batches += 1


def _apply(
    meta: MetadataStore,
    old: MasterKey,
    new: MasterKey,
    updates: list[tuple[str, str, str]],
    on_batch: BatchHook | None,
) -> int:
    """One batch in one write transaction; returns the rows it changed."""
    t = artifacts
    changed = 0
    with meta.write() as conn:
        for key, before, after in updates:
            outcome = conn.execute(
                t.update()
                .where(t.c.key == key, t.c.key_id == old.key_id, t.c.wrapped_key == before)
                .values(key_id=new.key_id, wrapped_key=after)
            )
            changed += outcome.rowcount
        if changed and on_batch is not None:
            summary = {
                "old_key_id": old.key_id,
                "new_key_id": new.key_id,
                "rewrapped": changed,
                "first": updates[0][0],
                "last": updates[-1][0],
            }
            on_batch(conn, summary)
    return changed


@dataclass(frozen=True)
class KeyCounts:
    """How many artifacts each master key protects, and how many are plaintext."""

    by_key_id: dict[str, int]
    plaintext: int

    @property
    def total(self) -> int:
        return self.plaintext + sum(self.by_key_id.values())


def count_by_key(meta: MetadataStore) -> KeyCounts:
    t = artifacts
    encrypted = t.c.wrapped_key.is_not(None)
    with meta.read() as conn:
        rows = conn.execute(
            sa.select(t.c.key_id, sa.func.count()).where(encrypted).group_by(t.c.key_id)
        ).all()
        plaintext = conn.execute(
            sa.select(sa.func.count()).select_from(t).where(sa.not_(encrypted))
        ).scalar()
    return KeyCounts({str(k): int(n) for k, n in rows}, int(plaintext or 0))


__all__ = ["DEFAULT_BATCH", "KeyCounts", "RotationResult", "count_by_key", "rotate"]
