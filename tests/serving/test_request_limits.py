"""What request bodies the server takes, through HTTP against ``create_app``: content types
(CSRF through "simple" requests), content encodings (no gzip bombs), JSON nesting depth and the
rows of one prediction request — on the data plane (native and v2) and the control plane."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

import modelplane as mp
from modelplane.serving.app import create_app

COLS = ["a", "b"]
ROW = {"a": 0.5, "b": -1.0}
SIMPLE = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]


@pytest.fixture
def client(sqlite_ws: Any) -> Iterator[TestClient]:
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(60, 2)), columns=COLS)
    y = (X["a"] > 0).astype(int)
    mp.register_model("m", LogisticRegression().fit(X, y), X.head(10))
    sqlite_ws.endpoints.deploy("e", {"model": "models:/m/1", "limits": {"max_batch_rows": 50}})
    sqlite_ws.endpoints.deploy("wide", {"model": "models:/m/1"})
    app = create_app(sqlite_ws, poll_interval=0.2)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def error(r: Any, status: int, field: str) -> dict[str, Any]:
    """The error body in the native shape (v2 answers are translated), checked."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    if "code" in body:  # the Open Inference Protocol's shape
        body = {**body, "error": body["code"], "message": body["error"]}
    assert body.get("field") == field, body
    assert "Traceback" not in r.text
    return body


def native(c: TestClient, content: bytes, **headers: str) -> Any:
    return c.post("/v1/endpoints/e/predict", content=content, headers=headers)


def v2(c: TestClient, content: bytes, **headers: str) -> Any:
    return c.post("/v2/models/e/infer", content=content, headers=headers)


V2_BODY = (
    b'{"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [0.5, -1]}]}'
)
NATIVE_BODY = b'{"inputs": [{"a": 0.5, "b": -1.0}]}'


# -- content types ------------------------------------------------------------------------------


def test_the_data_plane_takes_json_and_no_content_type(client: TestClient) -> None:
    for headers in ({"content-type": "application/json"}, {}):
        assert native(client, NATIVE_BODY, **headers).status_code == 200
        assert v2(client, V2_BODY, **headers).status_code == 200
    ok = native(client, NATIVE_BODY, **{"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 200
    ok = v2(client, V2_BODY, **{"content-type": "application/vnd.kserve+json"})
    assert ok.status_code == 200


@pytest.mark.parametrize("content_type", [*SIMPLE, "application/xml"])
def test_the_data_plane_refuses_other_types(client: TestClient, content_type: str) -> None:
    body = error(native(client, NATIVE_BODY, **{"content-type": content_type}), 415, "content-type")
    assert "application/json" in body["message"]
    error(v2(client, V2_BODY, **{"content-type": content_type}), 415, "content-type")


def test_the_v2_binary_extension_keeps_working(client: TestClient) -> None:
    header = (
        b'{"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", '
        b'"parameters": {"binary_data_size": 16}}]}'
    )
    data = np.array([0.5, -1.0], dtype="<f8").tobytes()
    r = v2(
        client,
        header + data,
        **{
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(len(header)),
        },
    )
    assert r.status_code == 200, r.text
    error(
        native(client, NATIVE_BODY, **{"content-type": "application/octet-stream"}),
        415,
        "content-type",
    )


@pytest.mark.parametrize("content_type", [None, *SIMPLE])
def test_control_plane_json_bodies_need_application_json(
    client: TestClient, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    r = client.put("/api/v1/endpoints/x", content=b'{"model": "models:/m/1"}', headers=headers)
    error(r, 415, "content-type")
    r = client.post("/api/v1/experiments", content=b'{"name": "x"}', headers=headers)
    error(r, 415, "content-type")
    assert client.get("/api/v1/endpoints/x").status_code == 404  # nothing changed
    r = client.put(
        "/api/v1/endpoints/x",
        content=b'{"model": "models:/m/1"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text


def test_uploads_take_their_formats_and_never_a_simple_type(client: TestClient) -> None:
    csv = b"a,b\n1,2\n"
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        r = client.post(
            "/api/v1/datasets/d/versions", content=csv, headers={"content-type": content_type}
        )
        error(r, 415, "content-type")
    r = client.post(
        "/api/v1/datasets/d/versions", content=csv, headers={"content-type": "text/csv"}
    )
    assert r.status_code == 201, r.text
    # model files come as multipart/form-data (a simple type): only with X-Modelplane-Upload
    meta = b'{"flavor": "onnx", "flavor_info": {"files": ["model.onnx"]}, "signature": {}}'
    form = {
        "data": {"meta": meta.decode()},
        "files": [("files", ("model.onnx", b"x", "application/octet-stream"))],
    }
    r = client.post("/api/v1/models/up/versions", **form)  # type: ignore[arg-type]
    error(r, 415, "x-modelplane-upload")
    r = client.post(
        "/api/v1/models/up/versions", content=meta, headers={"content-type": "text/plain"}
    )
    error(r, 415, "content-type")
    assert client.get("/api/v1/models/up").status_code == 404


def test_mp_client_sends_what_the_server_takes(client: TestClient, tmp_path: Any) -> None:
    remote = mp.Client("http://127.0.0.1", http_client=client)
    X = pd.DataFrame({"a": [0.1, 0.9, 0.3, 0.7], "b": [1.0, 0.0, 1.0, 0.0]})
    mv = remote.register_model("r", LogisticRegression().fit(X, [0, 1, 0, 1]), X)
    assert mv.version == 1
    (tmp_path / "d.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    assert remote.register_dataset("d", tmp_path / "d.csv").num_rows == 1
    assert remote.register_dataset("p", X).num_rows == 4
    with remote.start_run(experiment="x") as run:
        run.log_params({"C": 1})
        run.log_metrics({"m": 1.0})
    assert len(remote.predict("e", [ROW])["outputs"]) == 1


# -- content encodings --------------------------------------------------------------------------


def gzip_bomb(megabytes: int) -> bytes:
    """``megabytes`` MiB of zeros, gzip-compressed (about a thousandth of that)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


def test_compressed_bodies_are_refused_everywhere(client: TestClient) -> None:
    bomb = gzip_bomb(64)
    assert len(bomb) < 200_000
    json_gzip = {"content-type": "application/json", "content-encoding": "gzip"}
    error(native(client, bomb, **json_gzip), 415, "content-encoding")
    error(v2(client, bomb, **json_gzip), 415, "content-encoding")
    r = client.put("/api/v1/endpoints/x", content=bomb, headers=json_gzip)
    error(r, 415, "content-encoding")
    r = client.post(
        "/api/v1/datasets/d/versions",
        content=bomb,
        headers={"content-type": "text/csv", "content-encoding": "gzip"},
    )
    error(r, 415, "content-encoding")
    r = client.get("/api/v1/models", headers={"content-encoding": "br"})
    error(r, 415, "content-encoding")
    # even a valid small gzip body: bodies are never inflated
    small = gzip.compress(NATIVE_BODY)
    error(native(client, small, **{"content-encoding": "gzip"}), 415, "content-encoding")
    # identity is no encoding at all
    assert native(client, NATIVE_BODY, **{"content-encoding": "identity"}).status_code == 200


# -- JSON depth ---------------------------------------------------------------------------------


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize("levels", [65, 1000, 100_000])
def test_deep_json_is_400_naming_the_field(client: TestClient, levels: int) -> None:
    deep = nested(levels)
    # past orjson's own limit (1024 levels) the parser stops first: the field is the body
    inner = "inputs" if levels < 1020 else "body"
    error(native(client, deep), 400, "body")
    error(v2(client, deep), 400, "body")
    error(native(client, b'{"inputs": ' + deep + b"}"), 400, inner)
    error(
        native(client, b'{"inputs": [' + b'{"a":' * levels + b"1" + b"}" * levels + b"]}"),
        400,
        inner,
    )
    # unknown fields are skipped by the typed decoder: a deep one must still be refused
    x = "x" if levels < 1020 else "body"
    error(native(client, b'{"inputs": [{"a": 1, "b": 2}], "x": ' + deep + b"}"), 400, x)
    # a record's extra key is refused (the endpoint's coerce is strict), however deep
    row = b'{"inputs": [{"a": 1, "b": 2, "c": ' + deep + b"}]}"
    r = native(client, row)
    assert r.status_code in (400, 422), r.text
    assert r.json()["field"] in ("c", inner, "body"), r.text
    error(native(client, b'{"x": ' + b'{"y":' * levels + b"1" + b"}" * levels + b"}"), 400, x)
    error(v2(client, b'{"inputs": ' + deep + b"}"), 400, inner)
    json = {"content-type": "application/json"}
    r = client.put("/api/v1/endpoints/x", content=b'{"model": ' + deep + b"}", headers=json)
    body = error(r, 400, "model" if levels < 900 else "body")
    assert "deeper than 64" in body["message"]
    r = client.post("/api/v1/experiments", content=deep, headers=json)
    error(r, 400, "body")


def test_nesting_up_to_the_limit_is_judged_on_its_content(client: TestClient) -> None:
    # 64 levels pass the depth check and get the protocol's own answer
    r = native(client, b'{"inputs": ' + nested(63) + b"}")
    assert r.status_code == 422, r.text
    r = client.put(
        "/api/v1/endpoints/x",
        content=b'{"model": ' + nested(63) + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422, r.text


# -- rows per request ---------------------------------------------------------------------------


def test_batches_beyond_max_batch_rows_are_413_naming_inputs(client: TestClient) -> None:
    for n in (50, 51):
        records = {"inputs": [ROW] * n}
        columns = {"inputs": {c: [ROW[c]] * n for c in COLS}}
        tensor = {
            "inputs": [
                {"name": "input-0", "shape": [n, 2], "datatype": "FP64", "data": [0.5, -1.0] * n}
            ]
        }
        answers = [
            client.post("/v1/endpoints/e/predict", json=records),
            client.post("/v1/endpoints/e/predict", json=columns),
            client.post("/v2/models/e/infer", json=tensor),
        ]
        for r in answers:
            if n == 50:
                assert r.status_code == 200, r.text
            else:
                body = error(r, 413, "inputs")
                assert "max_batch_rows" in body["message"]
    # the default (10,000) admits what the endpoint above refused
    r = client.post("/v1/endpoints/wide/predict", json={"inputs": [ROW] * 51})
    assert r.status_code == 200


def test_max_batch_rows_is_validated_when_deploying(client: TestClient) -> None:
    for bad in (0, 100_001, "many"):
        r = client.put(
            "/api/v1/endpoints/x", json={"model": "models:/m/1", "limits": {"max_batch_rows": bad}}
        )
        assert r.status_code in (400, 422), r.text
        assert "max_batch_rows" in r.json()["field"]
