"""``/docs`` and ``/redoc`` work offline: every URL they reference is on this server, the assets
load with the right media type and a long cache lifetime, and they need a viewer token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from modelplane.config import ServerSettings
from modelplane.context import Workspace
from modelplane.serving.app import create_app

LOCAL = "http://127.0.0.1"
# src="…" / href="…" in the HTML, and url: '…' / spec-url in the page's script
REFERENCE = re.compile(r"""(?:src|href|url|spec-url)\s*[=:]\s*["']([^"']+)["']""")


@pytest.fixture
def client(sqlite_ws: Workspace) -> Iterator[TestClient]:
    app = create_app(sqlite_ws, settings=ServerSettings(poll_interval=0.1))
    with TestClient(app, base_url=LOCAL) as c:
        yield c


def references(html: str) -> list[str]:
    found = REFERENCE.findall(html)
    assert found, html
    return found


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_pages_reference_only_this_server(client: TestClient, page: str) -> None:
    r = client.get(page)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "cdn" not in r.text.lower()
    assert "fonts.googleapis" not in r.text
    for url in references(r.text):
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} references {url}"
        assert url.startswith("/"), url
        loaded = client.get(url)
        assert loaded.status_code == 200, url
        assert loaded.content, url


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("redoc.standalone.js", "text/javascript"),
        ("favicon.png", "image/png"),
    ],
)
def test_assets_load_with_their_type_and_long_caching(
    client: TestClient, name: str, media_type: str
) -> None:
    r = client.get(f"/docs/assets/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(media_type)
    assert "max-age=31536000" in r.headers["cache-control"]
    assert len(r.content) > 500


def test_swagger_page_loads_the_bundle_and_the_openapi_document(client: TestClient) -> None:
    html = client.get("/docs").text
    urls = references(html)
    assert any("/docs/assets/swagger-ui-bundle.js" in u for u in urls)
    assert any("/docs/assets/swagger-ui.css" in u for u in urls)
    assert "/openapi.json" in html
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize("name", ["index.html", "..%2Fcore.py", "swagger-ui.css.map", "x"])
def test_only_the_listed_assets_are_served(client: TestClient, name: str) -> None:
    r = client.get(f"/docs/assets/{name}")
    assert r.status_code == 404
    assert r.json()["error"] in {"not_found", "http_error"}  # unknown name, or no such route


def test_docs_and_assets_need_a_viewer_when_tokens_are_required(sqlite_ws: Workspace) -> None:
    ws = Workspace(replace(sqlite_ws.settings, auth="required"), actor="owner")
    _, viewer = ws.tokens.create("reader", "viewer")
    app = create_app(ws, settings=ServerSettings(poll_interval=0.1, auth_failure_limit=0))
    try:
        with TestClient(app, base_url=LOCAL) as c:
            paths = ["/docs", "/redoc", "/docs/assets/swagger-ui.css"]
            for path in paths:
                assert c.get(path).status_code == 401, path
            auth: dict[str, Any] = {"Authorization": f"Bearer {viewer}"}
            for path in paths:
                assert c.get(path, headers=auth).status_code == 200, path
    finally:
        ws.close()
