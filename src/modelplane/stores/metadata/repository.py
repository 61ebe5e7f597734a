"""The metadata store's write patterns, written once for every service.

- :func:`insert_or_ignore`: insert a row unless one with the same unique key exists;
- :func:`get_or_create`: the id of a named row (a dataset, a registered model, an experiment),
  created when missing;
- :func:`claim_next`: the next number of a per-parent counter (model versions, dataset versions).

All three run inside the caller's :meth:`MetadataStore.write` transaction and are race-safe on
both dialects without retry loops. On SQLite, write transactions start with ``BEGIN IMMEDIATE``,
so writers are serialised anyway. On PostgreSQL (READ COMMITTED) they lean on two guarantees:
``INSERT … ON CONFLICT DO NOTHING`` waits for a concurrent uncommitted insert of the same key and
then skips the row, never failing; and an ``UPDATE`` waits for a concurrent one of the same row
and then applies to the committed value. Each statement sees rows committed before it started,
so a read after either of them sees the concurrent winner.

Callers append their audit entries after these calls, never before: the audit head is then the
last lock a transaction takes, and one that holds it never waits for another (PostgreSQL would
otherwise report a deadlock between a creator holding the head and a claimer waiting for it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.core.sql import dialect_insert


class Row(NamedTuple):
    """A row's id, and whether this transaction created it."""

    id: int
    created: bool


def insert_or_ignore(
    conn: Connection, table: sa.Table, values: Mapping[str, Any], *, keys: Sequence[str]
) -> bool:
    """Insert ``values`` unless a row with the same ``keys`` (a unique constraint) exists.

    True when this call inserted the row. A concurrent insert of the same keys is not an error:
    the caller reads the winner's row instead.
    """
    stmt = (
        dialect_insert(conn.dialect.name, table)
        .values(dict(values))
        .on_conflict_do_nothing(index_elements=list(keys))
        # A returned row tells whether it was inserted: rowcount does not, once SQLAlchemy adds
        # RETURNING for the primary key on its own (-1 on PostgreSQL).
        .returning(*table.primary_key.columns)
    )
    return conn.execute(stmt).first() is not None


def get_or_create(
    conn: Connection,
    table: sa.Table,
    *,
    key: str,
    value: Any,
    defaults: Mapping[str, Any],
) -> Row:
    """The ``id`` of the row of ``table`` whose unique column ``key`` is ``value``, inserted with
    ``defaults`` when there is none. ``created`` tells the caller whether to audit a creation."""
    column = table.c[key]
    query = sa.select(table.c.id).where(column == value)
    found = conn.execute(query).scalar()
    if found is not None:
        return Row(int(found), False)
    created = insert_or_ignore(conn, table, {key: value, **defaults}, keys=(key,))
    return Row(int(conn.execute(query).scalar_one()), created)


def claim_next(
    conn: Connection,
    table: sa.Table,
    counter: str,
    row_id: int,
    **also: Any,
) -> int:
    """Bump the counter column ``counter`` of row ``row_id`` of ``table`` and return the new value.

    The counter holds the highest number ever issued, so numbers are never reused, even after the
    rows that carried them were deleted; a transaction that rolls back gives its number back. The
    ``UPDATE`` row-locks the parent on PostgreSQL until the transaction ends: concurrent claims
    for one parent queue up and each gets the next number. ``also`` are further columns to set on
    the parent row in the same statement (e.g. ``updated_at``).
    """
    column = table.c[counter]
    stmt = (
        table.update()
        .where(table.c.id == row_id)
        .values({counter: column + 1, **also})
        .returning(column)
    )
    return int(conn.execute(stmt).scalar_one())
