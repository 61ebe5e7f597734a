"""API tokens: creating, listing, revoking and verifying the bearer tokens callers present.

A token reads ``mpt_<id>_<secret>``: ``id`` (12 hex characters) is public and names the token in
listings and the audit log; ``secret`` (43 characters, 256 random bits) is shown once, when the
token is created, and never stored: the database keeps a salted scrypt hash of it, so a copy of
the database does not let anyone call the server. Verification is deliberately slow (tens of
milliseconds); servers verify a token once and keep the result in memory
(:class:`modelplane.serving.auth.TokenAuthorizer`), so the predict path pays a dictionary lookup.

Each token has a role (viewer < predictor < operator < admin), optionally scopes
(``endpoint:NAME`` / ``model:NAME``: the token may act on those resources only), an optional
expiry and an optional rate limit. Creating and revoking are audited with the token's id and
name, never its secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from modelplane.audit import AuditLog
from modelplane.core.names import check_name
from modelplane.core.roles import Role
from modelplane.core.sql import now_ms
from modelplane.errors import AuthenticationError, InvalidInputError, NotFoundError
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import api_tokens

PREFIX = "mpt"
_TOKEN = re.compile(r"^mpt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_SCOPE_KINDS = ("endpoint", "model")
_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# scrypt: 16 MiB and ~40 ms per verification on one core; verified tokens are cached by servers
_N, _R, _P = 2**14, 8, 1
MAX_SCOPES = 100


@dataclass(frozen=True)
class Token:
    """What is known about a token (never its secret)."""

    id: str
    name: str
    role: Role
    endpoints: frozenset[str] | None  # None: every endpoint
    models: frozenset[str] | None  # None: every model
    rate_limit: float | None
    created_at: int
    created_by: str | None
    expires_at: int | None
    revoked_at: int | None = None
    revoked_by: str | None = None

    @property
    def identity(self) -> str:
        """How the token appears as an actor in the audit log: its name and id."""
        return f"{self.name}#{self.id}"

    @property
    def scopes(self) -> list[str]:
        return [f"endpoint:{e}" for e in sorted(self.endpoints or ())] + [
            f"model:{m}" for m in sorted(self.models or ())
        ]

    def expired(self, now_ms_: int | None = None) -> bool:
        now = now_ms() if now_ms_ is None else now_ms_
        return self.expires_at is not None and now >= self.expires_at

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expired() else "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.label,
            "scopes": self.scopes,
            "rate_limit": self.rate_limit,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "revoked_by": self.revoked_by,
            "status": self.status,
        }


def parse_duration(value: str, field: str = "expires") -> int:
    """``30d``, ``12h``, ``90m``, ``2w``, ``3600s`` → milliseconds."""
    found = _DURATION.match(value.strip())
    if not found or int(found.group(1)) == 0:
        raise InvalidInputError(
            f"{field} must be a positive duration such as 30d, 12h or 90m, got {value[:40]!r}",
            field=field,
        )
    return int(found.group(1)) * _UNITS[found.group(2)] * 1000


def parse_scopes(scopes: Sequence[str]) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """``["endpoint:churn", "model:fraud"]`` → (endpoints, models); an empty list: unscoped."""
    if len(scopes) > MAX_SCOPES:
        raise InvalidInputError(f"at most {MAX_SCOPES} scopes", field="scope")
    endpoints: set[str] = set()
    models: set[str] = set()
    for scope in scopes:
        kind, sep, name = str(scope).partition(":")
        if not sep or kind not in _SCOPE_KINDS:
            raise InvalidInputError(
                f"scope {str(scope)[:80]!r} must be endpoint:NAME or model:NAME", field="scope"
            )
        check_name(name, f"{kind} name")
        (endpoints if kind == "endpoint" else models).add(name)
    if not endpoints and not models:
        return None, None
    return frozenset(endpoints), frozenset(models)


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)


def _encode_hash(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _hash(secret, salt)
    b64 = base64.urlsafe_b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def _matches(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.urlsafe_b64decode(salt_b64)
        expected = base64.urlsafe_b64decode(digest_b64)
        actual = hashlib.scrypt(
            secret.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def split_token(value: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, else None."""
    found = _TOKEN.match(value)
    return (found.group(1), found.group(2)) if found else None


def _row_to_token(row: Any) -> Token:
    endpoints, models = parse_scopes(row.scopes or [])
    return Token(
        id=row.id,
        name=row.name,
        role=Role.parse(row.role),
        endpoints=endpoints,
        models=models,
        rate_limit=row.rate_limit,
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )


class TokenService:
    def __init__(self, meta: MetadataStore, audit: AuditLog, actor: str) -> None:
        self.meta = meta
        self.audit = audit
        self.actor = actor

    def create(
        self,
        name: str,
        role: str | Role,
        *,
        scopes: Sequence[str] = (),
        expires: str | None = None,
        rate_limit: float | None = None,
    ) -> tuple[Token, str]:
        """A new token and its secret string, which is shown once and never stored."""
        check_name(name, "token name")
        role = role if isinstance(role, Role) else Role.parse(role)
        endpoints, models = parse_scopes(scopes)
        if rate_limit is not None and not (0 < rate_limit <= 1_000_000):
            raise InvalidInputError(
                "rate_limit must be a positive number of requests per second", field="rate_limit"
            )
        now = now_ms()
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        token = Token(
            id=token_id,
            name=name,
            role=role,
            endpoints=endpoints,
            models=models,
            rate_limit=rate_limit,
            created_at=now,
            created_by=self.actor,
            expires_at=None if expires is None else now + parse_duration(expires),
        )
        with self.meta.write() as conn:
            conn.execute(
                api_tokens.insert().values(
                    id=token_id,
                    name=name,
                    role=role.label,
                    scopes=token.scopes,
                    secret_hash=_encode_hash(secret),
                    rate_limit=rate_limit,
                    created_at=now,
                    created_by=self.actor,
                    expires_at=token.expires_at,
                )
            )
            self.audit.append(
                conn,
                actor=self.actor,
                action="token.create",
                target=f"tokens/{token_id}",
                before=None,
                after={
                    "name": name,
                    "role": role.label,
                    "scopes": token.scopes,
                    "expires_at": token.expires_at,
                    "rate_limit": rate_limit,
                },
            )
        return token, f"{PREFIX}_{token_id}_{secret}"

    def list(self, *, include_revoked: bool = False) -> list[Token]:
        query = sa.select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)
        if not include_revoked:
            query = query.where(api_tokens.c.revoked_at.is_(None))
        with self.meta.read() as conn:
            return [_row_to_token(r) for r in conn.execute(query)]

    def get(self, token_id: str) -> Token:
        with self.meta.read() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None:
            raise NotFoundError(f"no token with id {token_id[:40]!r}", field="token")
        return _row_to_token(row)

    def revoke(self, id_or_name: str) -> Token:
        """Revoke a token by id, or by name when exactly one active token has it."""
        with self.meta.write() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == id_or_name)).first()
            if row is None:
                rows = conn.execute(
                    sa.select(api_tokens).where(
                        api_tokens.c.name == id_or_name, api_tokens.c.revoked_at.is_(None)
                    )
                ).all()
                if len(rows) > 1:
                    raise InvalidInputError(
                        f"{len(rows)} active tokens are named {id_or_name!r}: revoke by id "
                        f"({', '.join(r.id for r in rows)})",
                        field="token",
                    )
                row = rows[0] if rows else None
            if row is None:
                raise NotFoundError(f"no token {id_or_name[:40]!r}", field="token")
            if row.revoked_at is not None:
                return _row_to_token(row)
            now = now_ms()
            conn.execute(
                api_tokens.update()
                .where(api_tokens.c.id == row.id)
                .values(revoked_at=now, revoked_by=self.actor)
            )
            self.audit.append(
                conn,
                actor=self.actor,
                action="token.revoke",
                target=f"tokens/{row.id}",
                before={"name": row.name, "role": row.role},
                after={"revoked": True},
            )
        return self.get(row.id)

    def verify(self, value: str) -> Token:
        """The token ``value`` names, if its secret matches and it is neither revoked nor
        expired; AuthenticationError (401) otherwise, with a reason safe to show the caller."""
        parts = split_token(value)
        if parts is None:
            raise AuthenticationError("malformed token", reason="malformed")
        token_id, secret = parts
        with self.meta.read() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None or not _matches(secret, row.secret_hash):
            raise AuthenticationError("unknown token", reason="unknown")
        token = _row_to_token(row)
        if token.revoked_at is not None:
            raise AuthenticationError("this token was revoked", reason="revoked")
        if token.expired():
            raise AuthenticationError("this token has expired", reason="expired")
        return token

    def revoked_ids(self, since_ms: int = 0) -> set[str]:
        """Ids of tokens revoked at or after ``since_ms`` (servers poll this)."""
        with self.meta.read() as conn:
            rows = conn.execute(
                sa.select(api_tokens.c.id).where(api_tokens.c.revoked_at >= since_ms)
            ).all()
        return {r.id for r in rows}


__all__ = ["PREFIX", "Token", "TokenService", "parse_duration", "parse_scopes", "split_token"]
