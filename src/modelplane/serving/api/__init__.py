"""The control-plane REST API under ``/api/v1``: everything the SDK does, for remote clients.

One module per area (experiments and runs, datasets, models, endpoints, audit). Every route
declares its permission (``dependencies=[Depends(require(...))]``), reads the workspace from
``request.app.state.workspace``, refuses unknown fields and oversized bodies, and answers the
records' ``to_dict()`` JSON; errors are modelplane errors mapped by
:func:`modelplane.serving.http_errors.install_handlers`.
"""

from __future__ import annotations

from fastapi import APIRouter

PREFIX = "/api/v1"


def build_router() -> APIRouter:
    """A router with every control-plane route, mounted under ``/api/v1``."""
    from modelplane.serving.api import (
        audit,
        datasets,
        endpoints,
        experiments,
        models,
        run_artifacts,
        tokens,
    )
    from modelplane.serving.api.routing import GuardedRoute

    # every route checks its body's encoding, type and nesting first (api/routing.py)
    router = APIRouter(prefix=PREFIX, route_class=GuardedRoute)
    for module in (experiments, run_artifacts, datasets, models, endpoints, audit, tokens):
        module.routes.add_to(router)
    return router


def build_root_router() -> APIRouter:
    """The routes outside ``/api/v1`` that the spec fixes beside the data plane (feedback)."""
    from modelplane.serving.api import feedback
    from modelplane.serving.api.routing import GuardedRoute

    router = APIRouter(route_class=GuardedRoute)
    feedback.routes.add_to(router)
    return router


__all__ = ["PREFIX", "build_root_router", "build_router"]
