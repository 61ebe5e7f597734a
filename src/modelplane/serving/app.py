"""Building the server application: ``create_app`` is the uvicorn factory.

The ASGI app is :class:`~modelplane.serving.fastpath.FastPath` in front of FastAPI: the fast
path answers the data plane and the probes from raw ASGI messages; FastAPI serves everything
else (the control plane under ``/api/v1``, v2 metadata, ``/metrics``, ``/docs``,
``/openapi.json``, the dashboard under ``/ui``) and declares the fast routes too, so they appear
in the OpenAPI document.
``modelplane serve`` runs :func:`create_app` in each worker; the settings it was started with
arrive in :class:`~modelplane.config.ServerSettings`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from modelplane import __version__
from modelplane.config import ServerSettings
from modelplane.serving.auth import TokenAuthorizer
from modelplane.serving.fastpath import FastPath
from modelplane.serving.permissions import OPEN_PATHS, AllowAll, Authorizer, Permission, require
from modelplane.serving.server import Server, check_bind, tokens_required

if TYPE_CHECKING:
    from modelplane.context import Workspace
    from modelplane.inference.sinks import PredictionSink

log = logging.getLogger("modelplane.serving")


def _install_drain(server: Server) -> None:
    """On SIGTERM: readiness goes 503 at once; after ``drain_seconds`` the ASGI server's own
    handler starts its graceful shutdown (stop accepting, let in-flight requests finish)."""
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return  # not under a server that handles SIGTERM (e.g. an in-process test client)
    loop = asyncio.get_running_loop()

    def on_sigterm(signum: int, frame: Any) -> None:
        if server.draining:
            previous(signum, frame)
            return
        server.draining = True
        log.warning("SIGTERM: draining for %.1f s before shutdown", server.drain_seconds)
        loop.call_soon_threadsafe(loop.call_later, server.drain_seconds, previous, signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)


def build_api(server: Server) -> FastAPI:
    """The FastAPI app of ``server``: error handlers, the declared data plane, the control
    plane; its lifespan starts and stops the server."""
    from modelplane.serving.api import build_root_router, build_router
    from modelplane.serving.data_routes import build_data_router
    from modelplane.serving.http_errors import install_handlers
    from modelplane.serving.ui import mount_ui

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await server.start()
        _install_drain(server)
        yield
        await server.stop()

    api = FastAPI(
        title="modelplane",
        version=__version__,
        lifespan=lifespan,
        summary="ML platform server: Open Inference Protocol v2, native JSON, control plane.",
        openapi_url=None,  # declared below, behind a permission like every other route
        docs_url=None,
        redoc_url=None,
    )
    api.state.workspace = server.ws
    api.state.server = server
    install_handlers(api)
    api.include_router(build_data_router(server))
    api.include_router(build_router())
    api.include_router(build_root_router())
    _declare_docs(api)
    mount_ui(api)
    return api


def _declare_docs(api: FastAPI) -> None:
    """``/openapi.json``, ``/docs`` and ``/redoc`` for viewers (FastAPI's own would be open to
    anyone, and its pages load their scripts from a CDN; these work offline)."""
    from fastapi import Depends
    from fastapi.responses import JSONResponse

    from modelplane.serving.api_docs import declare_docs

    viewer = [Depends(require(Permission.VIEWER))]

    @api.get("/openapi.json", include_in_schema=False, dependencies=viewer)
    def openapi() -> JSONResponse:
        return JSONResponse(_with_bearer(api.openapi()))

    declare_docs(api, openapi_url="/openapi.json")


def _with_bearer(document: dict[str, Any]) -> dict[str, Any]:
    """Declare bearer tokens in the OpenAPI document: every operation needs one, except the
    open probes (clients and conformance checkers then know where a token goes)."""
    if "bearer" in document.get("components", {}).get("securitySchemes", {}):
        return document
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token: modelplane token create --role ROLE",
    }
    document["security"] = [{"bearer": []}]
    for path in OPEN_PATHS:
        for operation in document.get("paths", {}).get(path, {}).values():
            operation["security"] = []
    return document


def authorizer_for(workspace: Workspace, settings: ServerSettings) -> Authorizer:
    """The authorizer ``MODELPLANE_AUTH`` asks for at this bind address: tokens (required, or
    optional on loopback in ``auto`` mode) or, with ``off``, none."""
    required = tokens_required(settings.host, workspace.settings.auth, settings.insecure)
    if required is None:
        return AllowAll()
    return TokenAuthorizer(workspace.tokens, required=required)


def create_app(
    workspace: Workspace | None = None,
    *,
    authorizer: Authorizer | None = None,
    settings: ServerSettings | None = None,
    sinks: Sequence[PredictionSink] = (),
    poll_interval: float | None = None,
    drain_seconds: float | None = None,
) -> FastPath:
    """The ASGI application (uvicorn factory). Without arguments, the workspace comes from the
    environment (``MODELPLANE_*``) and the server settings from what ``modelplane serve`` left
    for its workers (:meth:`ServerSettings.from_env`). ``poll_interval`` and ``drain_seconds``
    override those settings (tests)."""
    if workspace is None:
        from modelplane.context import Workspace

        workspace = Workspace()
    if settings is None:
        settings = ServerSettings.from_env()
    if poll_interval is not None:
        settings = replace(settings, poll_interval=poll_interval)
    if drain_seconds is not None:
        settings = replace(settings, drain_seconds=drain_seconds)
    if authorizer is None:
        authorizer = authorizer_for(workspace, settings)
    elif isinstance(authorizer, AllowAll):
        check_bind(settings.host, "off", settings.insecure)
    server = Server(workspace, authorizer=authorizer, settings=settings, sinks=sinks)
    return FastPath(server, build_api(server))


__all__ = ["FastPath", "Server", "build_api", "create_app"]
