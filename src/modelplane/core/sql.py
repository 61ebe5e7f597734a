"""Small SQL helpers shared by the services: dialect-aware inserts and upserts, the clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def now_ms() -> int:
    return int(time.time() * 1000)


WhereFn = Callable[[sa.Table, Any], Any]


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """The dialect's INSERT construct, which knows ``ON CONFLICT`` (both dialects spell it alike)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


@lru_cache(maxsize=64)
def upsert_statement(
    dialect: str,
    table: sa.Table,
    keys: tuple[str, ...],
    update: tuple[str, ...],
    where: WhereFn | None = None,
) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET update[...] [WHERE where(table, excluded)].

    Built once per shape and cached: constructing the ``excluded`` pseudo-table is costly, and a
    reused statement object also hits SQLAlchemy's compiled-statement cache.
    """
    stmt = dialect_insert(dialect, table)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: excluded[c] for c in update},
        where=where(table, excluded) if where is not None else None,
    )


def upsert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
    where: WhereFn | None = None,
) -> None:
    """Upsert ``rows``; ``where`` must be a module-level function (it is part of the cache key)."""
    if rows:
        stmt = upsert_statement(conn.dialect.name, table, tuple(keys), tuple(update), where)
        conn.execute(stmt, list(rows))


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key of the row an INSERT created."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def fetch_tuples(conn: Connection, stmt: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """Run a Core SELECT and return plain tuples straight from the DB-API cursor.

    For bulk reads (thousands of rows) SQLAlchemy's Row construction costs more than the query;
    parameters stay bound (``render_postcompile`` only expands IN lists into placeholders).
    Only for columns whose DB-API values need no conversion (text, numbers).
    """
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any
    if conn.dialect.paramstyle == "qmark":
        params = [compiled.params[name] for name in compiled.positiontup or ()]
    else:
        params = compiled.params
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()
