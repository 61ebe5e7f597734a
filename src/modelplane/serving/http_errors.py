"""Mapping errors to HTTP answers in one place: JSON bodies that name the field, never a 500 for
bad input, never a traceback."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

from modelplane.errors import ModelplaneError, UnavailableError

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("modelplane.serving")


def error_body(exc: ModelplaneError) -> bytes:
    return orjson.dumps(exc.to_dict())


def error_headers(exc: ModelplaneError) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", b"application/json")]
    if isinstance(exc, UnavailableError):
        headers.append((b"retry-after", str(exc.details.get("retry_after", 1)).encode()))
    return headers


def install_handlers(app: FastAPI) -> None:
    """Exception handlers for a FastAPI app: ModelplaneError, request validation, the rest."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response
    from starlette.exceptions import HTTPException

    def respond(
        status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Response:
        return Response(
            orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
        )

    @app.exception_handler(ModelplaneError)
    async def _domain(request: Request, exc: ModelplaneError) -> Response:
        headers = None
        if isinstance(exc, UnavailableError):
            headers = {"Retry-After": str(exc.details.get("retry_after", 1))}
        return respond(exc.http_status, exc.to_dict(), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or "body"
        return respond(
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
        return respond(
            exc.status_code,
            {"error": "http_error", "message": str(exc.detail)},
            dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return respond(
            500, {"error": "internal_error", "message": f"internal error ({type(exc).__name__})"}
        )
