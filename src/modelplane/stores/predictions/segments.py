"""The embedded prediction log: append-only SQLite segment files under ``<home>/predictions``.

Layout: ``<root>/<prefix>/<first counter, 16 hex digits>.db``. Each server process draws its own
id prefix when it starts (inference/ids.py) and writes only into its own folder, so several
workers never share a file: no lock waits, no "database is locked", and a prediction id maps to
exactly one file and row (the segment whose first counter is the greatest not above the id's).
A segment holds one row per answered request; a new one is started past ``segment_bytes``.

Durability: every batch is one transaction in WAL mode with ``synchronous=NORMAL``. A commit has
written its pages to the WAL file through the operating system when :meth:`SegmentLog.append`
returns, and the server answers only after that, so a process killed with SIGKILL loses nothing
it answered: the next reader replays the WAL. The WAL is flushed to stable storage (fsync) by a
checkpoint at most ``fsync_interval`` seconds after a write (and whenever it grows past SQLite's
autocheckpoint size), so a power loss or kernel crash can lose at most the answers of the last
``fsync_interval`` seconds (1 s by default). ``fsync_interval=0`` syncs every batch
(``synchronous=FULL``): no window, at the cost of one fsync per group commit.

Retention (:meth:`SegmentLog.prune`) deletes whole segments: those whose newest row is older
than the age limit, then the oldest until the total size fits. The segment a live process is
writing is never deleted by the size limit while it was written in the last ``segment_idle``
seconds.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from modelplane.stores.predictions.base import (
    PredictionLog,
    PruneResult,
    StoredRequest,
    split_id,
)
from modelplane.stores.predictions.codec import LoggedPrediction, document, pack, unpack

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    seq INTEGER PRIMARY KEY,
    n INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    variant TEXT NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    latency REAL NOT NULL,
    record BLOB NOT NULL
)
"""
_INSERT = "INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SELECT = "SELECT seq, n, ts, endpoint, variant, model, version, latency, record FROM predictions"
_SUFFIX = ".db"


def _open(path: Path, *, sync_full: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if sync_full else 'NORMAL'}")
    return conn


class SegmentLog(PredictionLog):
    """Append-only SQLite segments, one folder per writing process (see the module docstring)."""

    name = "prediction-log"

    def __init__(
        self,
        root: Path,
        *,
        fsync_interval: float = 1.0,
        segment_bytes: int = 64 << 20,
        segment_idle: float = 3600.0,
        hasher: Callable[[], Callable[[object], str]] | None = None,
    ) -> None:
        self.root = root
        self.fsync_interval = fsync_interval
        self.segment_bytes = segment_bytes
        self.segment_idle = segment_idle
        self._hasher_factory = hasher
        self._hasher: Callable[[object], str] | None = None
        self._writers: dict[str, tuple[Path, sqlite3.Connection]] = {}
        self._synced = time.monotonic()
        self._dirty = False
        self._lock = threading.Lock()

    # -- writing ------------------------------------------------------------------------------

    def _writer(self, prefix: str, seq: int) -> sqlite3.Connection:
        current = self._writers.get(prefix)
        if current is not None:
            path, conn = current
            if path.stat().st_size + _wal_size(path) < self.segment_bytes:
                return conn
            self._checkpoint(conn)
            conn.close()
        folder = self.root / prefix
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{seq:016x}{_SUFFIX}"
        conn = _open(path, sync_full=self.fsync_interval <= 0)
        conn.execute(_SCHEMA)
        self._writers[prefix] = (path, conn)
        return conn

    def _pii_hasher(self) -> Callable[[object], str] | None:
        if self._hasher is None and self._hasher_factory is not None:
            self._hasher = self._hasher_factory()
        return self._hasher

    def append(self, records: Sequence[LoggedPrediction]) -> None:
        by_prefix: dict[str, list[tuple[object, ...]]] = {}
        first: dict[str, int] = {}
        for r in records:
            if not r.ids:
                continue
            parsed = split_id(r.ids[0])
            if parsed is None:
                raise ValueError(f"not a prediction id: {r.ids[0]!r}")
            prefix, seq = parsed
            hasher = self._pii_hasher() if r.pii else None
            blob = pack(document(r, binary=True, hasher=hasher))
            by_prefix.setdefault(prefix, []).append(
                (
                    seq,
                    len(r.ids),
                    int(r.time * 1000),
                    r.endpoint,
                    r.variant,
                    r.model,
                    r.version,
                    float(r.latency),
                    blob,
                )
            )
            first.setdefault(prefix, seq)
        with self._lock:
            for prefix, rows in by_prefix.items():
                conn = self._writer(prefix, first[prefix])
                conn.execute("BEGIN")
                try:
                    conn.executemany(_INSERT, rows)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            self._dirty = True
            if self.fsync_interval > 0 and time.monotonic() - self._synced >= self.fsync_interval:
                self.sync()

    def sync(self) -> None:
        """Flush every open segment's WAL to stable storage now."""
        for _, conn in self._writers.values():
            self._checkpoint(conn)
        self._synced = time.monotonic()
        self._dirty = False

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._lock:
            for _, conn in self._writers.values():
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.close()
            self._writers.clear()

    # -- reading ------------------------------------------------------------------------------

    def segments(self) -> list[Path]:
        """Every segment file, by folder then first counter."""
        if not self.root.is_dir():
            return []
        return sorted(self.root.glob(f"*/*{_SUFFIX}"))

    @contextlib.contextmanager
    def _reader(self, path: Path) -> Iterator[sqlite3.Connection]:
        own = self._writers.get(path.parent.name)
        if own is not None and own[0] == path:
            with self._lock:
                yield own[1]
            return
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            yield conn
        finally:
            conn.close()

    def requests(
        self,
        *,
        endpoint: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[StoredRequest]:
        where: list[str] = []
        args: list[object] = []
        if endpoint is not None:
            where.append("endpoint = ?")
            args.append(endpoint)
        if since is not None:
            where.append("ts >= ?")
            args.append(int(since * 1000))
        if until is not None:
            where.append("ts < ?")
            args.append(int(until * 1000))
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        for path in self.segments():
            if since is not None and _mtime(path) < since - 60:
                continue  # nothing written to it since well before the window
            prefix = path.parent.name
            try:
                with self._reader(path) as conn:
                    rows = conn.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    continue  # created by a process killed before its first commit
                raise
            for seq, n, ts, ep, variant, model, version, latency, blob in rows:
                yield StoredRequest(
                    prefix, seq, n, ts, ep, variant, model, version, latency, unpack(blob)
                )

    def find(self, prediction_ids: Sequence[str]) -> dict[str, str]:
        wanted: dict[str, list[tuple[str, int]]] = {}
        for pid in prediction_ids:
            parsed = split_id(pid)
            if parsed is not None:
                wanted.setdefault(parsed[0], []).append((pid, parsed[1]))
        found: dict[str, str] = {}
        for prefix, items in wanted.items():
            folder = self.root / prefix
            if not folder.is_dir():
                continue
            starts = sorted(
                (int(p.stem, 16), p) for p in folder.glob(f"*{_SUFFIX}") if _is_hex(p.stem)
            )
            by_segment: dict[Path, list[tuple[str, int]]] = {}
            for pid, seq in items:
                chosen = None
                for start, path in starts:
                    if start <= seq:
                        chosen = path
                    else:
                        break
                if chosen is not None:
                    by_segment.setdefault(chosen, []).append((pid, seq))
            for path, entries in by_segment.items():
                try:
                    with self._reader(path) as conn:
                        for pid, seq in entries:
                            row = conn.execute(
                                "SELECT endpoint, seq + n FROM predictions WHERE seq <= ? "
                                "ORDER BY seq DESC LIMIT 1",
                                (seq,),
                            ).fetchone()
                            if row is not None and seq < row[1]:
                                found[pid] = row[0]
                except sqlite3.OperationalError:
                    continue
        return found

    # -- retention ----------------------------------------------------------------------------

    def size_bytes(self) -> int:
        return sum(_file_size(p) + _wal_size(p) for p in self.segments())

    def prune(
        self, *, max_age: float | None, max_bytes: int | None, now: float | None = None
    ) -> PruneResult:
        now = time.time() if now is None else now
        removed_requests = 0
        removed_bytes = 0
        live = {path for path, _ in self._writers.values()}
        segments: list[tuple[int, Path, int, int]] = []  # (newest ts ms, path, bytes, rows)
        for path in self.segments():
            try:
                with self._reader(path) as conn:
                    newest, count = conn.execute(
                        "SELECT COALESCE(MAX(ts), 0), COUNT(*) FROM predictions"
                    ).fetchone()
            except sqlite3.OperationalError:
                newest, count = int(path.stat().st_mtime * 1000), 0
            segments.append((newest, path, _file_size(path) + _wal_size(path), count))
        segments.sort()
        keep: list[tuple[int, Path, int, int]] = []
        for entry in segments:
            newest, path, size, count = entry
            if max_age is not None and newest < (now - max_age) * 1000 and path not in live:
                removed_bytes += size
                removed_requests += count
                _remove(path)
            else:
                keep.append(entry)
        total = sum(size for _, _, size, _ in keep)
        if max_bytes is not None:
            for newest, path, size, count in list(keep):
                if total <= max_bytes:
                    break
                recent = newest > (now - self.segment_idle) * 1000
                if path in live or (recent and self._newest_of_folder(path, keep)):
                    continue
                _remove(path)
                keep.remove((newest, path, size, count))
                total -= size
                removed_bytes += size
                removed_requests += count
        for folder in {p.parent for _, p, _, _ in segments}:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        return PruneResult(removed_requests, removed_bytes, total)

    @staticmethod
    def _newest_of_folder(path: Path, entries: list[tuple[int, Path, int, int]]) -> bool:
        same = [p for _, p, _, _ in entries if p.parent == path.parent]
        return max(same) == path


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdef" for c in text)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    times = [0.0]
    for p in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(OSError):
            times.append(p.stat().st_mtime)
    return max(times)


def _wal_size(path: Path) -> int:
    return _file_size(path.with_name(path.name + "-wal"))


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)


__all__ = ["SegmentLog"]
