"""The in-process server the remote-client tests talk to: the control-plane API over a
Workspace, with FastAPI's TestClient as mp.Client's HTTP client (no socket, no thread)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelplane.client import Client
from modelplane.context import Workspace
from modelplane.serving.api import build_router
from modelplane.serving.http_errors import install_handlers
from modelplane.serving.permissions import AllowAll
from modelplane.serving.server import Server


def make_app(ws: Workspace) -> FastAPI:
    app = FastAPI()
    app.state.workspace = ws
    app.state.server = Server(ws, authorizer=AllowAll())
    install_handlers(app)
    app.include_router(build_router())

    @app.post("/v1/endpoints/{endpoint}/predict")
    def predict(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """A stand-in for the data plane: load the endpoint's model and predict."""
        uri = ws.endpoints.get(endpoint).config.model
        assert uri is not None
        return {"outputs": ws.registry.load(uri).predict(body["inputs"]).tolist()}

    return app


@pytest.fixture
def api(ws: Workspace) -> TestClient:
    return TestClient(make_app(ws))


@pytest.fixture
def client(api: TestClient) -> Client:
    return Client("http://testserver", http_client=api)
