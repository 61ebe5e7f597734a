"""The prediction log in the metadata database (PostgreSQL): the ``predictions`` table.

Every replica and worker writes into one table, so one query sees everything. A batch is one
multi-row INSERT committed in one transaction; with PostgreSQL's default ``synchronous_commit``
the commit is on stable storage when :meth:`DatabaseLog.append` returns (no power-loss window).
Rows are keyed by (id prefix, first counter), so a replayed batch cannot be stored twice.
Retention deletes rows by age, then the oldest rows until the rows' size fits the limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from modelplane.stores.metadata.schema import predictions
from modelplane.stores.metadata.store import MetadataStore
from modelplane.stores.predictions.base import (
    PredictionLog,
    PruneResult,
    StoredRequest,
    split_id,
)
from modelplane.stores.predictions.codec import LoggedPrediction, document

_READ_CHUNK = 2000


class DatabaseLog(PredictionLog):
    """Rows of the metadata database's ``predictions`` table (see the module docstring)."""

    name = "prediction-log"

    def __init__(
        self,
        store: MetadataStore,
        *,
        hasher: Callable[[], Callable[[object], str]] | None = None,
    ) -> None:
        self.store = store
        self._hasher_factory = hasher
        self._hasher: Callable[[object], str] | None = None

    def append(self, records: Sequence[LoggedPrediction]) -> None:
        rows: list[dict[str, Any]] = []
        for r in records:
            if not r.ids:
                continue
            parsed = split_id(r.ids[0])
            if parsed is None:
                raise ValueError(f"not a prediction id: {r.ids[0]!r}")
            if r.pii and self._hasher is None and self._hasher_factory is not None:
                self._hasher = self._hasher_factory()
            doc = document(r, binary=False, hasher=self._hasher if r.pii else None)
            rows.append(
                {
                    "prefix": parsed[0],
                    "seq": parsed[1],
                    "n": len(r.ids),
                    "ts": int(r.time * 1000),
                    "endpoint": r.endpoint,
                    "variant": r.variant,
                    "model": r.model,
                    "version": r.version,
                    "record": msgspec.to_builtins(doc),
                    "latency": float(r.latency),
                }
            )
        if not rows:
            return
        with self.store.write() as conn:
            conn.execute(predictions.insert(), rows)

    def requests(
        self,
        *,
        endpoint: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[StoredRequest]:
        t = predictions.c
        query = sa.select(
            t.prefix,
            t.seq,
            t.n,
            t.ts,
            t.endpoint,
            t.variant,
            t.model,
            t.version,
            t.latency,
            t.record,
        )
        if endpoint is not None:
            query = query.where(t.endpoint == endpoint)
        if since is not None:
            query = query.where(t.ts >= int(since * 1000))
        if until is not None:
            query = query.where(t.ts < int(until * 1000))
        # keyset paging by (ts, prefix, seq): bounded memory, no long-held cursor
        last: tuple[int, str, int] | None = None
        while True:
            page = query
            if last is not None:
                page = page.where(sa.tuple_(t.ts, t.prefix, t.seq) > sa.tuple_(*last))
            page = page.order_by(t.ts, t.prefix, t.seq).limit(_READ_CHUNK)
            with self.store.read() as conn:
                rows = conn.execute(page).all()
            for row in rows:
                yield StoredRequest(
                    row.prefix,
                    row.seq,
                    row.n,
                    row.ts,
                    row.endpoint,
                    row.variant,
                    row.model,
                    row.version,
                    row.latency,
                    row.record,
                )
            if len(rows) < _READ_CHUNK:
                return
            last = (rows[-1].ts, rows[-1].prefix, rows[-1].seq)

    def find(self, prediction_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        t = predictions.c
        parsed = [(pid, p) for pid in prediction_ids if (p := split_id(pid)) is not None]
        with self.store.read() as conn:
            for pid, (prefix, seq) in parsed:
                row = conn.execute(
                    sa.select(t.endpoint, t.seq + t.n)
                    .where(t.prefix == prefix, t.seq <= seq)
                    .order_by(t.seq.desc())
                    .limit(1)
                ).first()
                if row is not None and seq < row[1]:
                    found[pid] = row[0]
        return found

    def size_bytes(self) -> int:
        """The stored rows' size (PostgreSQL's ``pg_column_size``; space freed by deletes is
        reused by the table once vacuumed, so the file size is not what retention bounds)."""
        with self.store.read() as conn:
            if conn.dialect.name != "postgresql":
                return 0
            size = conn.execute(
                sa.text("SELECT COALESCE(SUM(pg_column_size(p.*)), 0) FROM predictions p")
            ).scalar()
        return int(size or 0)

    def prune(
        self, *, max_age: float | None, max_bytes: int | None, now: float | None = None
    ) -> PruneResult:
        now = time.time() if now is None else now
        t = predictions.c
        removed = 0
        before = self.size_bytes()
        if max_age is not None:
            with self.store.write() as conn:
                removed += conn.execute(
                    predictions.delete().where(t.ts < int((now - max_age) * 1000))
                ).rowcount
        if max_bytes is not None:
            with self.store.read() as conn:
                count = conn.execute(sa.select(sa.func.count()).select_from(predictions)).scalar()
            size = self.size_bytes()
            if count and size > max_bytes:
                # drop the oldest share that brings the estimated size under the limit
                excess = int(count * (1 - max_bytes / size)) + 1
                with self.store.write() as conn:
                    cutoff = conn.execute(
                        sa.select(t.ts).order_by(t.ts).offset(min(excess, count) - 1).limit(1)
                    ).scalar()
                    if cutoff is not None:
                        removed += conn.execute(predictions.delete().where(t.ts <= cutoff)).rowcount
        after = self.size_bytes()
        return PruneResult(removed, max(0, before - after), after)


__all__ = ["DatabaseLog"]
