"""The ASGI entry point: prediction routes and probes answered straight from ASGI messages.

Data-plane requests (the routes of :data:`modelplane.serving.routes.DATA_ROUTES`) go to
:meth:`Server.handle` — no routing tables, middleware stacks or pydantic models per request; the
body is read by the pipeline's ``receive`` stage, after the caller is authenticated and the
endpoint (with its size limit) resolved. Everything else — the control plane under ``/api/v1``,
v2 metadata, ``/metrics``, ``/docs`` — is FastAPI's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from modelplane.errors import InvalidInputError, ModelplaneError
from modelplane.serving.body import ClientDisconnected
from modelplane.serving.origin import RequestGuard
from modelplane.serving.permissions import client_address
from modelplane.serving.protocols.base import JSON
from modelplane.serving.routes import match
from modelplane.serving.server import Server

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def header_length(headers: Any) -> int | None:
    """The v2 binary extension's ``Inference-Header-Content-Length``, if sent."""
    for key, value in headers:
        if key == b"inference-header-content-length":
            try:
                return int(value)
            except ValueError:
                raise InvalidInputError(
                    "Inference-Header-Content-Length must be an integer",
                    field="inference-header-content-length",
                ) from None
    return None


class FastPath:
    """ASGI app: data-plane routes and probes, everything else to FastAPI."""

    def __init__(self, server: Server, api: Any) -> None:
        self.server = server
        self.api = api
        self.guard = RequestGuard(server.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            path = scope["path"]
            refusal = self.guard.refuse(method, scope["headers"])
            if refusal is not None:
                await _respond(send, 403, refusal, JSON)
                return
            if method == "POST":
                found = match(method, path)
                if found is not None:
                    await self._predict(found, scope, receive, send)
                    return
            elif method == "GET" and path == "/v2/health/live":
                await _respond(send, 200, b'{"live":true}', JSON)
                return
            elif method == "GET" and path == "/v2/health/ready":
                ready = self.server.ready
                await _respond(
                    send,
                    200 if ready else 503,
                    b'{"ready":true}' if ready else orjson.dumps(self.server.readiness()),
                    JSON,
                )
                return
        await self.api(scope, receive, send)

    async def _predict(self, found: Any, scope: Scope, receive: Receive, send: Send) -> None:
        route, name, version = found
        headers = scope["headers"]
        try:
            length = header_length(headers) if route.protocol.v2_errors else None
        except ModelplaneError as exc:
            self.server.count_error(name, "-", route.protocol.name, exc)
            body, answer_headers = route.protocol.error(exc)
            await _respond(send, exc.http_status, body, answer_headers)
            return
        try:
            status, out, answer_headers = await self.server.handle(
                route,
                name,
                version,
                headers,
                reader=receive,
                header_length=length,
                client=client_address(scope),
            )
        except ClientDisconnected:
            return
        await _respond(send, status, out, answer_headers)


__all__ = ["FastPath"]
