"""The control plane's route class: what every ``/api/v1`` request body must be before FastAPI
reads it (:mod:`modelplane.serving.media` states the rules).

* a compressed body (any Content-Encoding but ``identity``) is refused on every route: 415;
* a route that reads a JSON body takes ``application/json`` (or ``application/*+json``) only —
  no Content-Type, ``text/plain``, a form: 415 naming ``content-type``. A browser cannot send
  such a body cross-site without a CORS preflight, which this server never grants;
* that body may nest at most :data:`~modelplane.serving.media.MAX_JSON_DEPTH` levels (400 naming
  the top-level field). It is parsed here, once, and FastAPI validates the parsed document.

Upload routes (datasets, model files) read their bodies themselves and check their own types.
A client that goes away mid-body (or is cut off as too slow, :mod:`modelplane.serving.
connection`) ends its request quietly: no error is logged for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from modelplane.errors import InvalidInputError, UnsupportedMediaError
from modelplane.serving.media import (
    MAX_JSON_DEPTH,
    check_encoding,
    check_json_depth,
    is_json,
    media_type,
    refuse_media,
)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class GuardedRoute(APIRoute):
    """An ``APIRoute`` whose handler checks the body's encoding, type and depth first."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        takes_json = self.body_field is not None

        async def guarded(request: Request) -> Response:
            try:
                await check_body(request, takes_json)
                return await handler(request)
            except ClientDisconnect:  # gone mid-body (e.g. cut off as too slow): no one to tell
                return Response(status_code=400)

        return guarded


async def check_body(request: Request, takes_json: bool) -> None:
    """Refuse a compressed body, and for a JSON route a body of another type or nested too
    deeply; leave the parsed document where FastAPI reads it (``Request.json``)."""
    encoding = request.headers.get("content-encoding")
    if encoding is not None:
        check_encoding(encoding.encode("latin-1"))
    if not takes_json:
        return
    body = await request.body()  # the route's body size limit applies
    if not body:
        return  # FastAPI names a missing required body
    content_type = request.headers.get("content-type")
    if content_type is None:
        raise UnsupportedMediaError(
            "the body has no Content-Type: send it as application/json", field="content-type"
        )
    if not is_json(media_type(content_type.encode("latin-1"))):
        raise refuse_media(content_type.encode("latin-1"), "application/json")
    try:
        doc = json.loads(body)
    except ValueError:
        return  # not JSON: FastAPI answers 422 naming where it broke
    except RecursionError:
        raise InvalidInputError(
            f"the body nests JSON deeper than {MAX_JSON_DEPTH} levels", field="body"
        ) from None
    check_json_depth(body, doc)
    request._json = doc  # what Request.json() returns: FastAPI does not parse it again


__all__ = ["GuardedRoute", "check_body"]
