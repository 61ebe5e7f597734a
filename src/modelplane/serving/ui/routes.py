"""The dashboard's routes under ``/ui``: read-only pages, their assets, an endpoint's live
numbers (JSON), and sign-in/sign-out.

Every route but sign-in and sign-out (:data:`~modelplane.serving.permissions.SIGN_IN_PATHS`)
declares the viewer permission (:func:`~modelplane.serving.ui.session.require_page`); names in
paths are checked like the API checks them (400 for a bad one, 404 for an unknown one).
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from modelplane.core.names import MAX_NAME_LEN, NAME_PATTERN, check_name
from modelplane.errors import (
    AuthenticationError,
    ModelplaneError,
    NotFoundError,
    PermissionDeniedError,
)
from modelplane.serving.api.common import Routes, WorkspaceDep, json_response, limited_request
from modelplane.serving.api.endpoints import EndpointName
from modelplane.serving.api.experiments import RunId
from modelplane.serving.api.models import ModelName, Version
from modelplane.serving.permissions import Permission, client_address
from modelplane.serving.server import Server
from modelplane.serving.ui import views
from modelplane.serving.ui.live import live_numbers
from modelplane.serving.ui.pages import STATIC, Pages
from modelplane.serving.ui.session import (
    PageRoute,
    clear_cookie,
    require_page,
    safe_next,
    set_cookie,
)

PREFIX = "/ui"
LOGIN_BODY_LIMIT = 16 * 1024
MAX_TOKEN = 4096
ASSET_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
ASSET_CACHE = "private, max-age=86400"
"""Asset URLs carry the assets' hash (``?v=…``): a changed file is a new URL."""

routes = Routes("ui")
VIEWER = [Depends(require_page(Permission.VIEWER))]

ExperimentName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_NAME_LEN,
        description="experiment name",
        json_schema_extra={"pattern": NAME_PATTERN},
    ),
]


def _pages(request: Request) -> Pages:
    return cast(Pages, request.app.state.ui)


def _server(request: Request) -> Server:
    return cast(Server, request.app.state.server)


# -- pages --------------------------------------------------------------------------------------


@routes.get("", summary="Dashboard: overview", dependencies=VIEWER)
def overview(request: Request, ws: WorkspaceDep) -> Response:
    return _pages(request).render(request, "overview.html", **views.overview(ws))


@routes.get("/experiments", summary="Dashboard: experiments", dependencies=VIEWER)
def experiments(request: Request, ws: WorkspaceDep) -> Response:
    return _pages(request).render(request, "experiments.html", **views.experiments(ws))


@routes.get("/experiments/{name}", summary="Dashboard: an experiment's runs", dependencies=VIEWER)
def experiment(name: ExperimentName, request: Request, ws: WorkspaceDep) -> Response:
    check_name(name, "experiment name")
    return _pages(request).render(request, "experiment.html", **views.experiment(ws, name))


@routes.get("/runs/{run_id}", summary="Dashboard: a run", dependencies=VIEWER)
def run(run_id: RunId, request: Request, ws: WorkspaceDep) -> Response:
    return _pages(request).render(request, "run.html", **views.run(ws, run_id))


@routes.get("/compare", summary="Dashboard: runs side by side", dependencies=VIEWER)
def compare(
    request: Request,
    ws: WorkspaceDep,
    runs: Annotated[list[str], Query(max_length=100, default_factory=list)],
) -> Response:
    ids = views.run_ids(runs)
    return _pages(request).render(request, "compare.html", **views.compare(ws, ids))


@routes.get("/models", summary="Dashboard: models", dependencies=VIEWER)
def models(request: Request, ws: WorkspaceDep) -> Response:
    return _pages(request).render(request, "models.html", **views.models(ws))


@routes.get("/models/{name}", summary="Dashboard: a model", dependencies=VIEWER)
def model(name: ModelName, request: Request, ws: WorkspaceDep) -> Response:
    return _pages(request).render(request, "model.html", **views.model(ws, name))


@routes.get(
    "/models/{name}/versions/{version}", summary="Dashboard: a model version", dependencies=VIEWER
)
def version(name: ModelName, version: Version, request: Request, ws: WorkspaceDep) -> Response:
    return _pages(request).render(request, "version.html", **views.version(ws, name, version))


@routes.get("/endpoints", summary="Dashboard: endpoints", dependencies=VIEWER)
def endpoints(request: Request, ws: WorkspaceDep) -> Response:
    states = {name: s.state for name, s in _server(request).manager.status.items()}
    return _pages(request).render(request, "endpoints.html", **views.endpoints(ws, states))


@routes.get("/endpoints/{endpoint}", summary="Dashboard: an endpoint", dependencies=VIEWER)
def endpoint(endpoint: EndpointName, request: Request, ws: WorkspaceDep) -> Response:
    context = views.endpoint(ws, endpoint)
    live = live_numbers(_server(request), endpoint)
    return _pages(request).render(request, "endpoint.html", live=live, **context)


@routes.get(
    "/endpoints/{endpoint}/live", summary="An endpoint's live numbers (JSON)", dependencies=VIEWER
)
def endpoint_live(endpoint: EndpointName, request: Request, ws: WorkspaceDep) -> Response:
    ws.endpoints.get(endpoint)  # 400 for a bad name, 404 for an unknown one
    return json_response(live_numbers(_server(request), endpoint))


@routes.get("/audit", summary="Dashboard: the audit log", dependencies=VIEWER)
def audit(
    request: Request,
    ws: WorkspaceDep,
    target: Annotated[str | None, Query(max_length=500)] = None,
    actor: Annotated[str | None, Query(max_length=500)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> Response:
    pages = _pages(request)
    context = views.audit(ws, target or None, actor or None, before)
    verification = pages.verification.get(ws)
    return pages.render(request, "audit.html", verification=verification, **context)


@routes.get("/static/{path:path}", summary="Dashboard assets", dependencies=VIEWER)
def static(path: str) -> Response:
    target = (STATIC / path).resolve()
    kind = ASSET_TYPES.get(target.suffix)
    if kind is None or not target.is_relative_to(STATIC) or not target.is_file():
        raise NotFoundError(f"no asset {path[:100]!r}", field="path")
    return Response(target.read_bytes(), media_type=kind, headers={"Cache-Control": ASSET_CACHE})


# -- signing in and out (open: SIGN_IN_PATHS) ---------------------------------------------------


def _login_page(
    request: Request, status: int = 200, *, next_: str = "/ui", error: str | None = None
) -> Response:
    server = _server(request)
    required = bool(getattr(server.authorizer, "required", False))
    return _pages(request).render(
        request,
        "login.html",
        status,
        next=next_,
        error=error,
        open_access=server.open_access,
        required=required,
    )


@routes.get("/login", summary="Dashboard: the sign-in form")
def login_form(
    request: Request, next: Annotated[str | None, Query(max_length=2000)] = None
) -> Response:
    return _login_page(request, next_=safe_next(next))


@routes.post("/login", summary="Dashboard: sign in with an API token")
async def login(request: Request) -> Response:
    limited = limited_request(request, LOGIN_BODY_LIMIT)
    async with limited.form(max_files=0, max_fields=4) as form:
        token = form.get("token")
        target = form.get("next")
    next_ = safe_next(target if isinstance(target, str) else None)
    if not isinstance(token, str) or not token.strip():
        return _login_page(request, 400, next_=next_, error="Enter an API token.")
    if len(token) > MAX_TOKEN:
        return _login_page(request, 400, next_=next_, error="That is not an API token.")
    server = _server(request)
    if server.open_access:  # tokens are not looked at: nothing to remember
        return RedirectResponse(next_, 303)
    client = client_address(request.scope)
    try:
        principal = await run_in_threadpool(server.authenticate, f"Bearer {token.strip()}", client)
        server.authorize(principal, Permission.VIEWER, None, None, client)
    except (AuthenticationError, PermissionDeniedError) as exc:
        return _login_page(
            request, exc.http_status, next_=next_, error=f"Not signed in: {exc.message}"
        )
    except ModelplaneError as exc:  # rate limited
        page = _login_page(request, exc.http_status, next_=next_, error=exc.message)
        page.headers["Retry-After"] = str(exc.details.get("retry_after", 1))
        return page
    response = RedirectResponse(next_, 303)
    set_cookie(response, request, token.strip())
    return response


@routes.post("/logout", summary="Dashboard: sign out")
def logout() -> Response:
    response = RedirectResponse("/ui/login", 303)
    clear_cookie(response)
    return response


@routes.get("/{path:path}", summary="Dashboard: no such page", dependencies=VIEWER)
def unknown(path: str) -> Response:
    raise NotFoundError(f"no dashboard page /ui/{path[:100]}", field="path")


def build_ui_router() -> APIRouter:
    """The ``/ui`` routes (not in the OpenAPI document: pages, not API)."""
    router = APIRouter(prefix=PREFIX, route_class=PageRoute, include_in_schema=False)
    routes.add_to(router)
    return router


__all__ = ["PREFIX", "build_ui_router"]
