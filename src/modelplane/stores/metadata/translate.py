"""Database errors become domain errors at the metadata store's boundary, and only there.

:class:`~modelplane.stores.metadata.store.MetadataStore` wraps every connection it hands out
(``read``, ``write``, ``raw_write``) in :func:`translated`, so no service sees SQLAlchemy or
DB-API exceptions escape its transactions:

- the server cannot be reached, restarts, shuts down or dropped the connection (SQLAlchemy's
  ``OperationalError``/``InterfaceError``, any error that invalidated the connection, the
  driver's own ``OperationalError``/``InterfaceError``, an exhausted pool) →
  :class:`UnavailableError` (HTTP 503 with ``Retry-After``): the request may simply be retried;
- an integrity violation the service did not handle itself → :class:`ConflictError` (409) naming
  the constraint and table when the database tells them.

Anything else (a programming error in SQL, a data error) is a bug and is left as it is, so it
surfaces as one. Domain errors raised inside a transaction pass through untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from modelplane.errors import ConflictError, ModelplaneError, UnavailableError

# Seconds a client should wait before retrying: long enough for a connection pool to reconnect
# after a database restart, short enough not to stall a caller that retries by itself.
RETRY_AFTER_S = 2
_MAX_MESSAGE = 300

# SQLite names the failed constraint only in the message ("UNIQUE constraint failed: t.c").
_SQLITE_CONSTRAINT = re.compile(r"(UNIQUE|NOT NULL|CHECK|FOREIGN KEY) constraint failed(?:: (.+))?")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:_MAX_MESSAGE]


def _unavailable(orig: BaseException) -> UnavailableError:
    return UnavailableError(
        f"metadata database unavailable: {_first_line(orig)}", retry_after=RETRY_AFTER_S
    )


def _conflict(orig: BaseException) -> ConflictError:
    details: dict[str, str] = {}
    diag = getattr(orig, "diag", None)  # psycopg: the server names constraint and table
    if diag is not None:
        for field, attr in (("constraint", "constraint_name"), ("table", "table_name")):
            value = getattr(diag, attr, None)
            if value:
                details[field] = str(value)
    else:
        found = _SQLITE_CONSTRAINT.search(str(orig))
        if found is not None:
            details["constraint"] = found.group(1).lower().replace(" ", "_")
            if found.group(2):
                columns = found.group(2).split(", ")
                details["table"] = columns[0].split(".", 1)[0]
                details["columns"] = ", ".join(c.split(".", 1)[-1] for c in columns)
    where = " ".join(f"{k} {v}" for k, v in details.items()) or "a constraint"
    return ConflictError(
        f"the change conflicts with stored data ({where}): {_first_line(orig)}", **details
    )


def domain_error(exc: BaseException, dbapi: Any) -> ModelplaneError | None:
    """The domain error for database error ``exc``, or ``None`` when it is not translated.

    ``dbapi`` is the driver module (``sqlite3``, ``psycopg``): errors raised on raw DB-API
    cursors are the driver's own classes, not SQLAlchemy's wrappers.
    """
    if isinstance(exc, sa.exc.DBAPIError):
        orig = exc.orig if exc.orig is not None else exc
        if exc.connection_invalidated or isinstance(
            exc, (sa.exc.OperationalError, sa.exc.InterfaceError)
        ):
            return _unavailable(orig)
        if isinstance(exc, sa.exc.IntegrityError):
            return _conflict(orig)
        return None
    if isinstance(exc, sa.exc.TimeoutError):  # every pooled connection is busy
        return UnavailableError(
            f"metadata database busy: {_first_line(exc)}", retry_after=RETRY_AFTER_S
        )
    if dbapi is not None:
        if isinstance(exc, (dbapi.OperationalError, dbapi.InterfaceError)):
            return _unavailable(exc)
        if isinstance(exc, dbapi.IntegrityError):
            return _conflict(exc)
    return None


@contextmanager
def translated(dbapi: Any) -> Iterator[None]:
    """Re-raise database errors leaving the block as domain errors (see the module docstring)."""
    try:
        yield
    except ModelplaneError:
        raise
    except Exception as exc:
        error = domain_error(exc, dbapi)
        if error is None:
            raise
        raise error from exc
