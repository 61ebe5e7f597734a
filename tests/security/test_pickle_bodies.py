"""No pickle from any request body: a pickle whose loading would leave a marker file is sent to
every POST/PUT/PATCH route, under every content type a client might claim; each route that takes a
body answers 4xx, one that takes none (a restore) ignores it, and the marker never appears."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from modelplane.context import Workspace
from modelplane.serving.app import create_app

TYPES = [
    "application/python-pickle",
    "application/octet-stream",
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    None,
]


class _Marker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {self.path}",))


def _flat(routes: Any) -> Any:
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _flat(inner.routes) if inner is not None else [route]


def test_pickle_bodies_are_refused_on_every_route_that_takes_a_body(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    sqlite_ws.registry.register_model("m", LogisticRegression().fit(X, [0, 0, 1, 1]), X)
    sqlite_ws.endpoints.deploy("a", {"model": "models:/m/1"})
    marker = tmp_path / "unpickled"
    body = pickle.dumps(_Marker(marker), protocol=pickle.HIGHEST_PROTOCOL)
    app = create_app(sqlite_ws)
    checked = 0
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        for route in _flat(app.api.routes):
            if not isinstance(route, APIRoute):
                continue
            for method in route.methods & {"POST", "PUT", "PATCH"}:
                path = re.sub(r"\{version\}", "1", route.path)
                path = re.sub(r"\{[a-z_]+(:path)?\}", "a", path)
                path = path.replace("/models/a/", "/models/m/")
                for media in TYPES:
                    headers = {} if media is None else {"Content-Type": media}
                    r = client.request(method, path, content=body, headers=headers)
                    if route.body_field is None:  # takes no body: this one is never read
                        assert r.status_code < 500, (method, path, media, r.status_code)
                    else:
                        assert 400 <= r.status_code < 500, (method, path, media, r.status_code)
                    assert "Traceback" not in r.text
                    checked += 1
    assert checked >= 20 * len(TYPES) // 2
    assert not marker.exists()
