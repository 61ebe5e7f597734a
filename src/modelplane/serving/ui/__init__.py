"""The dashboard at ``/ui``: read-only pages over experiments, runs, models, endpoints and the
audit log, served by ``modelplane serve`` beside the API.

Server-rendered HTML (Jinja, autoescaped), one stylesheet and one small script of its own, and
uPlot for charts (vendored under ``static/vendor/uplot``); nothing is built at install time.
:func:`mount_ui` adds the routes to the server's FastAPI app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def mount_ui(api: FastAPI) -> None:
    """Add the ``/ui`` routes to ``api`` and keep their renderer on ``api.state.ui``."""
    from modelplane.serving.ui.pages import Pages
    from modelplane.serving.ui.routes import build_ui_router

    api.state.ui = Pages()
    api.include_router(build_ui_router())


__all__ = ["mount_ui"]
