"""External anchors: the audit chain's heads, recorded outside the database as they commit.

The keyed chain (:mod:`.keys`) stops anyone without the audit key from rewriting history, but
not from replaying it: restoring an older copy of the database (or of the audit tables) brings
back an older head with its genuine MAC, and nothing inside the database can tell. An anchor
can: with ``MODELPLANE_AUDIT_ANCHOR`` set, every committed append also records its new head
(seq, hash, head MAC, time) outside the database, and ``verify`` checks that the database's
chain still contains every anchored head.

* **A file path**: JSON lines appended (``O_APPEND``) and fsync'd. Several processes may append
  to one file; lines need not be in seq order.
* **An http(s) URL**: the newest head is POSTed as JSON, best effort, with retries.

Heads are staged on the connection of the transaction that wrote them and handed to a
background thread only once that transaction committed (the connection's ``commit`` event, then
its return to the pool); a rollback discards them. The thread then reads the rows back and
anchors only heads that are in the database: a head whose commit failed must never be anchored,
or ``verify`` would report a rollback that never happened. Appends never wait for the anchor and
never fail because of it.

If the process dies after the commit and before the anchor write, the anchor lags behind the
database; that is never reported as tampering (the database may be ahead of its anchor), and the
next anchored head covers the entries in between, since a head vouches for the whole chain
before it. A crash in the middle of a write leaves a torn last line; the next writer starts a new
line and readers skip torn records.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from modelplane.errors import InvalidInputError
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import audit_log

log = logging.getLogger("modelplane.audit")

_HEX64 = re.compile(r"[0-9a-f]{64}")
#: seconds a process waits at exit for its last heads to reach the anchor
EXIT_FLUSH_S = 5.0
#: delays before each POST attempt of a URL anchor
POST_DELAYS_S = (0.0, 0.5, 2.0, 8.0)
POST_TIMEOUT_S = 5.0


def is_url(target: str) -> bool:
    return target.startswith(("https://", "http://"))


@dataclass(frozen=True)
class AnchoredHead:
    """One anchor record: the chain's head after an append, and when it was anchored."""

    seq: int
    hash: str
    mac: str
    time: str  # ISO-8601, UTC

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def _parse(text: str, where: str) -> AnchoredHead:
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{where} is not a JSON head record", field="anchor")
    seq, digest, mac, stamp = (doc.get(k) for k in ("seq", "hash", "mac", "time"))
    if (
        not isinstance(seq, int)
        or isinstance(seq, bool)
        or seq < 1
        or not isinstance(digest, str)
        or not _HEX64.fullmatch(digest)
        or not isinstance(mac, str)
        or not _HEX64.fullmatch(mac)
        or not isinstance(stamp, str)
    ):
        raise InvalidInputError(
            f"{where} is not a head record (seq, hash, mac, time)", field="anchor"
        )
    return AnchoredHead(seq, digest, mac, stamp)


class AnchorFile:
    """An anchor file read back for verification (``missing_ok``: a missing file has no heads)."""

    def __init__(self, path: Path, *, missing_ok: bool = False) -> None:
        self.path = path
        self.missing_ok = missing_ok

    def check(self) -> None:
        """Raise :class:`InvalidInputError` unless the file can be read (or may be missing)."""
        try:
            with self.path.open("rb"):
                pass
        except FileNotFoundError:
            if not self.missing_ok:
                raise self._unreadable("no such file") from None
        except OSError as exc:
            raise self._unreadable(exc.strerror or str(exc)) from None

    def _unreadable(self, why: str) -> InvalidInputError:
        return InvalidInputError(f"cannot read audit anchor {self.path}: {why}", field="anchor")

    def heads(self) -> Iterator[tuple[int, AnchoredHead]]:
        """``(line number, head)`` in file order. A record cut short by a crash (it starts a JSON
        object and never closes it) is skipped; anything else that is no head record is bad
        input."""
        try:
            with self.path.open(encoding="utf-8") as lines:
                for number, raw in enumerate(lines, start=1):
                    text = raw.strip()
                    if not text or (text.startswith("{") and not text.endswith("}")):
                        continue
                    yield number, _parse(text, f"audit anchor {self.path} line {number}")
        except FileNotFoundError:
            if not self.missing_ok:
                raise self._unreadable("no such file") from None
        except UnicodeDecodeError:
            raise self._unreadable("not UTF-8 text") from None
        except OSError as exc:
            raise self._unreadable(exc.strerror or str(exc)) from None


# -- writing ------------------------------------------------------------------------------------


class StagedHead(NamedTuple):
    seq: int
    hash: str
    mac: str


class _FileSink:
    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, heads: list[StagedHead]) -> None:
        stamp = datetime.now(UTC).isoformat()
        text = "".join(AnchoredHead(*h, time=stamp).line() + "\n" for h in heads)
        data = text.encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # the last write was torn by a crash: start a new line
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _UrlSink:
    """POSTs the newest head of each batch: a newer head vouches for every older one."""

    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, heads: list[StagedHead]) -> None:
        from modelplane.core.netguard import fetch
        from modelplane.errors import UnsafeInputError

        newest = max(heads, key=lambda h: h.seq)
        doc = AnchoredHead(*newest, time=datetime.now(UTC).isoformat()).to_dict()
        failure = ""
        for delay in POST_DELAYS_S:
            time.sleep(delay)
            try:
                # The URL is the operator's own setting, not a caller's: private addresses (an
                # anchor service inside the network) are allowed; cloud metadata stays refused.
                answer = fetch(
                    "POST", self.url, allow_private=True, timeout=POST_TIMEOUT_S, json=doc
                )
            except UnsafeInputError as exc:
                failure = exc.message
                break
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
                continue
            if answer.status_code < 300:
                return
            failure = f"HTTP {answer.status_code}"
            if answer.status_code < 500 and answer.status_code not in (408, 429):
                break
        log.warning("audit anchor %s: head %d not delivered (%s)", self.url, newest.seq, failure)


class AnchorWriter:
    """Anchors the heads of committed appends, from a background thread (see the module doc)."""

    def __init__(self, meta: MetadataStore, target: str) -> None:
        self.meta = meta
        self.target = target
        self._sink: _FileSink | _UrlSink = (
            _UrlSink(target) if is_url(target) else _FileSink(Path(target))
        )
        self._staged = f"modelplane.audit.anchor.{id(self)}.staged"
        self._committing = f"modelplane.audit.anchor.{id(self)}.committing"
        self._cond = threading.Condition()
        self._queue: list[StagedHead] = []
        self._busy = False
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None

    # -- in the appending transaction ------------------------------------------------------------

    def stage(self, conn: Connection, seq: int, digest: str, mac: str) -> None:
        """Remember the head written in ``conn``'s transaction; it is anchored if that commits."""
        self._listen(conn.engine)
        conn.info.setdefault(self._staged, []).append(StagedHead(seq, digest, mac))

    def _listen(self, engine: Engine) -> None:
        if self._engine is engine:
            return
        with self._cond:
            if self._engine is engine:
                return
            event.listen(engine, "commit", self._on_commit)
            event.listen(engine, "rollback", self._on_rollback)
            event.listen(engine, "checkin", self._on_checkin)  # the engine's pool
            self._engine = engine

    def _on_commit(self, conn: Connection) -> None:
        # Fired just before the COMMIT: the heads move on, and are sent once the connection is
        # back in the pool, i.e. after the commit returned (see _on_checkin).
        try:
            info = conn.info
        except Exception:
            return
        staged = info.pop(self._staged, None)
        if staged:
            info.setdefault(self._committing, []).extend(staged)

    def _on_rollback(self, conn: Connection) -> None:
        try:
            info = conn.info
        except Exception:
            return
        info.pop(self._staged, None)
        info.pop(self._committing, None)

    def _on_checkin(self, _dbapi_connection: Any, record: Any) -> None:
        info = getattr(record, "info", None)
        if not isinstance(info, dict):
            return
        info.pop(self._staged, None)  # a transaction that never committed
        heads = info.pop(self._committing, None)
        if heads:
            self._submit(heads)

    # -- the background thread -------------------------------------------------------------------

    def _submit(self, heads: list[StagedHead]) -> None:
        with self._cond:
            self._queue.extend(heads)
            if self._thread is None or not self._thread.is_alive():
                if self._thread is None:
                    atexit.register(_flush_at_exit, weakref.ref(self))
                self._thread = threading.Thread(target=self._run, name="audit-anchor", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait()
                batch, self._queue = self._queue, []
                self._busy = True
            try:
                committed = self._in_database(batch)
                if committed:
                    self._sink.send(committed)
            except Exception as exc:  # never let the anchor take anything else down
                log.warning("audit anchor %s: %s: %s", self.target, type(exc).__name__, exc)

    def _in_database(self, batch: list[StagedHead]) -> list[StagedHead]:
        """The heads of ``batch`` whose entry is in the database (their transaction committed)."""
        wanted = sorted({h.seq for h in batch})
        found: dict[int, str] = {}
        with self.meta.read() as conn:
            for start in range(0, len(wanted), 500):
                rows = conn.execute(
                    sa.select(audit_log.c.seq, audit_log.c.hash).where(
                        audit_log.c.seq.in_(wanted[start : start + 500])
                    )
                )
                found.update((int(seq), str(digest)) for seq, digest in rows)
        unique = {(h.seq, h.hash): h for h in batch if found.get(h.seq) == h.hash}
        return sorted(unique.values())

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every head committed so far was anchored (or given up); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)


def _flush_at_exit(ref: weakref.ref[AnchorWriter]) -> None:
    writer = ref()
    if writer is not None and not writer.flush(EXIT_FLUSH_S):
        log.warning("audit anchor %s: exiting before the last heads were anchored", writer.target)


__all__ = ["AnchorFile", "AnchorWriter", "AnchoredHead", "StagedHead", "is_url"]
