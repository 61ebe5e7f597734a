"""The dashboard's door, in process: a viewer permission on every page, the sign-in cookie
accepted by dashboard GETs only, sign-in errors, the Origin check on the form, security headers,
escaping, bad and unknown names, assets, and anonymous viewing on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from modelplane.config import ServerSettings
from modelplane.context import Workspace
from modelplane.serving.app import create_app
from modelplane.serving.permissions import PERMISSION_ATTR, SIGN_IN_PATHS, Permission
from modelplane.serving.ui.routes import build_ui_router
from modelplane.serving.ui.session import COOKIE, CSP

LOCAL = "http://127.0.0.1"
HTML = {"Accept": "text/html"}
XSS = "<script>window.__xss=1</script>"


def _data(ws: Workspace) -> str:
    run = ws.tracking.create_run("exp", XSS)
    ws.tracking.log_params(run.id, {"p": "<img src=x onerror=alert(1)>"})
    ws.tracking.log_batch(run.id, [("loss", 1.0 / (s + 1), s, None) for s in range(5)])
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    ws.registry.register_model("m", LogisticRegression().fit(X, [0, 0, 1, 1]), X, description=XSS)
    ws.endpoints.deploy("ep", {"model": "models:/m/1"})
    return run.id


@pytest.fixture
def secured(sqlite_ws: Workspace) -> Iterator[dict[str, Any]]:
    ws = Workspace(replace(sqlite_ws.settings, auth="required"), actor="owner")
    run_id = _data(ws)
    tokens = {r: ws.tokens.create(r, r)[1] for r in ("viewer", "admin")}
    tokens["scoped"] = ws.tokens.create("scoped", "viewer", scopes=["endpoint:ep"])[1]
    app = create_app(ws, settings=ServerSettings(poll_interval=0.1, auth_failure_limit=0))
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as client:
        yield {"client": client, "tokens": tokens, "run_id": run_id}
    ws.close()


@pytest.fixture
def anonymous(sqlite_ws: Workspace) -> Iterator[dict[str, Any]]:
    """Auth auto on loopback: viewing without a token is allowed."""
    run_id = _data(sqlite_ws)
    app = create_app(sqlite_ws, settings=ServerSettings(poll_interval=0.1))
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as client:
        yield {"client": client, "run_id": run_id}


def _pages(run_id: str) -> list[str]:
    return [
        "/ui",
        "/ui/experiments",
        "/ui/experiments/exp",
        f"/ui/runs/{run_id}",
        f"/ui/compare?runs={run_id}",
        "/ui/models",
        "/ui/models/m",
        "/ui/models/m/versions/1",
        "/ui/endpoints",
        "/ui/endpoints/ep",
        "/ui/audit",
    ]


def _sign_in(client: TestClient, token: str, next_: str = "/ui") -> Any:
    return client.post(
        "/ui/login", data={"token": token, "next": next_}, headers=HTML, follow_redirects=False
    )


def test_every_ui_route_declares_viewer_but_sign_in_and_out() -> None:
    routes = [r for r in build_ui_router().routes if isinstance(r, APIRoute)]
    assert len(routes) >= 15
    for route in routes:
        found = [getattr(d.dependency, PERMISSION_ATTR, None) for d in route.dependencies]
        permission = next((p for p in found if p is not None), None)
        if route.path in SIGN_IN_PATHS:
            assert permission is None, route.path
        else:
            assert permission is Permission.VIEWER, route.path
            assert route.methods == {"GET"}, route.path  # the dashboard changes nothing


def test_without_a_token_browsers_go_to_sign_in_and_clients_get_401(
    secured: dict[str, Any],
) -> None:
    client: TestClient = secured["client"]
    for path in [*_pages(secured["run_id"]), "/ui/static/ui.js", "/ui/endpoints/ep/live"]:
        r = client.get(path, headers=HTML, follow_redirects=False)
        assert r.status_code == 303, (path, r.status_code)
        assert r.headers["location"].startswith("/ui/login?next=")
        assert r.headers["content-security-policy"] == CSP
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 401 and r.json()["error"] == "unauthenticated", path


def test_sign_in_with_a_bad_token_shows_the_error(secured: dict[str, Any]) -> None:
    client: TestClient = secured["client"]
    r = _sign_in(client, "mpt_000000000000_" + "A" * 43)
    assert r.status_code == 401 and COOKIE not in r.cookies
    assert "Not signed in" in r.text and 'class="error"' in r.text
    assert _sign_in(client, "").status_code == 400
    r = _sign_in(client, secured["tokens"]["scoped"])  # scoped tokens see no listings
    assert r.status_code == 403 and "scoped" in r.text


def test_the_cookie_opens_dashboard_pages_and_nothing_else(secured: dict[str, Any]) -> None:
    client: TestClient = secured["client"]
    r = _sign_in(client, secured["tokens"]["viewer"], "/ui/models")
    assert r.status_code == 303 and r.headers["location"] == "/ui/models"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over TLS the cookie is Secure
    token = r.cookies[COOKIE]
    jar = {COOKIE: token}
    for path in _pages(secured["run_id"]):
        assert client.get(path, headers=HTML, cookies=jar).status_code == 200, path
    # the same cookie sent anywhere else (a browser would not even send it) is not a token
    for method, path in [
        ("GET", "/api/v1/models"),
        ("GET", "/metrics"),
        ("POST", "/v1/endpoints/ep/predict"),
        ("GET", "/api/v1/endpoints/ep/status"),
    ]:
        r = client.request(method, path, cookies=jar, json={"inputs": [{"a": 1, "b": 0}]})
        assert r.status_code == 401, (method, path)
    # and a dashboard route that is not a GET does not read it either
    r = client.post("/ui/models", cookies=jar)
    assert r.status_code in (401, 405)
    r = client.post("/ui/logout", cookies=jar, follow_redirects=False)
    assert r.status_code == 303 and f'{COOKIE}=""' in r.headers["set-cookie"]


def test_next_never_leaves_the_dashboard(secured: dict[str, Any]) -> None:
    client: TestClient = secured["client"]
    for target in ["https://evil.example/", "//evil.example/ui", "/api/v1/models", "/ui\\x"]:
        r = _sign_in(client, secured["tokens"]["viewer"], target)
        assert r.headers["location"] == "/ui", target


def test_sign_in_from_another_site_is_refused(secured: dict[str, Any]) -> None:
    client: TestClient = secured["client"]
    token = secured["tokens"]["viewer"]
    r = client.post("/ui/login", data={"token": token}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["field"] == "origin"
    r = client.post(
        "/ui/login", data={"token": token}, headers={"Origin": LOCAL}, follow_redirects=False
    )
    assert r.status_code == 303  # the dashboard's own form


def test_pages_carry_security_headers_and_escape_user_text(anonymous: dict[str, Any]) -> None:
    client: TestClient = anonymous["client"]
    for path in _pages(anonymous["run_id"]):
        r = client.get(path, headers=HTML)
        assert r.status_code == 200, path
        assert r.headers["content-security-policy"] == CSP
        assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"
        assert XSS not in r.text and "<img src=x" not in r.text, path
        # the only scripts are the server's own files; data blocks are JSON
        for tag in r.text.split("<script")[1:]:
            assert ' src="/ui/static/' in tag.split(">")[0] or 'type="application/json"' in tag
    page = client.get(f"/ui/runs/{anonymous['run_id']}", headers=HTML).text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    card = client.get("/ui/models/m/versions/1", headers=HTML).text
    assert "&amp;lt;" not in card  # the card's entities are not escaped twice


def test_bad_and_unknown_names(anonymous: dict[str, Any]) -> None:
    client: TestClient = anonymous["client"]
    for path, status in [
        ("/ui/models/nope", 404),
        ("/ui/models/m/versions/9", 404),
        ("/ui/experiments/nope", 404),
        ("/ui/endpoints/nope", 404),
        ("/ui/runs/0123456789abcdef0123456789abcdef", 404),
        ("/ui/no/such/page", 404),
        ("/ui/models/" + "x" * 300, 400),
        ("/ui/models/m/versions/abc", 400),
        ("/ui/experiments/bad%20name", 400),
        ("/ui/compare?runs=" + ",".join(str(i) for i in range(30)), 400),
    ]:
        r = client.get(path, headers=HTML)
        assert r.status_code == status, (path, r.status_code)
        assert "text/html" in r.headers["content-type"]
        r = client.get(path)  # a script or client: the API's JSON error
        assert r.status_code in (status, 422) and r.json()["error"], path


def test_assets_are_served_with_cache_headers_and_nothing_else(anonymous: dict[str, Any]) -> None:
    client: TestClient = anonymous["client"]
    for name, kind in [
        ("ui.js", "text/javascript"),
        ("ui.css", "text/css"),
        ("vendor/uplot/uPlot.iife.min.js", "text/javascript"),
        ("vendor/uplot/uPlot.min.css", "text/css"),
    ]:
        r = client.get(f"/ui/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), name
        assert "max-age" in r.headers["cache-control"]
        assert r.headers["x-content-type-options"] == "nosniff"
    for name in ["vendor/uplot/LICENSE", "../pages.py", "%2e%2e/pages.py", "../../__init__.py"]:
        assert client.get(f"/ui/static/{name}").status_code == 404, name


def test_live_numbers_count_predictions(anonymous: dict[str, Any]) -> None:
    client: TestClient = anonymous["client"]
    before = client.get("/ui/endpoints/ep/live").json()
    for _ in range(3):
        r = client.post("/v1/endpoints/ep/predict", json={"inputs": [{"a": 1.0, "b": 0.0}]})
        assert r.status_code == 200, r.text
    after = client.get("/ui/endpoints/ep/live").json()
    assert after["requests"] == before["requests"] + 3
    assert after["latency"]["count"] == before["latency"]["count"] + 3
    assert after["latency"]["p50"] is not None and after["latency"]["p99"] is not None
    assert after["status"]["state"] == "ready"
    assert after["workers"] == "this process"
