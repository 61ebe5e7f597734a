"""Who is looking at the dashboard, and the headers every dashboard answer carries.

Browsers cannot send an ``Authorization`` header when they navigate, so a token given to the
sign-in form (``POST /ui/login``) is kept in a cookie: ``HttpOnly`` (no script reads it),
``SameSite=Strict`` (no other site's page sends it), ``Path=/ui`` (the browser sends it nowhere
else), ``Secure`` over TLS. The server reads the cookie only in :func:`require_page`, the
permission check of ``GET /ui/…`` routes: the control plane and the data plane never look at it,
so the cookie cannot call the API or predict. A request with an ``Authorization`` header is
checked on that header alone, as everywhere else.

A page asked for by a browser (``Accept: text/html``) without a valid token is redirected to the
sign-in form; any other client gets the JSON 401 the API answers. :class:`PageRoute` renders the
errors of pages (404 for an unknown name, 400 for a bad one, 403) as HTML and adds
:data:`SECURITY_HEADERS` to every answer of a ``/ui`` route.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from modelplane.errors import AuthenticationError, ModelplaneError
from modelplane.serving.http_errors import retry_after
from modelplane.serving.permissions import (
    PERMISSION_ATTR,
    Permission,
    Principal,
    client_address,
)

COOKIE = "modelplane_ui"
COOKIE_PATH = "/ui"
LOGIN = "/ui/login"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
"""On every answer of a ``/ui`` route: scripts only from the server's own files (no inline
script), no framing, no referrer to other sites."""


def wants_html(request: Request) -> bool:
    """A browser navigating (not a script or an API client)."""
    return "text/html" in request.headers.get("accept", "")


def credentials(request: Request) -> str | None:
    """The ``Authorization`` value of a dashboard request: the header if sent, else the sign-in
    cookie, for GET and HEAD only."""
    header = request.headers.get("authorization")
    if header is not None or request.method not in ("GET", "HEAD"):
        return header
    token = request.cookies.get(COOKIE)
    return f"Bearer {token}" if token else None


def require_page(permission: Permission) -> Callable[..., Principal]:
    """The permission dependency of a ``/ui`` route (like
    :func:`~modelplane.serving.permissions.require`, plus the sign-in cookie)."""

    def dependency(request: Request) -> Principal:
        server = request.app.state.server
        principal: Principal = server.authenticate(
            credentials(request), client_address(request.scope)
        )
        server.authorize(principal, permission, None, None)
        request.state.principal = principal
        return principal

    setattr(dependency, PERMISSION_ATTR, permission)
    return dependency


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path of this server, never another site."""
    if (
        not target
        or not target.startswith("/ui")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 32 for c in target)
    ):
        return "/ui"
    return target


def login_redirect(request: Request) -> Response:
    """To the sign-in form, coming back here afterwards; a stale cookie is dropped."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"{LOGIN}?next={quote(safe_next(here), safe='/')}", 303)
    if COOKIE in request.cookies:
        clear_cookie(response)
    return response


def set_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


ErrorPage = Callable[[Request, int, str], Response]


class PageRoute(APIRoute):
    """A ``/ui`` route: security headers on every answer; for a browser, errors as pages (a
    missing or bad token: the sign-in form)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await handle(request)
            except AuthenticationError:
                if not wants_html(request):
                    raise
                response = login_redirect(request)
            except (ModelplaneError, RequestValidationError) as exc:
                if not wants_html(request):
                    raise
                response = _error_page(request, exc)
            response.headers.update(SECURITY_HEADERS)
            return response

        return handler


def _error_page(request: Request, exc: ModelplaneError | RequestValidationError) -> Response:
    if isinstance(exc, ModelplaneError):
        status, message = exc.http_status, exc.message
    else:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("path", "query"))
        status, message = 400, f"{where or 'request'}: {first.get('msg', 'invalid')}"
    render: ErrorPage = request.app.state.ui.error_page
    response = render(request, status, message)
    retry = retry_after(exc) if isinstance(exc, ModelplaneError) else None
    if retry is not None:
        response.headers["Retry-After"] = retry
    return response


__all__ = [
    "COOKIE",
    "CSP",
    "SECURITY_HEADERS",
    "PageRoute",
    "clear_cookie",
    "credentials",
    "require_page",
    "safe_next",
    "set_cookie",
    "wants_html",
]
