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
from fastapi.routing import APIRoute
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
)
from starlette.concurrency import run_in_threadpool
from starlette.types import Message

from modelplane.context import Workspace
from modelplane.core.names import MAX_NAME_LEN, NAME_PATTERN, printable_pattern
from modelplane.errors import PayloadTooLargeError
from modelplane.serving.http_errors import TRANSPORT_ERRORS, error_responses
from modelplane.serving.permissions import Permission, client_address, require

DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024
"""Uploads (datasets, model files) larger than this answer 413; ``app.state.max_upload_bytes``
overrides it."""
JSON_BODY_LIMIT = 1024 * 1024
"""Bytes of an ordinary JSON request body; larger bodies answer 413 (FastAPI's route limit)."""
MAX_KEY = 250
MAX_VALUE = 6000
MAX_ENTRIES = 1000
_FLUSH = 1 << 20

MAX_SAFE_INT = 2**53
"""Bound of counters and ids in JSON bodies: every client (JavaScript too) holds them exactly,
and so does a float, so a schema's bound means the same to every validator."""


def printable(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of a field :func:`~modelplane.core.names.check_key` checks: its
    rule as a pattern (the server answers 400 for a control character; the schema says so)."""
    schema["pattern"] = printable_pattern()


def printable_keys(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of a mapping whose keys :func:`~modelplane.core.names.check_key`
    checks (params, tags, metrics)."""
    schema.setdefault("propertyNames", {})["pattern"] = printable_pattern()


def _integral(value: Any) -> Any:
    # JSON Schema's integer includes 3.0; the strict int after this still refuses 3.5, "3", true
    return int(value) if type(value) is float and value.is_integer() else value


INTEGRAL = BeforeValidator(_integral)
"""After a strict int's ``Field`` (its bounds stay in the schema): an integer of a JSON body is
a JSON integer or a number without a fraction, as JSON Schema's ``integer`` says."""
Id = Annotated[int, Field(strict=True, ge=1, le=MAX_SAFE_INT), INTEGRAL]
"""A row id in a JSON body (a dataset version's, for lineage)."""
Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY, json_schema_extra=printable)]
Name = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME_LEN, json_schema_extra={"pattern": NAME_PATTERN}),
]
"""An entity name (experiment, model, dataset): :func:`~modelplane.core.names.check_name`."""
MapKey = Annotated[str, Field(min_length=1, max_length=MAX_KEY)]
"""A key of a mapping (its rule is the mapping's :func:`printable_keys`)."""
# strict members: a string is never read as a number (a 7,000-digit string is not 0)
Value = (
    Annotated[str, Field(max_length=MAX_VALUE, strict=True)] | StrictInt | StrictFloat | StrictBool
)
ScalarMap = Annotated[
    dict[MapKey, Value], Field(max_length=MAX_ENTRIES, json_schema_extra=printable_keys)
]
"""A bounded mapping of name → scalar (params, tags)."""


F = TypeVar("F", bound=Callable[..., Any])

CONTROL_PLANE_ERRORS = (*TRANSPORT_ERRORS, 401, 403, 429)
"""What every control-plane route can answer: the connection layer's refusals (408, 415, 431,
503), its permission check (401, 403, 429), a compressed body (415 again:
:mod:`~modelplane.serving.api.routing`) and the metadata store (503 while the database is
unreachable). Routes add theirs with ``errors=``."""


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
        """Add the routes. Each declares, with the error body, :data:`CONTROL_PLANE_ERRORS`,
        422 when FastAPI validates any of its parameters or its body, and its own ``errors=``."""
        for path, endpoint, method, kwargs in self._entries:
            options = dict(kwargs)
            errors = {*CONTROL_PLANE_ERRORS, *options.pop("errors", ())}
            if _validates(path, endpoint):
                errors.add(422)
            options["responses"] = {
                **error_responses(*sorted(errors)),
                **options.get("responses", {}),
            }
            router.add_api_route(path, endpoint, methods=[method], tags=[self.tag], **options)


def _validates(path: str, endpoint: Callable[..., Any]) -> bool:
    """Whether FastAPI validates a path, query, header or cookie parameter or a body of the
    route (so it can answer 422)."""
    pending = [APIRoute(path, endpoint).dependant]
    while pending:
        dependant = pending.pop()
        if (
            dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or dependant.body_params
        ):
            return True
        pending.extend(dependant.dependencies)
    return False


class Body(BaseModel):
    """Base of request bodies: unknown fields are refused (422)."""

    model_config = ConfigDict(extra="forbid")


def allow(permission: Permission) -> list[Any]:
    """The ``dependencies=`` of a route that needs ``permission``."""
    return [Depends(require(permission))]


async def _workspace(request: Request) -> Workspace:
    """The workspace acting as the caller: the principal the route's permission check found
    (``request.state.principal``: a token's name and id); a caller without a token (open
    access on loopback) acts as ``anonymous@<address>``, never as the server's own user."""
    ws = cast(Workspace, request.app.state.workspace)
    principal = getattr(request.state, "principal", None)
    if principal is None or principal.anonymous:
        return ws.acting_as(f"anonymous@{client_address(request.scope) or 'unknown'}", role=None)
    return ws.acting_as(principal.name, role=principal.role)


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
