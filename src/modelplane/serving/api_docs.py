"""The API documentation pages: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served offline.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, which fails on a machine without
internet access and leaks every visit to a third party. Here the pages reference only this
server: the JavaScript, CSS and favicon come from the ``fastapi-offline`` package (a dependency
that ships Swagger UI 5 and ReDoc as plain files) and are served under ``/docs/assets/NAME``.

Like every route, these declare their permission (viewer, like ``/openapi.json``). Asset URLs
carry the package version as a query string, so they can be cached for a year: a new version
of the assets comes with a new URL.
"""

from __future__ import annotations

from importlib import metadata, resources
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from modelplane.errors import NotFoundError
from modelplane.serving.permissions import Permission, require

ASSET_PREFIX = "/docs/assets"
#: The files the pages use, with their media types; nothing else is served from the folder.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
ASSET_CACHE = "private, max-age=31536000, immutable"
TITLE = "modelplane API"


def assets_folder() -> Path:
    """Where the installed ``fastapi-offline`` package keeps the Swagger UI and ReDoc files."""
    return Path(str(resources.files("fastapi_offline") / "static"))


def _asset_version() -> str:
    try:
        return metadata.version("fastapi-offline")
    except metadata.PackageNotFoundError:  # pragma: no cover - installed with modelplane
        return "0"


def declare_docs(api: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Declare ``/docs``, ``/redoc`` and their assets on ``api``, for viewers."""
    viewer = [Depends(require(Permission.VIEWER))]
    folder = assets_folder()
    version = _asset_version()

    def asset(name: str) -> str:
        return f"{ASSET_PREFIX}/{name}?v={version}"

    @api.get("/docs", include_in_schema=False, dependencies=viewer)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=TITLE,
            swagger_js_url=asset("swagger-ui-bundle.js"),
            swagger_css_url=asset("swagger-ui.css"),
            swagger_favicon_url=asset("favicon.png"),
        )

    @api.get("/redoc", include_in_schema=False, dependencies=viewer)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=TITLE,
            redoc_js_url=asset("redoc.standalone.js"),
            redoc_favicon_url=asset("favicon.png"),
            with_google_fonts=False,
        )

    @api.get(f"{ASSET_PREFIX}/{{name}}", include_in_schema=False, dependencies=viewer)
    def docs_asset(name: str) -> FileResponse:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFoundError(f"no documentation asset named {name[:100]!r}", field="name")
        return FileResponse(
            folder / name, media_type=media_type, headers={"Cache-Control": ASSET_CACHE}
        )


__all__ = ["ASSETS", "ASSET_PREFIX", "assets_folder", "declare_docs"]
