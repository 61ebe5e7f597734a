"""The audit log: who did what to which target, when, and what it was before.

Each entry's ``hash`` is the SHA-256 of its canonical JSON (sorted keys, no whitespace) including
the previous entry's hash, so editing or deleting any entry breaks the chain from there on. The
``audit_head`` row holds the last sequence number and hash; it is updated in the same transaction
as the append, which both serialises writers (``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite) and lets :meth:`AuditLog.verify` notice that the newest entries were
removed. Entries are appended inside the caller's write transaction: the change and its audit
entry commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.errors import InvalidInputError
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import audit_head, audit_log

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: int
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    prev_hash: str
    hash: str
    mac: str | None = None

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.ts / 1000, tz=UTC)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["time"] = self.time.isoformat()
        return out


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _canonical(value: Any, field: str = "document") -> Any:
    """JSON-safe form used both for storing and hashing (so both see the same document).

    It must also be the form every backend hands back, or ``verify`` would report untouched
    entries as modified: PostgreSQL's JSONB keeps numbers as exact decimals and prints them
    without an exponent, so a float such as ``1e100`` is read back as an integer and ``-0.0`` as
    ``0.0``; such floats are stored in that form from the start. JSONB cannot hold NUL characters,
    so they are refused on every backend alike.
    """
    try:
        text = json.dumps(value, sort_keys=True, default=str, allow_nan=False)
    except ValueError as exc:
        raise InvalidInputError(
            f"audit {field} must be JSON: NaN and infinite numbers are not allowed", field=field
        ) from exc
    return _backend_stable(json.loads(text), field)


def _backend_stable(value: Any, field: str) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInputError(f"audit {field} must not contain NUL characters", field=field)
        return value
    if isinstance(value, float):
        if value == 0.0:
            return 0.0  # -0.0: no negative zero in a decimal
        if abs(value) >= 1e16:  # printed with an exponent; always integral at this size
            return int(value)
        return value
    if isinstance(value, dict):
        return {_backend_stable(k, field): _backend_stable(v, field) for k, v in value.items()}
    if isinstance(value, list):
        return [_backend_stable(item, field) for item in value]
    return value


def _check_text(value: object, field: str, limit: int) -> str:
    """actor, action and target: strings that fit their column on every backend."""
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"audit {field} must be a non-empty string", field=field)
    if len(value) > limit:
        raise InvalidInputError(
            f"audit {field} is {len(value)} characters long; the limit is {limit}", field=field
        )
    if "\x00" in value:
        raise InvalidInputError(f"audit {field} must not contain NUL characters", field=field)
    return value


def entry_hash(
    seq: int, ts: int, actor: str, action: str, target: str, before: Any, after: Any, prev: str
) -> str:
    doc = {
        "seq": seq,
        "ts": ts,
        "actor": actor,
        "action": action,
        "target": target,
        "before": before,
        "after": after,
        "prev_hash": prev,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AuditLog:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def head(self) -> int:
        """The sequence number of the newest entry (0 for an empty log): one row, read cheaply.

        Every change is audited, so this number moving is the sign that something changed;
        servers poll it instead of re-reading every endpoint and alias.
        """
        with self.meta.read() as conn:
            seq = conn.execute(sa.select(audit_head.c.seq).where(audit_head.c.id == 1)).scalar()
        return int(seq or 0)

    def append(
        self,
        conn: Connection,
        *,
        actor: str,
        action: str,
        target: str,
        before: Any = None,
        after: Any = None,
    ) -> AuditEntry:
        """Append one entry inside the caller's write transaction ``conn``."""
        actor = _check_text(actor, "actor", 200)  # the column sizes in schema.audit_log
        action = _check_text(action, "action", 64)
        target = _check_text(target, "target", 500)
        before_c, after_c = _canonical(before, "before"), _canonical(after, "after")
        head = conn.execute(
            sa.select(audit_head.c.seq, audit_head.c.hash)
            .where(audit_head.c.id == 1)
            .with_for_update()
        ).first()
        if head is None:  # a store migrated before the head row existed; create it
            conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS))
            seq, prev = 1, GENESIS
        else:
            seq, prev = int(head.seq) + 1, head.hash
        ts = int(time.time() * 1000)
        digest = entry_hash(seq, ts, actor, action, target, before_c, after_c, prev)
        conn.execute(
            audit_log.insert().values(
                seq=seq,
                ts=ts,
                actor=actor,
                action=action,
                target=target,
                before=before_c,
                after=after_c,
                prev_hash=prev,
                hash=digest,
            )
        )
        conn.execute(audit_head.update().where(audit_head.c.id == 1).values(seq=seq, hash=digest))
        return AuditEntry(seq, ts, actor, action, target, before_c, after_c, prev, digest)

    def list(
        self,
        *,
        target: str | None = None,
        action: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[AuditEntry]:
        if not 1 <= limit <= 100_000:
            raise InvalidInputError("limit must be between 1 and 100000", field="limit")
        query = sa.select(audit_log)
        if target is not None:
            query = query.where(
                sa.or_(
                    audit_log.c.target == target,
                    audit_log.c.target.startswith(target + "/", autoescape=True),
                    audit_log.c.target.startswith(target + "@", autoescape=True),
                )
            )
        if action is not None:
            query = query.where(audit_log.c.action == action)
        order = audit_log.c.seq.desc() if newest_first else audit_log.c.seq.asc()
        with self.meta.read() as conn:
            rows = conn.execute(query.order_by(order).limit(limit)).mappings().all()
        return [AuditEntry(**dict(row)) for row in rows]

    def _iter_all(self, conn: Connection, batch: int = 5000) -> Iterator[AuditEntry]:
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
            for row in rows:
                yield AuditEntry(**dict(row))
            last = rows[-1]["seq"]

    def verify(self) -> VerifyResult:
        """Walk the chain; name the first entry that was edited, removed or reordered.

        The entries and the head are read in one transaction on one snapshot (SQLite's WAL read
        transaction; REPEATABLE READ on PostgreSQL), so entries appended while ``verify`` runs
        are neither reported missing nor make the head look wrong.
        """
        with self.meta.read() as conn:
            if self.meta.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            return self._verify(conn)

    def _verify(self, conn: Connection) -> VerifyResult:
        expected_seq, prev = 1, GENESIS
        checked = 0
        for entry in self._iter_all(conn):
            if entry.seq != expected_seq:
                return VerifyResult(
                    False, checked, expected_seq, f"entry {expected_seq} is missing (deleted)"
                )
            if entry.prev_hash != prev:
                return VerifyResult(
                    False,
                    checked,
                    entry.seq,
                    f"entry {entry.seq} does not link to entry {entry.seq - 1} (an entry before "
                    "it was changed or removed)",
                )
            digest = entry_hash(
                entry.seq,
                entry.ts,
                entry.actor,
                entry.action,
                entry.target,
                entry.before,
                entry.after,
                entry.prev_hash,
            )
            if digest != entry.hash:
                return VerifyResult(
                    False,
                    checked,
                    entry.seq,
                    f"entry {entry.seq} was modified after it was written",
                )
            checked += 1
            expected_seq, prev = entry.seq + 1, entry.hash
        head = conn.execute(
            sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
        ).first()
        head_seq, head_hash = (0, GENESIS) if head is None else (int(head.seq), head.hash)
        if head_seq != expected_seq - 1 or head_hash != prev:
            if head_seq > expected_seq - 1:
                return VerifyResult(
                    False,
                    checked,
                    expected_seq,
                    f"entries {expected_seq}..{head_seq} are missing (the newest entries were "
                    "deleted)",
                )
            return VerifyResult(
                False, checked, head_seq + 1, "the chain head does not match the last entry"
            )
        return VerifyResult(True, checked)
