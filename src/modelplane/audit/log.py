"""The audit log: who did what to which target, when, and what it was before.

Each entry's ``hash`` is the SHA-256 of its canonical JSON (sorted keys, no whitespace) including
the previous entry's hash, so editing or deleting any entry breaks the chain from there on. The
``audit_head`` row holds the last sequence number and hash; it is updated in the same transaction
as the append, which both serialises writers (``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite) and lets :meth:`AuditLog.verify` notice that the newest entries were
removed. Entries are appended inside the caller's write transaction: the change and its audit
entry commit together or not at all.

The chain is keyed (:mod:`.keys`): every entry carries an HMAC of its hash and the head an HMAC
of its seq and hash, under the audit key kept outside the database, so someone who can write the
database but not read the key can neither rewrite entries (recomputing the hashes) nor rewind the
head. The key is the secret ``audit_key``, loaded once and cached:

* it is created, under the head lock, by the first process that needs it. On a new log nothing
  was written before it, so the first append creates it; a log written before keys existed is
  signed once, when the key is created, in one transaction with an ``audit.keyed`` entry. From
  then on an entry without a MAC is a verification failure and is never signed again (nulling a
  MAC must not get a tampered entry re-signed);
* signing touches only entries without a MAC, under the head lock, and only the process that
  created the key (``Secrets.get_or_create`` decides exactly one) signs, so processes starting
  together sign once. Appenders look for the key under the same lock, so every entry committed
  before the key exists is signed by that transaction and every entry after it has its MAC;
* a first write to an unkeyed log that already has entries cannot create the key inside the
  caller's transaction (were it rolled back, the key would exist with the old entries unsigned):
  the entry is appended unsigned and a background thread keys the log in its own transaction
  right after.

``MODELPLANE_AUDIT_ANCHOR`` adds an external anchor (:mod:`.anchor`): the heads of committed
appends are also recorded outside the database, which catches a database restored from an older
copy, something the database alone can never show.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.audit.anchor import AnchorFile, AnchorWriter, is_url
from modelplane.audit.chain import GENESIS, entry_hash
from modelplane.audit.keys import KEY_NAME, AuditKey
from modelplane.audit.verify import VerifyResult, verify_chain
from modelplane.core.secrets import Secrets
from modelplane.errors import InvalidInputError
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import audit_head, audit_log

log = logging.getLogger("modelplane.audit")

#: the actor of the entries the audit log writes about itself (``audit.keyed``)
SYSTEM_ACTOR = "modelplane"


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


class _Fields(NamedTuple):
    actor: str
    action: str
    target: str
    before: Any
    after: Any


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


def _lock_head(conn: Connection) -> tuple[int, str]:
    """The head's (seq, hash), locked for the rest of ``conn``'s transaction."""
    head = conn.execute(
        sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
    ).first()
    if head is None:  # a store migrated before the head row existed; create it
        conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS))
        return 0, GENESIS
    return int(head.seq), str(head.hash)


class AuditLog:
    """The audit log of one metadata store, keyed with the ``audit_key`` of ``secrets``.

    ``anchor`` (``MODELPLANE_AUDIT_ANCHOR``): a file path or an http(s) URL that receives the
    head of every committed append.
    """

    def __init__(self, meta: MetadataStore, secrets: Secrets, *, anchor: str | None = None) -> None:
        self.meta = meta
        self.secrets = secrets
        self.anchor = anchor
        self._key: AuditKey | None = None
        self._key_lock = threading.Lock()
        self._keying_lock = threading.Lock()
        self._keying: threading.Thread | None = None
        self._writer = AnchorWriter(meta, anchor) if anchor else None

    def head(self) -> int:
        """The sequence number of the newest entry (0 for an empty log): one row, read cheaply.

        Every change is audited, so this number moving is the sign that something changed;
        servers poll it instead of re-reading every endpoint and alias.
        """
        with self.meta.read() as conn:
            seq = conn.execute(sa.select(audit_head.c.seq).where(audit_head.c.id == 1)).scalar()
        return int(seq or 0)

    # -- the key -----------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Load the audit key; if there is none yet, create it and sign the entries written
        before it (once, in one transaction, audited as ``audit.keyed``)."""
        if self._key is not None:
            return
        with self._key_lock:
            if self._key is not None:
                return
            secret = self.secrets.get(KEY_NAME)
            if secret is None:
                secret = self._create_key()
            self._key = AuditKey(secret)

    def _create_key(self) -> bytes:
        with self.meta.write() as conn:
            seq, digest = _lock_head(conn)
            # Under the head lock: no entry commits between the key appearing and the signing.
            secret, created = self.secrets.get_or_create(KEY_NAME)
            if created:
                self._sign_existing(conn, AuditKey(secret), seq, digest)
        return secret

    def _sign_existing(self, conn: Connection, key: AuditKey, head_seq: int, head: str) -> None:
        """Sign the entries that have no MAC (written before the key) and the head."""
        signed, first, last = 0, 0, 0
        while True:
            rows = conn.execute(
                sa.select(audit_log.c.seq, audit_log.c.hash)
                .where(audit_log.c.mac.is_(None), audit_log.c.seq > last)
                .where(audit_log.c.seq <= head_seq)
                .order_by(audit_log.c.seq)
                .limit(5000)
            ).all()
            if not rows:
                break
            conn.execute(
                audit_log.update()
                .where(audit_log.c.seq == sa.bindparam("b_seq"), audit_log.c.mac.is_(None))
                .values(mac=sa.bindparam("b_mac")),
                [{"b_seq": r.seq, "b_mac": key.entry_mac(r.hash)} for r in rows],
            )
            signed += len(rows)
            first, last = first or int(rows[0].seq), int(rows[-1].seq)
        if not signed:
            conn.execute(
                audit_head.update()
                .where(audit_head.c.id == 1)
                .values(mac=key.head_mac(head_seq, head))
            )
            return
        after = {"signed": signed, "first_seq": first, "last_seq": last, "key_id": key.key_id}
        self._write(
            conn,
            key,
            head_seq + 1,
            head,
            _Fields(SYSTEM_ACTOR, "audit.keyed", "audit", None, after),
        )
        log.warning("audit log keyed: %d entries written before the audit key signed", signed)

    def _key_for_append(self, head_seq: int) -> AuditKey | None:
        """The key for an append (the caller holds the head lock); None: append unsigned, the
        log is being keyed in the background (see the module doc)."""
        if self._key is not None:
            return self._key
        secret = self.secrets.get(KEY_NAME)
        if secret is None and head_seq == 0:
            # A new log: nothing was written before the key, so nothing is left unsigned if
            # this transaction rolls back after the key was made.
            secret, _created = self.secrets.get_or_create(KEY_NAME)
        if secret is None:
            self._key_in_background()
            return None
        self._key = AuditKey(secret)
        return self._key

    def _key_in_background(self) -> None:
        with self._keying_lock:
            if self._keying is not None and self._keying.is_alive():
                return
            # Not a daemon: a process that wrote to an unkeyed log waits for its keying at exit.
            self._keying = threading.Thread(target=self._prepare_quietly, name="audit-keying")
            self._keying.start()

    def _prepare_quietly(self) -> None:
        try:
            self.prepare()
        except Exception as exc:  # the next write tries again
            log.warning("could not key the audit log: %s: %s", type(exc).__name__, exc)

    # -- writing -----------------------------------------------------------------------------------

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
        seq, prev = _lock_head(conn)
        key = self._key_for_append(seq)
        return self._write(
            conn, key, seq + 1, prev, _Fields(actor, action, target, before_c, after_c)
        )

    def _write(
        self, conn: Connection, key: AuditKey | None, seq: int, prev: str, f: _Fields
    ) -> AuditEntry:
        ts = int(time.time() * 1000)
        digest = entry_hash(seq, ts, f.actor, f.action, f.target, f.before, f.after, prev)
        mac = key.entry_mac(digest) if key is not None else None
        head_mac = key.head_mac(seq, digest) if key is not None else None
        conn.execute(
            audit_log.insert().values(
                seq=seq,
                ts=ts,
                actor=f.actor,
                action=f.action,
                target=f.target,
                before=f.before,
                after=f.after,
                prev_hash=prev,
                hash=digest,
                mac=mac,
            )
        )
        conn.execute(
            audit_head.update()
            .where(audit_head.c.id == 1)
            .values(seq=seq, hash=digest, mac=head_mac)
        )
        if self._writer is not None and head_mac is not None:
            self._writer.stage(conn, seq, digest, head_mac)
        return AuditEntry(
            seq, ts, f.actor, f.action, f.target, f.before, f.after, prev, digest, mac
        )

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the heads of the appends committed so far reached the anchor (True at
        once without one); False when ``timeout`` seconds were not enough."""
        return True if self._writer is None else self._writer.flush(timeout)

    # -- reading -----------------------------------------------------------------------------------

    def list(
        self,
        *,
        target: str | None = None,
        action: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
        actor: str | None = None,
        before: int | None = None,
    ) -> list[AuditEntry]:
        """Entries about ``target`` (and below), of ``action``, by ``actor``; ``before``: only
        entries with a smaller seq (the next page of a newest-first listing)."""
        if not 1 <= limit <= 100_000:
            raise InvalidInputError("limit must be between 1 and 100000", field="limit")
        query = sa.select(audit_log)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if before is not None:
            query = query.where(audit_log.c.seq < before)
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

    def verify(self, anchor: str | Path | None = None) -> VerifyResult:
        """Walk the chain and check every MAC; name the first entry that was edited, removed,
        reordered or rewritten, or a head that was rolled back.

        ``anchor``: an anchor file whose heads must all be in the chain (by default the
        ``MODELPLANE_AUDIT_ANCHOR`` file, when that is a file; missing, it has no heads yet).
        An unreadable or malformed anchor is :class:`InvalidInputError`.

        The entries and the head are read in one transaction on one snapshot (SQLite's WAL read
        transaction; REPEATABLE READ on PostgreSQL), so entries appended while ``verify`` runs
        are neither reported missing nor make the head look wrong. A missing MAC is looked at
        again under the head lock: a process keying the log shows unsigned entries until it
        commits.
        """
        self.prepare()
        key = self._key
        assert key is not None
        source = self._anchor_file(anchor)
        if source is not None:
            source.check()
        with self.meta.read() as conn:
            if self.meta.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            outcome = verify_chain(conn, key, source)
        if outcome.missing_mac:
            with self.meta.write() as conn:
                conn.execute(
                    sa.select(audit_head.c.seq).where(audit_head.c.id == 1).with_for_update()
                )
                outcome = verify_chain(conn, key, source)
        return outcome.result

    def _anchor_file(self, anchor: str | Path | None) -> AnchorFile | None:
        if anchor is not None:
            if isinstance(anchor, str) and is_url(anchor):
                raise InvalidInputError(
                    "verify reads an anchor file; a URL anchor is checked by its receiver",
                    field="anchor",
                )
            return AnchorFile(Path(anchor))
        if self.anchor and not is_url(self.anchor):
            return AnchorFile(Path(self.anchor), missing_ok=True)
        return None


__all__ = ["GENESIS", "AuditEntry", "AuditLog", "VerifyResult", "entry_hash"]
