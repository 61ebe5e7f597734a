"""Verifying the audit log: the hash chain, every entry's MAC, the head's MAC, and the anchor.

One pass over the entries in seq order, on one snapshot of the database. Each check names the
first entry it cannot vouch for and why:

* a seq missing from the sequence → deleted; a ``prev_hash`` that is not the previous entry's
  hash → an entry before it was changed, removed or reordered; a hash that does not match the
  entry → the entry was edited without recomputing the chain;
* no MAC → written without the audit key, or its MAC was removed (after the log was keyed, every
  entry has one: a missing MAC is never re-signed); a MAC that does not match → the entry was
  rewritten and the hashes after it recomputed, or — when no MAC in the log matches, the head's
  included — the key is not the one the log was written with;
* the head must name the last entry and carry that entry's head MAC: deleting the newest entries
  and rewinding the head needs a MAC only the key can make;
* every head recorded in the anchor must be in the chain: a database restored from an older copy
  carries genuine MACs, but not the heads anchored since.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.audit.anchor import AnchoredHead, AnchorFile
from modelplane.audit.chain import GENESIS, entry_hash
from modelplane.audit.keys import AuditKey
from modelplane.stores.metadata.schema import audit_head, audit_log


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    #: heads read from the anchor and found in the chain (None: no anchor was checked)
    anchored: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Head(NamedTuple):
    seq: int
    hash: str
    mac: str | None


class Outcome(NamedTuple):
    result: VerifyResult
    #: the failure is a missing MAC, which a keying in progress elsewhere also shows for a moment
    missing_mac: bool = False


def read_head(conn: Connection) -> Head | None:
    row = conn.execute(
        sa.select(audit_head.c.seq, audit_head.c.hash, audit_head.c.mac).where(audit_head.c.id == 1)
    ).first()
    return None if row is None else Head(int(row.seq), str(row.hash), row.mac)


def _rows(conn: Connection, batch: int = 5000) -> Iterator[Any]:
    last = 0
    while True:
        rows = (
            conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.seq > last)
                .order_by(audit_log.c.seq)
                .limit(batch)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        yield from rows
        last = rows[-1]["seq"]


class _Walk:
    """The state of one pass over the entries."""

    def __init__(self, key: AuditKey, head: Head | None) -> None:
        self.key = key
        self.head_mac_ok = (
            head is not None and head.mac is not None and key.head_ok(head.seq, head.hash, head.mac)
        )
        self.any_mac_ok = False
        self.checked = 0
        self.expected, self.prev = 1, GENESIS

    def fail(self, seq: int, reason: str, *, missing_mac: bool = False) -> Outcome:
        return Outcome(VerifyResult(False, self.checked, seq, reason), missing_mac)

    def step(self, row: Any) -> Outcome | None:
        seq = int(row["seq"])
        if seq != self.expected:
            return self.fail(self.expected, f"entry {self.expected} is missing (deleted)")
        if row["prev_hash"] != self.prev:
            return self.fail(
                seq,
                f"entry {seq} does not link to entry {seq - 1} (an entry before it was changed "
                "or removed)",
            )
        digest = entry_hash(
            seq,
            row["ts"],
            row["actor"],
            row["action"],
            row["target"],
            row["before"],
            row["after"],
            row["prev_hash"],
        )
        if digest != row["hash"]:
            return self.fail(seq, f"entry {seq} was modified after it was written")
        bad = self._mac(seq, row["hash"], row["mac"])
        if bad is not None:
            return bad
        self.checked += 1
        self.expected, self.prev = seq + 1, row["hash"]
        return None

    def _mac(self, seq: int, digest: str, mac: str | None) -> Outcome | None:
        if mac is None:
            return self.fail(
                seq,
                f"entry {seq} has no MAC (written without the audit key, or its MAC was removed)",
                missing_mac=True,
            )
        if self.key.entry_ok(digest, mac):
            self.any_mac_ok = True
            return None
        if not self.any_mac_ok and not self.head_mac_ok:
            return self.fail(
                seq,
                f"wrong audit key: no MAC in the log matches it, from entry {seq} to the head "
                "(or the whole log was rewritten)",
            )
        return self.fail(
            seq,
            f"entry {seq} was modified: its MAC does not match (the entry was rewritten and the "
            "hashes after it recomputed)",
        )

    def finish(self, head: Head | None) -> Outcome | None:
        """Check the head against the last entry; None when it names it with a valid MAC."""
        last = self.expected - 1
        if head is None:
            if last == 0:
                return None  # an empty log whose head row was never written
            return self.fail(last + 1, "the chain head is missing (deleted)")
        if head.seq != last or head.hash != self.prev:
            if head.seq > last:
                return self.fail(
                    last + 1,
                    f"entries {last + 1}..{head.seq} are missing (the newest entries were deleted)",
                )
            return self.fail(head.seq + 1, "the chain head does not match the last entry")
        if head.mac is None:
            if last == 0:
                return None  # nothing was ever appended under the key yet
            return self.fail(last + 1, "the head has no MAC (it was removed)", missing_mac=True)
        if self.head_mac_ok:
            return None
        if last == 0 or not self.any_mac_ok:
            return self.fail(last + 1, "wrong audit key, or the head was rewritten")
        return self.fail(
            last + 1,
            f"the head was rolled back or rewritten: its MAC does not match entry {last} (the "
            "newest entries were deleted and the head rewound)",
        )


def verify_chain(conn: Connection, key: AuditKey, anchor: AnchorFile | None) -> Outcome:
    """Verify the log as ``conn`` sees it (one snapshot)."""
    head = read_head(conn)
    walk = _Walk(key, head)
    for row in _rows(conn):
        bad = walk.step(row)
        if bad is not None:
            return bad
    bad = walk.finish(head)
    if bad is not None:
        return bad
    if anchor is None:
        return Outcome(VerifyResult(True, walk.checked))
    return _check_anchor(conn, key, anchor, walk.checked, walk.expected - 1)


def _check_anchor(
    conn: Connection, key: AuditKey, anchor: AnchorFile, checked: int, last: int
) -> Outcome:
    """Every anchored head must be an entry of the (already verified) chain."""
    count, beyond = 0, None
    for chunk in _chunks(anchor.heads(), 1000):
        for number, head in chunk:
            if not key.head_ok(head.seq, head.hash, head.mac):
                return _fail_anchor(
                    checked,
                    head.seq,
                    f"the anchor's head for entry {head.seq} (line {number}) does not carry this "
                    "key's MAC (the anchor was altered, or written with another key)",
                )
        wanted = sorted({h.seq for _, h in chunk if h.seq <= last})
        query = sa.select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.seq.in_(wanted))
        stored = {int(seq): str(digest) for seq, digest in conn.execute(query)}
        for _number, head in chunk:
            if head.seq > last:
                beyond = head if beyond is None or head.seq > beyond.seq else beyond
            elif stored.get(head.seq) != head.hash:
                return _fail_anchor(
                    checked,
                    head.seq,
                    f"entry {head.seq} differs from the head anchored at {head.time} (the log "
                    "was rewritten after it was anchored)",
                )
            else:
                count += 1
    if beyond is not None:
        return _fail_anchor(
            checked,
            last + 1,
            f"the database was rolled back: the anchor has entry {beyond.seq} (anchored at "
            f"{beyond.time}) but the log ends at entry {last}",
        )
    return Outcome(VerifyResult(True, checked, anchored=count))


def _fail_anchor(checked: int, seq: int, reason: str) -> Outcome:
    return Outcome(VerifyResult(False, checked, seq, reason))


def _chunks(
    items: Iterator[tuple[int, AnchoredHead]], size: int
) -> Iterator[list[tuple[int, AnchoredHead]]]:
    chunk: list[tuple[int, AnchoredHead]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


__all__ = ["Head", "Outcome", "VerifyResult", "read_head", "verify_chain"]
