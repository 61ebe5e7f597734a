"""Opening the metadata store: engine set-up per dialect, automatic and safe migrations.

SQLite gets WAL, ``synchronous=NORMAL`` (a commit survives a crash of the process: the WAL
frame is written before the commit returns; see docs/durability.md), a busy timeout and foreign
keys; write transactions start with ``BEGIN IMMEDIATE`` so two writers never dead-lock on a lock
upgrade. PostgreSQL uses psycopg 3, with connections checked before use (``pool_pre_ping``) so
those that died while the server restarted are replaced instead of failing a request.

Constructing a store does no I/O: the SQLite folder is created and the schema migrated on first
use (a lock makes that happen once per process; the migration lock — a file lock for SQLite, an
advisory lock for PostgreSQL — once across processes that start together). Every connection handed
out translates database errors into domain errors on the way out (:mod:`.translate`).
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from modelplane.errors import BackendError, InvalidInputError, needs_extra
from modelplane.stores.metadata.migrations import HEAD_REVISION
from modelplane.stores.metadata.translate import translated

_PG_MIGRATION_LOCK = 0x6D706C6E  # "mpln"
_SUPPORTED = ("sqlite", "postgresql")
# Seconds to wait for a PostgreSQL connection unless the URL says otherwise: an unreachable host
# must fail a request (503), not hang it.
_PG_CONNECT_TIMEOUT_S = 10


def _redact(raw: object) -> str:
    """``raw`` with the password of a ``scheme://user:password@host`` URL masked."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", str(raw))


def _sqlite_path(url: sa.URL) -> Path | None:
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


class MetadataStore:
    """Owns the engine. Services run SQL through :meth:`read` and :meth:`write` connections."""

    def __init__(self, db_url: str, *, migrate: bool = True) -> None:
        try:
            url = sa.make_url(db_url)
        except (sa.exc.ArgumentError, ValueError) as exc:
            # ValueError: a non-numeric port. Never echo a password in the message.
            raise InvalidInputError(
                f"MODELPLANE_DB_URL {_redact(db_url)!r} is not a database URL", field="db_url"
            ) from exc
        self.url = url
        self.dialect = url.get_backend_name()
        if self.dialect not in _SUPPORTED:
            raise InvalidInputError(
                f"unsupported metadata database {self.dialect!r}: use sqlite:/// or "
                "postgresql+psycopg://",
                field="db_url",
            )
        if self.dialect == "postgresql" and url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        try:
            # Creating an engine connects to nothing; it does import the DB-API driver.
            self._engine = self._make_engine(url)
        except ImportError as exc:  # a known dialect whose DB-API driver is not installed
            if self.dialect == "postgresql":
                raise needs_extra(
                    f"the metadata database {url.drivername}://",
                    "psycopg",
                    "postgres",
                    field="db_url",
                ) from exc
            raise InvalidInputError(
                f"the driver of {url.drivername!r} is not installed: use sqlite:/// or "
                "postgresql+psycopg://",
                field="db_url",
            ) from exc
        except sa.exc.ArgumentError as exc:  # an unknown driver
            raise InvalidInputError(
                f"unsupported driver {url.drivername!r} for the metadata database: use "
                "sqlite:/// or postgresql+psycopg://",
                field="db_url",
            ) from exc
        self._auto_migrate = migrate
        self._opened = False
        self._open_lock = threading.Lock()

    # -- engine ---------------------------------------------------------------------------------

    def _make_engine(self, url: sa.URL) -> Engine:
        if self.dialect == "sqlite":
            engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            _configure_sqlite(engine)
            return engine
        connect_args = {}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = _PG_CONNECT_TIMEOUT_S
        return sa.create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args=connect_args
        )

    def _ready(self) -> Engine:
        """The engine, once the store is open: folder created, schema migrated (first use only).

        A failed opening is retried by the next use, so a store first used while its server is
        down starts working when the server is back.
        """
        if not self._opened:
            with self._open_lock:
                if not self._opened:
                    self._prepare()
                    if self._auto_migrate:
                        self._migrate()
                    self._opened = True
        return self._engine

    def _prepare(self) -> None:
        path = _sqlite_path(self.url) if self.dialect == "sqlite" else None
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # the SQLite file's folder cannot be created
            raise BackendError(f"cannot open metadata store {self._safe_url()}: {exc}") from exc

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine of an open (migrated) store."""
        return self._ready()

    @property
    def _dbapi(self) -> Any:
        """The DB-API driver module (``sqlite3``, ``psycopg``): raw cursors raise its errors."""
        return self._engine.dialect.loaded_dbapi

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (rolled back at the end)."""
        with translated(self._dbapi), self._ready().connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed when the block exits without error."""
        with translated(self._dbapi), self._ready().connect() as conn:
            if self.dialect == "sqlite":
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def raw_write(self) -> Iterator[Any]:
        """A DB-API cursor in a write transaction, for hot paths where SQLAlchemy's per-statement
        work would dominate (metric logging). SQL must use :attr:`paramstyle` placeholders.
        Database errors the caller does not catch inside the block leave it translated."""
        dbapi = self._dbapi
        with translated(dbapi):
            raw = self._ready().raw_connection()
            try:
                cur = raw.cursor()
                try:
                    if self.dialect == "sqlite":
                        cur.execute("BEGIN IMMEDIATE")
                    yield cur
                    raw.commit()
                except BaseException as exc:
                    _abandon(self._engine, raw, cur, exc)
                    raise
                cur.close()
            finally:
                raw.close()

    @property
    def placeholder(self) -> str:
        return "?" if self.dialect == "sqlite" else "%s"

    @property
    def dbapi_integrity_error(self) -> type[Exception]:
        """The driver's IntegrityError, for code that handles one inside a :meth:`raw_write`."""
        error: type[Exception] = self._engine.dialect.loaded_dbapi.IntegrityError
        return error

    def dispose(self) -> None:
        self._engine.dispose()

    # -- migrations -----------------------------------------------------------------------------

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return _revision(conn)

    def migrate(self) -> None:
        """Bring the schema to the head revision; cheap when it is already there."""
        with self._open_lock:
            self._prepare()
            self._migrate()
            self._opened = True

    def _migrate(self) -> None:
        try:
            path = _sqlite_path(self.url) if self.dialect == "sqlite" else None
            fresh = path is not None and not path.exists()
            # A database file that does not exist yet is first opened under the lock, so
            # processes starting together never race to create it and switch it to WAL.
            if not fresh and self._current_revision() == HEAD_REVISION:
                return
            with self._migration_lock() as conn:
                # Another process may have migrated while this one waited for the lock: then
                # there is nothing to do (and no need to import Alembic at all).
                done = _revision(conn) == HEAD_REVISION
                conn.rollback()
                if done:
                    return
                from alembic.util.exc import CommandError

                from modelplane.stores.metadata.migrations.runner import upgrade

                try:
                    upgrade(conn)
                except CommandError as exc:  # e.g. a revision unknown to this version
                    raise BackendError(
                        f"cannot migrate metadata store {self._safe_url()} (at revision "
                        f"{self._current_revision()!r}, this modelplane knows up to "
                        f"{HEAD_REVISION!r}): {exc}"
                    ) from exc
        except sa.exc.DBAPIError as exc:  # unreachable server, bad credentials, not a database
            raise BackendError(
                f"cannot open metadata store {self._safe_url()}: {exc.orig}"
            ) from exc

    def _current_revision(self) -> str | None:
        with self._engine.connect() as conn:
            return _revision(conn)

    @contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        if self.dialect == "postgresql":
            with self._engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
                try:
                    yield conn
                finally:
                    conn.rollback()
                    conn.execute(
                        sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                    conn.commit()
            return
        path = _sqlite_path(self.url)
        if path is None:
            with self._engine.connect() as conn:
                yield conn
            return
        lock_path = path.with_name(path.name + ".migrate.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self._engine.connect() as conn:
                yield conn
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"MetadataStore({self._safe_url()!r})"


def _abandon(engine: Engine, raw: Any, cur: Any, exc: BaseException) -> None:
    """End a failed raw transaction: roll back, or discard the connection when it is dead (the
    server restarted or went away), so the pool never hands it out again."""
    dbapi_error = engine.dialect.loaded_dbapi.Error
    if isinstance(exc, dbapi_error) and engine.dialect.is_disconnect(
        exc, raw.dbapi_connection, cur
    ):
        raw.invalidate(exc)
        return
    try:
        raw.rollback()
    except dbapi_error as again:  # the connection broke while failing: do not pool it
        raw.invalidate(again)


def _revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    revision: str | None = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return revision


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN is ours (see SQLAlchemy's
        # "pysqlite serializable" recipe).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 30000")
        _set_wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _set_wal(cur: Any) -> None:
    """Switch to WAL. Changing the journal mode needs an exclusive lock and may fail with
    "database is locked" without waiting for the busy timeout, so retry for a while."""
    import sqlite3
    import time

    deadline = time.monotonic() + 30
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
