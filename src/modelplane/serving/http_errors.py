"""Mapping errors to HTTP answers in one place: JSON bodies that name the field, never a 500 for
bad input, never a traceback.

Two body shapes, one content: native and control-plane routes answer
``{"error": <code>, "message": …, "field"?: …, "details"?: …}``; Open Inference Protocol routes
(``/v2/…``) answer the v2 shape, whose ``error`` *is* the message (what tritonclient and KServe's
clients show the user), with the code in ``code``: ``{"error": …, "code": <code>, "field"?: …}``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

from modelplane.errors import ModelplaneError, UnavailableError

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("modelplane.serving")


def v2_shape(doc: dict[str, Any]) -> dict[str, Any]:
    """A native error document in the Open Inference Protocol's shape."""
    out = {"error": doc["message"], "code": doc["error"]}
    out.update((k, v) for k, v in doc.items() if k not in ("error", "message"))
    return out


def error_body(exc: ModelplaneError, *, v2: bool = False) -> bytes:
    doc = exc.to_dict()
    return orjson.dumps(v2_shape(doc) if v2 else doc)


def is_v2_path(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


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
        request: Request,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> Response:
        if is_v2_path(request.url.path):
            body = v2_shape(body)
        return Response(
            orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
        )

    @app.exception_handler(ModelplaneError)
    async def _domain(request: Request, exc: ModelplaneError) -> Response:
        headers = None
        if isinstance(exc, UnavailableError):
            headers = {"Retry-After": str(exc.details.get("retry_after", 1))}
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
        return respond(
            request,
            exc.status_code,
            {"error": "http_error", "message": str(exc.detail)},
            dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return respond(
            request,
            500,
            {"error": "internal_error", "message": f"internal error ({type(exc).__name__})"},
        )
