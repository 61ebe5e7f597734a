"""Mapping errors to HTTP answers in one place: JSON bodies that name the field, never a 500 for
bad input, never a traceback — and the OpenAPI declarations of those answers.

Two body shapes, one content: native and control-plane routes answer :class:`ErrorBody`,
``{"error": <code>, "message": …, "field"?: …, "details"?: …}``; Open Inference Protocol routes
(``/v2/…``) answer :class:`V2ErrorBody`, whose ``error`` *is* the message (what tritonclient and
KServe's clients show the user), with the code in ``code``: ``{"error": …, "code": <code>,
"field"?: …}``. Routes declare the statuses they can answer with :func:`error_responses`.

Every error body passes through :func:`bounded`: an echoed name or value (a 10,000-character
endpoint name in "no endpoint named …") is cut to :data:`ECHO_LIMIT` characters and an
ellipsis. 429 and 503 answers carry ``Retry-After``; 405 answers carry ``Allow`` listing every
method the path supports.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, Field

from modelplane.errors import ModelplaneError

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

log = logging.getLogger("modelplane.serving")

ECHO_LIMIT = 200
"""Characters of an echoed name or value an error message keeps (then an ellipsis)."""
MESSAGE_LIMIT = 1000
"""Characters of an error message in all (then an ellipsis)."""
# An echoed value is a run of non-blank characters; a valid name (at most 200 characters) keeps
# its quotes and the punctuation after it, anything longer is cut.
_LONG_RUN = re.compile(rf"\S{{{ECHO_LIMIT + 9},}}")
RETRY_STATUSES = (429, 503)
TRANSPORT_ERRORS = (408, 415, 431, 503)
"""What ``modelplane serve``'s connection layer answers for any request, before any route runs
(:mod:`modelplane.serving.connection`): a request too slow to arrive (408), an encoded body
(415), request line and headers over the limit (431), connections or requests beyond the
server's concurrency (503)."""


class ErrorBody(BaseModel):
    """The error answer of native and control-plane routes."""

    error: str = Field(description="machine-readable code, e.g. not_found, invalid_input")
    message: str = Field(description="what went wrong, for people")
    field: str | None = Field(None, description="the input the error is about")
    details: dict[str, Any] | None = Field(None, description="more facts, e.g. retry_after")


class V2ErrorBody(BaseModel):
    """The error answer of Open Inference Protocol routes (``/v2/…``)."""

    error: str = Field(description="what went wrong, for people (the protocol's error field)")
    code: str = Field(description="machine-readable code, e.g. not_found, schema_mismatch")
    field: str | None = Field(None, description="the input the error is about")
    details: dict[str, Any] | None = Field(None, description="more facts, e.g. retry_after")


_DESCRIPTIONS = {
    400: "Invalid input: a malformed or hostile name, URI, filter or body (``field`` names it)",
    401: "No credentials, or unknown or expired ones",
    403: "The caller's role or scope does not allow this",
    404: "Not found: no such resource (or no such version of it)",
    408: "The request did not arrive within the server's time limit",
    409: "In conflict with the current state: a duplicate, an immutable value, a protected "
    "alias, or stored bytes that fail their recorded checksum",
    413: "The body (or a batch in it) is larger than the limit",
    415: "The body is in a format (or an encoding) this route does not accept",
    422: "The request does not match this document's schema (or the model's signature)",
    429: "Too many requests: retry after ``Retry-After`` seconds",
    431: "The request line and headers are larger than the server's limit",
    500: "The model, or a step of its inference graph, failed",
    503: "Unavailable (overloaded, draining, loading, or the database is unreachable): retry "
    "after ``Retry-After`` seconds",
    504: "The model did not answer within its time limit",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}


def error_responses(*statuses: int, v2: bool = False) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses=`` of a route for these error statuses, each with the error body
    (the Open Inference Protocol's shape with ``v2``) and its headers."""
    model = V2ErrorBody if v2 else ErrorBody
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": model, "description": _DESCRIPTIONS[status]}
        if status in RETRY_STATUSES:
            entry["headers"] = _RETRY_AFTER
        out[status] = entry
    return out


def clip(text: str) -> str:
    """``text`` with each echoed value (a run of more than ``ECHO_LIMIT + 8`` non-blank
    characters) cut to ``ECHO_LIMIT`` characters and an ellipsis, and at most ``MESSAGE_LIMIT``
    characters in all."""
    if len(text) <= ECHO_LIMIT:
        return text
    text = _LONG_RUN.sub(lambda m: m.group()[:ECHO_LIMIT] + "…", text)
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "…"


def bounded(doc: dict[str, Any]) -> dict[str, Any]:
    """An error document whose strings (message, field, details) echo no huge input."""
    out = dict(doc)
    for key, value in doc.items():
        if isinstance(value, str):
            out[key] = clip(value)
        elif key == "details" and isinstance(value, dict):
            out[key] = {k: clip(v) if isinstance(v, str) else v for k, v in value.items()}
    return out


def v2_shape(doc: dict[str, Any]) -> dict[str, Any]:
    """A native error document in the Open Inference Protocol's shape."""
    out = {"error": doc["message"], "code": doc["error"]}
    out.update((k, v) for k, v in doc.items() if k not in ("error", "message"))
    return out


def render(doc: dict[str, Any], *, v2: bool = False) -> bytes:
    """The bytes of an error body: bounded, in the protocol's shape."""
    doc = bounded(doc)
    return orjson.dumps(v2_shape(doc) if v2 else doc)


def error_body(exc: ModelplaneError, *, v2: bool = False) -> bytes:
    return render(exc.to_dict(), v2=v2)


def is_v2_path(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def retry_after(exc: ModelplaneError) -> str | None:
    """The ``Retry-After`` of a 429 or 503 answer (``details.retry_after``, else 1 s)."""
    if exc.http_status not in RETRY_STATUSES:
        return None
    return str(exc.details.get("retry_after", 1))


def error_headers(exc: ModelplaneError) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", b"application/json")]
    retry = retry_after(exc)
    if retry is not None:
        headers.append((b"retry-after", retry.encode()))
    return headers


def allowed_methods(request: Request) -> str | None:
    """``Allow`` for a 405: every method of every route whose path matches (FastAPI declares
    one route per method, so the route that refused knows only its own)."""
    from starlette.routing import Match

    routes: Iterable[Any] = request.app.router.routes
    try:  # FastAPI ≥ 0.13x nests included routers; this walks them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI: the routes are flat
        pass
    else:
        routes = iter_route_contexts(request.app.router.routes)
    methods: set[str] = set()
    for route in routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route_methods
    return ", ".join(sorted(methods)) or None


def install_handlers(app: FastAPI) -> None:
    """Exception handlers for a FastAPI app: ModelplaneError, request validation, the rest."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response
    from starlette.exceptions import HTTPException

    def respond(
        request: Request,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> Response:
        return Response(
            render(body, v2=is_v2_path(request.url.path)),
            status_code=status,
            media_type="application/json",
            headers=headers,
        )

    @app.exception_handler(ModelplaneError)
    async def _domain(request: Request, exc: ModelplaneError) -> Response:
        retry = retry_after(exc)
        headers = None if retry is None else {"Retry-After": retry}
        return respond(request, exc.http_status, exc.to_dict(), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or "body"
        return respond(
            request,
            422,
            {
                "error": "invalid_request",
                "message": f"{field}: {first.get('msg', 'invalid')}",
                "field": field,
                "details": {"errors": len(errors)},
            },
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allow = allowed_methods(request)
            if allow is not None:
                headers["Allow"] = allow
        return respond(
            request,
            exc.status_code,
            {"error": "http_error", "message": str(exc.detail)},
            headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return respond(
            request,
            500,
            {"error": "internal_error", "message": f"internal error ({type(exc).__name__})"},
        )
