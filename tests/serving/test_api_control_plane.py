"""The control-plane REST API (/api/v1): permissions on every route, and bad or hostile input
answered with the right status and a JSON body naming the problem — over SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from modelplane.context import Workspace
from modelplane.serving.api import build_router
from modelplane.serving.http_errors import install_handlers
from modelplane.serving.permissions import PERMISSION_ATTR, AllowAll, Permission
from modelplane.serving.server import Server

API = "/api/v1"


def make_app(ws: Workspace) -> FastAPI:
    app = FastAPI()
    app.state.workspace = ws
    app.state.server = Server(ws, authorizer=AllowAll())
    install_handlers(app)
    app.include_router(build_router())
    return app


@pytest.fixture
def api(ws: Workspace) -> TestClient:
    return TestClient(make_app(ws))


@pytest.fixture
def run_id(api: TestClient) -> str:
    r = api.post(f"{API}/runs", json={"experiment": "exp", "name": "r1"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.fixture
def model_version(ws: Workspace) -> Any:
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    return ws.registry.register_model("churn", model, X)


def assert_error(r: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str)
    if code is not None:
        assert body["error"] == code
    return body


# -- routes -------------------------------------------------------------------------------------


def _permission(route: APIRoute) -> Permission | None:
    found = [getattr(d.dependency, PERMISSION_ATTR, None) for d in route.dependencies]
    return next((p for p in found if p is not None), None)


def test_every_route_declares_a_permission() -> None:
    routes = build_router().routes
    assert len(routes) >= 30
    for route in routes:
        assert isinstance(route, APIRoute)
        assert route.path.startswith(f"{API}/")
        permission = _permission(route)
        assert permission is not None, f"{route.methods} {route.path} declares no permission"
        assert route.summary, route.path
        if route.methods == {"GET"} and not route.path.startswith(f"{API}/tokens"):
            assert permission is Permission.VIEWER, route.path
        elif route.path.startswith((f"{API}/tokens", f"{API}/models/{{name}}/alias-rules/")):
            assert permission is Permission.ADMIN, route.path  # who may do what: admins only
        elif route.methods == {"DELETE"} and "aliases" not in route.path:
            assert permission is Permission.ADMIN, route.path
        else:
            assert permission is Permission.OPERATOR, route.path


def test_every_route_of_the_server_declares_a_permission(sqlite_ws: Workspace) -> None:
    """The whole server app: the API, the data plane, /metrics, /docs and the dashboard."""
    from modelplane.serving.app import build_api
    from modelplane.serving.permissions import OPEN_PATHS, SIGN_IN_PATHS

    def flat(routes: Any) -> Any:
        for route in routes:  # included routers, as they were declared
            inner = getattr(route, "original_router", None)
            yield from flat(inner.routes) if inner is not None else [route]

    routes = [r for r in flat(build_api(Server(sqlite_ws)).routes) if isinstance(r, APIRoute)]
    assert any(r.path.startswith("/ui/") for r in routes)
    for route in routes:
        if route.path in OPEN_PATHS | SIGN_IN_PATHS:
            continue
        assert _permission(route) is not None, f"{route.methods} {route.path}"
        if route.path == "/ui" or route.path.startswith("/ui/"):
            assert _permission(route) is Permission.VIEWER, route.path


def test_openapi_lists_the_routes(sqlite_ws: Workspace) -> None:
    spec = TestClient(make_app(sqlite_ws)).get("/openapi.json").json()
    assert f"{API}/models/{{name}}/versions/{{version}}/files/{{path}}" in spec["paths"]
    for ops in spec["paths"].values():
        for op in ops.values():
            assert op["summary"]


# -- malformed and hostile JSON -----------------------------------------------------------------


def test_malformed_json_is_422_with_a_field(api: TestClient) -> None:
    r = api.post(
        f"{API}/runs", content=b'{"experiment": ', headers={"Content-Type": "application/json"}
    )
    body = assert_error(r, 422, "invalid_request")
    assert body["field"]


def test_wrong_types_and_unknown_fields_are_422(api: TestClient, run_id: str) -> None:
    r = api.post(f"{API}/runs/{run_id}/metrics", json={"points": [{"key": "m", "value": "abc"}]})
    assert assert_error(r, 422)["field"] == "points.0.value"
    r = api.post(f"{API}/runs/{run_id}/metrics", json={"points": [{"key": "m", "value": True}]})
    assert_error(r, 422)
    r = api.post(f"{API}/runs/{run_id}/tags", json={"tags": {"a": [1, 2]}})
    assert_error(r, 422)  # tags are scalars (params may be any JSON value)
    r = api.post(f"{API}/runs", json={"experiment": "exp", "color": "red"})
    assert assert_error(r, 422)["field"] == "color"
    r = api.put(f"{API}/models/churn/aliases/champion", json={"version": "one"})
    assert assert_error(r, 422)["field"] == "version"
    r = api.get(f"{API}/runs", params={"max_results": 0})
    assert assert_error(r, 422)["field"] == "max_results"
    r = api.post(f"{API}/runs/{run_id}/end", json={"status": "RUNNING"})
    assert_error(r, 422)


def test_service_rules_answer_400_404_409(api: TestClient, run_id: str) -> None:
    assert_error(api.post(f"{API}/runs", json={"experiment": "../etc"}), 400, "invalid_input")
    assert_error(api.get(f"{API}/runs/{'f' * 32}"), 404, "not_found")
    ok = api.post(f"{API}/runs/{run_id}/params", json={"params": {"C": 1.0}})
    assert ok.status_code == 204
    again = api.post(f"{API}/runs/{run_id}/params", json={"params": {"C": 2.0}})
    assert_error(again, 409, "conflict")
    r = api.post(f"{API}/runs/{run_id}/datasets", json={"dataset_version_id": 999})
    assert_error(r, 404)
    r = api.get(f"{API}/runs", params={"filter": "metrics.auc >>> 1"})
    assert_error(r, 400, "invalid_input")


def test_oversized_metric_batches_and_bodies_are_413(api: TestClient, run_id: str) -> None:
    points = [{"key": "m", "value": 1.0}] * 100_001
    r = api.post(f"{API}/runs/{run_id}/metrics", json={"points": points})
    assert assert_error(r, 413, "payload_too_large")["field"] == "points"
    huge = {"params": {f"p{i}": "x" * 5000 for i in range(300)}}
    r = api.post(f"{API}/runs/{run_id}/params", json=huge)
    assert r.status_code == 413
    assert api.get(f"{API}/runs/{run_id}").json()["params"] == {}


def test_metric_batch_round_trip(api: TestClient, run_id: str) -> None:
    points = [{"key": "loss", "value": 1.0 / (i + 1), "step": i} for i in range(5000)]
    points.append({"key": "loss", "value": None, "step": 5000})
    r = api.post(f"{API}/runs/{run_id}/metrics", json={"points": points})
    assert r.status_code == 200 and r.json() == {"logged": 5001}
    history = api.get(f"{API}/runs/{run_id}/metrics/history", params={"key": "loss"}).json()
    assert len(history) == 5001 and history[0]["value"] == 1.0 and history[-1]["value"] is None


# -- datasets -----------------------------------------------------------------------------------


def test_dataset_upload_limits_and_types(api: TestClient) -> None:
    csv = b"a,b\n1,2\n3,4\n"
    r = api.post(
        f"{API}/datasets/small/versions", content=csv, headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["num_rows"] == 2 and len(r.json()["sha256"]) == 64
    r = api.post(
        f"{API}/datasets/small/versions", content=csv, headers={"Content-Type": "text/plain"}
    )
    assert assert_error(r, 415, "unsupported_media_type")["field"] == "content-type"
    r = api.post(
        f"{API}/datasets/bad/versions",
        content=b"not parquet",
        headers={"Content-Type": "application/vnd.apache.parquet"},
    )
    assert_error(r, 400)
    r = api.post(
        f"{API}/datasets/..%2Fx/versions", content=csv, headers={"Content-Type": "text/csv"}
    )
    assert r.status_code in (400, 404)
    api.app.state.max_upload_bytes = 1000  # type: ignore[attr-defined]
    big = b"a,b\n" + b"1,2\n" * 1000
    r = api.post(f"{API}/datasets/big/versions", content=big, headers={"Content-Type": "text/csv"})
    assert_error(r, 413, "payload_too_large")
    chunked = api.post(
        f"{API}/datasets/big/versions",
        content=iter([big[:600], big[600:]]),  # no Content-Length: counted while streaming
        headers={"Content-Type": "text/csv"},
    )
    assert_error(chunked, 413, "payload_too_large")
    assert_error(api.get(f"{API}/datasets/big"), 404, "not_found")


# -- models -------------------------------------------------------------------------------------


def _meta(**overrides: Any) -> str:
    meta: dict[str, Any] = {
        "flavor": "sklearn",
        "flavor_info": {"files": ["model.joblib"]},
        "signature": {},
    }
    meta.update(overrides)
    return json.dumps(meta)


def _upload(api: TestClient, name: str, meta: str | None, files: list[tuple[str, bytes]]) -> Any:
    return api.post(
        f"{API}/models/{name}/versions",
        data={} if meta is None else {"meta": meta},
        files=[("files", (fname, data, "application/octet-stream")) for fname, data in files],
        headers={"X-Modelplane-Upload": "1"},
    )


def test_upload_refuses_hostile_file_names(api: TestClient) -> None:
    for bad in ("../x", "model.joblib/../../etc", "/etc/passwd", "evil.py", "..", "model.JOBLIB"):
        r = _upload(api, "hostile", _meta(), [("model.joblib", b"x"), (bad, b"payload")])
        assert assert_error(r, 400, "invalid_input")["field"] == "files", bad
    assert_error(api.get(f"{API}/models/hostile"), 404, "not_found")


def test_upload_refuses_bad_meta(api: TestClient) -> None:
    files = [("model.joblib", b"x")]
    body = assert_error(_upload(api, "m", _meta(flavor="nosuch"), files), 400, "unsupported_model")
    assert body["field"] == "flavor"
    assert_error(_upload(api, "m", None, files), 422)
    assert assert_error(_upload(api, "m", "{not json", files), 422)["field"].startswith("meta")
    body = assert_error(_upload(api, "m", _meta(colour="red"), files), 422)
    assert body["field"] == "meta.colour"
    assert_error(_upload(api, "m", _meta(signature={"inputs": 3}), files), 400)
    bad_info = _meta(flavor_info={"input_example": "/etc/passwd"})
    assert_error(_upload(api, "m", bad_info, files), 400)
    # without files httpx sends a urlencoded form: not a type this route takes
    assert_error(_upload(api, "m", _meta(), []), 415, "unsupported_media_type")
    assert_error(_upload(api, "m", _meta(run_id="0" * 32), files), 404)
    api.app.state.max_upload_bytes = 10_000  # type: ignore[attr-defined]
    assert_error(_upload(api, "m", _meta(), [("model.joblib", b"x" * 20_000)]), 413)
    assert_error(api.get(f"{API}/models/m"), 404)


def test_unknown_models_and_bad_uris(api: TestClient, model_version: Any) -> None:
    for path in (
        "/models/nosuch",
        "/models/nosuch/versions",
        "/models/churn/versions/9",
        "/models/churn/aliases/champion",
        "/endpoints/nosuch",
    ):
        assert_error(api.get(API + path), 404, "not_found")
    for uri in ("file:///etc/passwd", "models:/churn/abc", "models:/../x", "s3://b/k", "models:/"):
        assert_error(api.get(f"{API}/models/resolve", params={"uri": uri}), 400, "invalid_input")
    assert api.get(f"{API}/models/resolve", params={"uri": "models:/churn"}).json()["version"] == 1
    r = api.put(f"{API}/endpoints/e1", json={"model": "file:///etc/passwd"})
    assert_error(r, 400)
    assert_error(api.put(f"{API}/endpoints/e1", json={"model": "models:/churn@nope"}), 404)
    assert_error(api.put(f"{API}/endpoints/e1", json={"model": "models:/churn/1", "x": 1}), 422)
    assert api.put(f"{API}/endpoints/e1", json={"model": "models:/churn/1"}).status_code == 200


def test_file_download_refuses_traversal(api: TestClient, model_version: Any) -> None:
    base = f"{API}/models/churn/versions/1/files"
    ok = api.get(f"{base}/model.joblib")
    assert (
        ok.status_code == 200
        and ok.headers["x-checksum-sha256"] == model_version.files["model.joblib"]
    )
    for path in ("..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "model.joblib%2F..%2F..", "nosuch"):
        r = api.get(f"{base}/{path}")
        assert r.status_code in (400, 404), path
        assert r.json()["error"] in ("invalid_input", "not_found")
        assert b"root:" not in r.content


class _Marker:
    """Unpickling this creates the marker file: proof that something was deserialised."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def test_tampered_file_is_refused(
    ws: Workspace, api: TestClient, model_version: Any, tmp_path: Path
) -> None:
    from modelplane.client import Client
    from modelplane.errors import IntegrityError

    marker = tmp_path / "unpickled"
    stored = Path(ws.artifacts.root) / model_version.artifact_key / "model.joblib"
    assert stored.is_file()
    stored.write_bytes(pickle.dumps(_Marker(marker)))
    r = api.get(f"{API}/models/churn/versions/1/files/model.joblib")
    assert_error(r, 409, "integrity_error")  # the stored state conflicts with its record
    with pytest.raises(IntegrityError):
        Client("http://testserver", http_client=api).load_model("models:/churn/1")
    assert not marker.exists()


def test_version_update_alias_and_delete(api: TestClient, model_version: Any) -> None:
    r = api.patch(f"{API}/models/churn/versions/1", json={"description": "d", "tags": {"t": 1}})
    assert r.status_code == 200 and r.json()["tags"] == {"t": 1}
    r = api.put(f"{API}/models/churn/aliases/champion", json={"version": 1, "reason": "best"})
    assert r.status_code == 200 and r.json()["aliases"] == ["champion"]
    assert api.get(f"{API}/models/churn/aliases/champion").json()["version"] == 1
    assert_error(api.delete(f"{API}/models/churn/versions/1"), 409, "conflict")
    history = api.get(f"{API}/models/churn/alias-history").json()
    assert [h["new_version"] for h in history] == [1]
    assert api.delete(f"{API}/models/churn/aliases/champion").status_code == 204
    card = api.get(f"{API}/models/churn/versions/1", params={"card": True}).json()
    assert "churn" in card["model_card"]
    assert api.delete(f"{API}/models/churn/versions/1").status_code == 204
    assert_error(api.get(f"{API}/models/churn/versions/1"), 404)


def test_dataset_download_is_parquet(api: TestClient) -> None:
    df = pd.DataFrame({"x": np.arange(5), "y": list("abcde")})
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    r = api.post(
        f"{API}/datasets/ds/versions",
        content=buf.getvalue(),
        headers={"Content-Type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 201, r.text
    data = api.get(f"{API}/datasets/ds/versions/1/data")
    assert data.headers["content-type"] == "application/vnd.apache.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(data.content)), df)
    listed = api.get(f"{API}/datasets", params={"name": "ds"}).json()
    assert [d["version"] for d in listed] == [1]
    assert api.get(f"{API}/audit/verify").json()["ok"] is True
    entries = api.get(f"{API}/audit", params={"target": "datasets/ds", "limit": 5}).json()
    assert entries[0]["action"] == "dataset.register"
