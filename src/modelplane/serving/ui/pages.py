"""Rendering dashboard pages: one Jinja environment (autoescape on for every template), the
assets' cache-busting version, and the error page.

Templates and assets ship in the package (``templates/``, ``static/``); nothing is built at
install time. User text reaches templates as plain values and is escaped there; no template
marks anything safe. Chart data goes into ``<script type="application/json">`` blocks through
Jinja's ``tojson`` (which escapes ``<``, ``>``, ``&`` and quotes).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from modelplane import __version__
from modelplane.serving.ui.session import SECURITY_HEADERS
from modelplane.serving.ui.verification import VerificationCache
from modelplane.serving.ui.views import duration, finite, iso, summary

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

_TITLES = {400: "Bad request", 401: "Sign in", 403: "Forbidden", 404: "Not found", 429: "Slow down"}


def _asset_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _number(value: Any, digits: int = 6) -> str:
    number = finite(value)
    if number is None:
        return "" if value is None else str(value)
    return f"{number:.{digits}g}"


class Pages:
    """The dashboard's renderer, kept on ``app.state.ui``."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["iso"] = iso
        self.env.filters["number"] = _number
        self.env.globals["summary"] = summary
        self.env.globals["run_duration"] = duration
        self.asset_version = _asset_version()
        self.verification = VerificationCache()

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        principal = getattr(request.state, "principal", None)
        page = self.env.get_template(template).render(
            path=request.url.path,
            user=None if principal is None or principal.anonymous else principal.name,
            signed_in=principal is not None and not principal.anonymous,
            asset=lambda name: f"/ui/static/{name}?v={self.asset_version}",
            mp_version=__version__,
            **context,
        )
        return HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)

    def error_page(self, request: Request, status: int, message: str) -> Response:
        return self.render(
            request,
            "error.html",
            status,
            title=_TITLES.get(status, "Error"),
            code=status,
            message=message,
        )


__all__ = ["STATIC", "TEMPLATES", "Pages"]
