"""Who is calling: bearer tokens checked once and remembered, rate limits, and the door's log.

:class:`TokenAuthorizer` verifies a presented token against the token store (a slow, salted
hash: tens of milliseconds) once per process, then answers from memory: the predict path pays a
dictionary lookup and an expiry comparison. Revocations reach every worker and replica within
one poll (:meth:`TokenAuthorizer.refresh`, run by the server every ``poll_interval``), like
endpoint changes do.

:class:`RateLimiter` is a token bucket per key (a token's id): ``rate`` requests per second,
bursts up to one second's worth, 429 with ``Retry-After`` beyond. :class:`FailureLimiter` counts
failed authentications per client address over a sliding minute; past the limit the address gets
429 before any token is even looked at (brute force costs the attacker, not the server).
:class:`DenialLog` writes refusals to the log at a bounded rate.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from modelplane.errors import AuthenticationError, RateLimitedError
from modelplane.serving.permissions import ANONYMOUS, Principal

if TYPE_CHECKING:
    from modelplane.security.tokens import Token, TokenService

log = logging.getLogger("modelplane.security")

MAX_CACHED = 10_000
BEARER = "bearer "


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None without the header)."""
    if authorization is None:
        return None
    if authorization[:7].lower() != BEARER:
        raise AuthenticationError(
            "the Authorization header must be 'Bearer <token>'", reason="malformed"
        )
    return authorization[7:].strip()


class TokenAuthorizer:
    """Bearer tokens from the token store. ``required=False`` (auto mode on loopback): a request
    without a token is the anonymous admin, one with a token is that token's caller."""

    def __init__(self, tokens: TokenService, *, required: bool) -> None:
        self.tokens = tokens
        self.required = required
        # token string -> (principal, expires_at in epoch ms or None)
        self._cache: dict[str, tuple[Principal, int | None]] = {}
        self._lock = threading.Lock()
        self._revoked_seen_ms = 0

    def peek(self, authorization: str | None) -> Principal | None:
        """The caller if known without touching the store (the predict path's common case);
        None when the token must be verified (:meth:`authenticate`, off the event loop)."""
        if authorization is None:
            return None if self.required else ANONYMOUS
        hit = self._cache.get(authorization)
        if hit is None:
            return None
        principal, expires_at = hit
        if expires_at is not None and time.time() * 1000 >= expires_at:
            return None  # expired while cached: authenticate() says so
        return principal

    def authenticate(self, authorization: str | None, client: str | None) -> Principal:
        if authorization is None:
            if self.required:
                raise AuthenticationError(
                    "this server requires a token: send 'Authorization: Bearer <token>'",
                    reason="missing",
                )
            return ANONYMOUS
        known = self.peek(authorization)
        if known is not None:
            return known
        token = self.tokens.verify(bearer(authorization) or "")
        principal = _principal(token)
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[authorization] = (principal, token.expires_at)
        return principal

    def refresh(self) -> int:
        """Forget tokens revoked since the last call; how many cached entries were dropped."""
        started = int(time.time() * 1000)
        # a small overlap: a revocation committed while the previous poll ran is seen again
        revoked = self.tokens.revoked_ids(max(0, self._revoked_seen_ms - 5_000))
        self._revoked_seen_ms = started
        if not revoked:
            return 0
        with self._lock:
            stale = [k for k, (p, _) in self._cache.items() if p.token_id in revoked]
            for key in stale:
                del self._cache[key]
        return len(stale)


def _principal(token: Token) -> Principal:
    return Principal(
        token.identity,
        token.role,
        endpoints=token.endpoints,
        models=token.models,
        token_id=token.id,
        rate_limit=token.rate_limit,
    )


class RateLimiter:
    """Token buckets per key: ``rate`` requests per second, bursts of ``max(1, rate)``."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def take(self, key: str, rate: float) -> None:
        now = time.monotonic()
        burst = max(1.0, rate)
        tokens, last = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            retry = max(1, math.ceil((1.0 - tokens) / rate))
            raise RateLimitedError(
                f"rate limit of {rate:g} requests per second exceeded; retry in {retry} s",
                retry_after=retry,
            )
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > MAX_CACHED:
            self._buckets.clear()


class FailureLimiter:
    """At most ``limit`` failed authentications per client address per minute."""

    WINDOW = 60.0

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        while times and now - times[0] > self.WINDOW:
            times.popleft()
        return times

    def check(self, client: str | None) -> None:
        """RateLimitedError while ``client`` is over its limit."""
        if client is None or client not in self._failures or self.limit <= 0:
            return
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.limit:
                return
            retry = max(1, math.ceil(self.WINDOW - (now - times[0])))
        raise RateLimitedError(
            f"too many failed authentications from {client}; retry in {retry} s",
            retry_after=retry,
        )

    def failed(self, client: str | None) -> None:
        if client is None or self.limit <= 0:
            return
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)
            if len(self._failures) > MAX_CACHED:
                self._failures.clear()


class DenialLog:
    """Refusals to the log, at most ``per_window`` lines per ``window`` seconds (then a count
    of what was left out), so a flood of bad requests cannot flood the log."""

    def __init__(self, per_window: int = 20, window: float = 10.0) -> None:
        self.per_window = per_window
        self.window = window
        self._start = 0.0
        self._written = 0
        self._suppressed = 0

    def write(self, status: int, reason: str, client: str | None, detail: str) -> None:
        now = time.monotonic()
        if now - self._start >= self.window:
            if self._suppressed:
                log.warning("%d more refusals not logged", self._suppressed)
            self._start, self._written, self._suppressed = now, 0, 0
        if self._written >= self.per_window:
            self._suppressed += 1
            return
        self._written += 1
        log.warning("refused %d (%s) from %s: %s", status, reason, client or "?", detail[:200])


__all__ = [
    "DenialLog",
    "FailureLimiter",
    "RateLimiter",
    "TokenAuthorizer",
    "bearer",
]
