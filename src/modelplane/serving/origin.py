"""Host and Origin checks: the server answers only for its own names and its own pages.

**Host** (DNS rebinding): a page on ``attacker.example`` whose name is re-pointed at 127.0.0.1
makes the victim's browser talk to a server on their loopback with ``Host: attacker.example``.
A server bound to loopback therefore answers only requests for its loopback names (``localhost``,
``127.0.0.1``, ``[::1]``, any port) unless ``--allowed-hosts`` says otherwise; bound beyond
loopback it accepts any Host unless ``--allowed-hosts`` is given (tokens protect it there).

**Origin** (CSRF): a browser sends ``Origin`` with every cross-site state-changing request,
including the "simple" ones (form posts, ``text/plain``) that need no CORS preflight. A request
that changes state (any method but GET, HEAD, OPTIONS) and carries an ``Origin`` is refused
unless the origin is the server's own (its host and port are the request's ``Host``) or listed in
``--allowed-origins``. Non-browser clients send no ``Origin`` and are not affected.

Both refusals are 403 with a JSON body naming the header.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import orjson

from modelplane.config import ServerSettings

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(value: str) -> str:
    """``Host`` header value → the bare host name, lower case (port and IPv6 brackets off)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class RequestGuard:
    """The Host allowlist and the Origin rule of one server."""

    def __init__(self, settings: ServerSettings) -> None:
        hosts = settings.allowed_hosts
        if hosts is None and settings.loopback:
            hosts = tuple(LOOPBACK_NAMES)
        self.hosts: frozenset[str] | None = (
            None if hosts is None or "*" in hosts else frozenset(host_name(h) for h in hosts)
        )
        self.origins = frozenset(o.rstrip("/").lower() for o in settings.allowed_origins)

    def refuse(self, method: str, headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
        """The JSON body of a 403 for this request, or None when it may pass."""
        host = origin = None
        for key, value in headers:
            if key == b"host":
                host = value
            elif key == b"origin":
                origin = value
        if self.hosts is not None:
            name = host_name(host.decode("latin-1")) if host is not None else ""
            if name not in self.hosts:
                return _body(
                    "host",
                    f"this server does not answer for host {name[:100]!r}; allowed: "
                    f"{', '.join(sorted(self.hosts))} (--allowed-hosts)",
                )
        if origin is None or method in SAFE_METHODS:
            return None
        text = origin.decode("latin-1").strip().lower().rstrip("/")
        if text in self.origins:
            return None
        netloc = urlsplit(text).netloc if "://" in text else ""
        if host is not None and netloc and netloc == host.decode("latin-1").strip().lower():
            return None  # the server's own page
        return _body(
            "origin",
            f"cross-origin request from {text[:100]!r} refused; allow it with --allowed-origins",
        )


def _body(field: str, message: str) -> bytes:
    return orjson.dumps({"error": "forbidden", "message": message, "field": field})


__all__ = ["RequestGuard", "host_name"]
