"""Permissions of the whole server (in-process: the routes themselves and a custom Authorizer),
and ``modelplane serve`` refusing to bind beyond loopback with ``MODELPLANE_AUTH=off`` unless
``--insecure``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from modelplane.errors import AuthenticationError
from modelplane.serving.app import FastPath, Server, build_api, create_app
from modelplane.serving.permissions import (
    OPEN_PATHS,
    PERMISSION_ATTR,
    SIGN_IN_PATHS,
    Permission,
    Principal,
)
from modelplane.serving.routes import DATA_ROUTES, match

from .conftest import free_port, run_cli

FAST_ROUTE_PERMISSIONS = {route.key: route.permission for route in DATA_ROUTES}
ROW = {"inputs": [{"f0": 1.0}]}
V2 = {"inputs": [{"name": "input-0", "shape": [1, 1], "datatype": "FP64", "data": [1.0]}]}


class DenyAll:
    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str | None]] = []

    def authenticate(self, authorization: str | None, client: str | None) -> Principal:
        self.calls.append((authorization, client))
        raise AuthenticationError("nobody gets in")


class ViewerOnly:
    """Everyone is a viewer: reading is allowed, predicting and changing things are not."""

    def authenticate(self, authorization: str | None, client: str | None) -> Principal:
        return Principal("watcher", Permission.VIEWER)


def flat_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route, included routers opened up (FastAPI ≥ 0.16x keeps an included router as one
    lazy ``_IncludedRouter`` entry of ``app.routes``; older versions copied its routes)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flat_routes(inner.routes)
        else:
            yield route


def _permission(route: APIRoute) -> Permission | None:
    found = [getattr(d.dependency, PERMISSION_ATTR, None) for d in route.dependencies]
    return next((p for p in found if p is not None), None)


@pytest.fixture
def api(sqlite_ws: Any) -> FastAPI:
    app: FastAPI = build_api(Server(sqlite_ws))
    return app


def test_every_route_declares_a_permission(api: FastAPI) -> None:
    routes = [
        r
        for r in flat_routes(api.routes)
        if getattr(r, "path", None) not in OPEN_PATHS | SIGN_IN_PATHS
    ]
    assert len(routes) >= 40
    declared: dict[tuple[str, str], Permission] = {}
    for route in routes:
        assert isinstance(route, APIRoute), f"{route!r} is not a declared FastAPI route"
        permission = _permission(route)
        assert permission is not None, f"{route.methods} {route.path} declares no permission"
        for method in route.methods:
            declared[(method, route.path)] = permission
    # the data plane and the control plane are both there
    assert ("GET", "/metrics") in declared
    assert ("PUT", "/api/v1/endpoints/{endpoint}") in declared
    assert declared[("GET", "/metrics")] is Permission.VIEWER
    assert declared[("GET", "/openapi.json")] is Permission.VIEWER
    assert declared[("GET", "/docs")] is Permission.VIEWER
    assert {api.docs_url, api.openapi_url, api.redoc_url} == {None}  # FastAPI's open ones are off
    # every fast route (answered before FastAPI) is declared, with the same permission
    assert FAST_ROUTE_PERMISSIONS
    for key, permission in FAST_ROUTE_PERMISSIONS.items():
        assert key in declared, f"fast route {key} has no FastAPI declaration"
        assert declared[key] is permission, key


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/v1/endpoints/churn/predict", ("POST", "/v1/endpoints/{endpoint}/predict")),
        ("/v2/models/churn/infer", ("POST", "/v2/models/{endpoint}/infer")),
        (
            "/v2/models/churn/versions/3/infer",
            ("POST", "/v2/models/{endpoint}/versions/{version}/infer"),
        ),
    ],
)
def test_the_fast_path_checks_the_declared_permission(path: str, key: tuple[str, str]) -> None:
    found = match("POST", path)
    assert found is not None
    route, endpoint, _ = found
    assert endpoint == "churn" and route.key == key
    assert key in FAST_ROUTE_PERMISSIONS


def test_a_refusing_authorizer_is_401_on_every_route_but_the_probes(sqlite_ws: Any) -> None:
    deny = DenyAll()
    app = create_app(sqlite_ws, authorizer=deny)
    assert isinstance(app, FastPath)
    client = TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1")
    answers = {
        "native": client.post("/v1/endpoints/churn/predict", json=ROW),
        "v2": client.post("/v2/models/churn/infer", json=V2),
        "v2 version": client.post("/v2/models/churn/versions/1/infer", json=V2),
        "list endpoints": client.get("/api/v1/endpoints"),
        "deploy": client.put("/api/v1/endpoints/x", json={"model": "models:/churn/1"}),
        "metrics": client.get("/metrics"),
        "model metadata": client.get("/v2/models/churn"),
        "openapi": client.get("/openapi.json"),
        "docs": client.get("/docs"),
    }
    for what, r in answers.items():
        assert r.status_code == 401, (what, r.status_code, r.text)
        body = r.json()
        if what.startswith(("v2", "model metadata")):  # the v2 shape: error = the message
            assert body["code"] == "unauthenticated", (what, body)
            assert isinstance(body["error"], str) and body["error"], (what, body)
        else:
            assert body["error"] == "unauthenticated", (what, body)
        assert "Traceback" not in r.text
    assert len(deny.calls) == len(answers)
    for probe in ("/v2/health/live", "/v2/health/ready"):
        assert client.get(probe).status_code in (200, 503)
    assert len(deny.calls) == len(answers)  # the probes ask no one


def test_role_below_the_route_permission_is_403(sqlite_ws: Any) -> None:
    client = TestClient(create_app(sqlite_ws, authorizer=ViewerOnly()), base_url="http://127.0.0.1")
    r = client.post("/v1/endpoints/churn/predict", json=ROW)
    assert r.status_code == 403, r.text
    assert "predictor" in r.json()["message"]
    assert client.post("/v2/models/churn/infer", json=V2).status_code == 403
    assert client.get("/api/v1/endpoints").status_code == 200  # viewers may read
    r = client.put("/api/v1/endpoints/x", json={"model": "models:/churn/1"})
    assert r.status_code == 403, r.text
    assert "operator" in r.json()["message"]


def test_serve_beyond_loopback_without_auth_needs_insecure(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for host in ("0.0.0.0", "::", "10.1.2.3"):
        done = run_cli(
            home,
            "serve",
            "--host",
            host,
            "--port",
            str(free_port()),
            timeout=60,
            env={"MODELPLANE_AUTH": "off"},
        )
        assert done.returncode == 2, (host, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert host in lines[0] and "--insecure" in lines[0], lines[0]
        assert "Traceback" not in done.stderr


def test_serve_refuses_a_malformed_proxy_list(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for value in ("10.0.0.1/8", "proxy.example", "127.0.0.1,,"):
        done = run_cli(
            home, "serve", "--port", str(free_port()), "--forwarded-allow-ips", value, timeout=60
        )
        assert done.returncode == 2, (value, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "--forwarded-allow-ips" in lines[0], done.stderr
        assert "Traceback" not in done.stderr
