"""What every control-plane route module shares: the workspace dependency, permissions, strict
request bodies, JSON answers and bounded streaming of uploaded bodies to local files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import Message

from modelplane.context import Workspace
from modelplane.errors import PayloadTooLargeError
from modelplane.serving.permissions import Permission, require

DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024
"""Uploads (datasets, model files) larger than this answer 413; ``app.state.max_upload_bytes``
overrides it."""
JSON_BODY_LIMIT = 1024 * 1024
"""Bytes of an ordinary JSON request body; larger bodies answer 413 (FastAPI's route limit)."""
MAX_KEY = 250
MAX_VALUE = 6000
MAX_ENTRIES = 1000
_FLUSH = 1 << 20

Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Value = Annotated[str, Field(max_length=MAX_VALUE)] | int | float | bool
ScalarMap = Annotated[dict[Key, Value], Field(max_length=MAX_ENTRIES)]
"""A bounded mapping of name → scalar (params, tags)."""


F = TypeVar("F", bound=Callable[..., Any])


class Routes:
    """Route declarations of one module, added to the API router by ``build_router``.

    The decorators take ``APIRouter.add_api_route``'s keyword arguments. Adding the routes
    themselves (rather than including a sub-router) keeps every route a plain ``APIRoute`` of the
    returned router, with its own permission dependency.
    """

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self._entries: list[tuple[str, Callable[..., Any], str, dict[str, Any]]] = []

    def _route(self, method: str, path: str, kwargs: dict[str, Any]) -> Callable[[F], F]:
        def declare(endpoint: F) -> F:
            self._entries.append((path, endpoint, method, kwargs))
            return endpoint

        return declare

    def get(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self._route("GET", path, kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self._route("POST", path, kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self._route("PUT", path, kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self._route("PATCH", path, kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self._route("DELETE", path, kwargs)

    def add_to(self, router: APIRouter) -> None:
        for path, endpoint, method, kwargs in self._entries:
            router.add_api_route(path, endpoint, methods=[method], tags=[self.tag], **kwargs)


class Body(BaseModel):
    """Base of request bodies: unknown fields are refused (422)."""

    model_config = ConfigDict(extra="forbid")


def allow(permission: Permission) -> list[Any]:
    """The ``dependencies=`` of a route that needs ``permission``."""
    return [Depends(require(permission))]


async def _workspace(request: Request) -> Workspace:
    """The workspace acting as the caller: the principal the route's permission check found
    (``request.state.principal``); with open access (no authentication), the server's own."""
    ws = cast(Workspace, request.app.state.workspace)
    principal = getattr(request.state, "principal", None)
    if principal is None or principal.anonymous:
        return ws
    return ws.acting_as(principal.name)


WorkspaceDep = Annotated[Workspace, Depends(_workspace)]


def json_response(content: Any, status_code: int = 200) -> Response:
    """A JSON answer (NaN and infinities become ``null``; numpy scalars are plain numbers)."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status_code,
        media_type="application/json",
    )


def max_upload_bytes(request: Request) -> int:
    limit = getattr(request.app.state, "max_upload_bytes", None)
    return DEFAULT_MAX_UPLOAD_BYTES if limit is None else int(limit)


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the request body is larger than the limit of {limit} bytes", field="body", limit=limit
    )


def check_content_length(request: Request, limit: int) -> None:
    """Refuse a body whose declared length is over ``limit`` before reading any of it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)


def limited_request(request: Request, limit: int) -> Request:
    """``request`` whose body reads raise PayloadTooLargeError once more than ``limit`` bytes
    arrived (chunked bodies have no Content-Length to check up front)."""
    check_content_length(request, limit)
    received = 0
    receive = request.receive

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)
        return message

    return Request(request.scope, limited_receive)


async def stream_to_file(request: Request, suffix: str) -> Path:
    """Write the request body to a new temporary file (bounded by the upload limit).

    The caller deletes the file. Writes happen in the thread pool, 1 MiB at a time.
    """
    limited = limited_request(request, max_upload_bytes(request))
    fd, name = tempfile.mkstemp(prefix="mp-upload-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            buffer = bytearray()
            async for chunk in _chunks(limited):
                buffer += chunk
                if len(buffer) >= _FLUSH:
                    await run_in_threadpool(out.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await run_in_threadpool(out.write, bytes(buffer))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk
