"""Wire protocols of the real server: native JSON (records and columns), the Open Inference
Protocol v2 through tritonclient (a client written elsewhere) and raw HTTP, OpenAPI and docs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from .conftest import Models, Served, columns, records

MIXED_COLUMNS = ["color", "f0", "f1", "f2"]


def _mixed_frame(models: Models, n: int, start: int = 0) -> pd.DataFrame:
    frame = models.rows(n, start)[["f0", "f1", "f2"]].copy()
    colors = np.array(["red", "green", "blue"])
    frame.insert(0, "color", colors[np.arange(start, start + n) % 3])
    return frame


def deploy_endpoints(ws: Any, models: Models) -> None:
    """``lr``, ``rf`` and ``mixed``: a pipeline over a string column and three numbers."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    X = _mixed_frame(models, 2000)
    mixed = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("color", OneHotEncoder(handle_unknown="ignore"), ["color"])],
                    remainder="passthrough",
                ),
            ),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    ).fit(X, models.data.y)
    models.extra["mixed"] = mixed
    ws.registry.register_model("mixed", mixed, X.head(50))
    ws.endpoints.deploy("lr", {"model": "models:/lr@champion"})
    ws.endpoints.deploy("rf", {"model": "models:/rf@champion"})
    ws.endpoints.deploy("mixed", {"model": "models:/mixed/1"})


def _check_native(body: dict[str, Any], model: Any, frame: pd.DataFrame, label: str) -> None:
    assert body["model"] == label
    np.testing.assert_array_equal(np.asarray(body["outputs"]), model.predict(frame))
    np.testing.assert_allclose(
        np.asarray(body["probabilities"]), model.predict_proba(frame), atol=1e-5
    )
    ids = body["prediction_ids"]
    assert len(ids) == len(frame) and len(set(ids)) == len(frame)
    assert all(isinstance(i, str) and i for i in ids)


# -- native JSON --------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["lr", "rf"])
def test_native_records_and_columns_match_the_model(
    server: Served, models: Models, endpoint: str
) -> None:
    model = getattr(models, endpoint)
    frame = models.rows(37, start=100)
    seen: set[str] = set()
    with server.client() as client:
        for payload in (records(frame), columns(frame)):
            r = client.post(f"/v1/endpoints/{endpoint}/predict", json={"inputs": payload})
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("application/json")
            body = r.json()
            _check_native(body, model, frame, f"{endpoint}/1")
            seen.update(body["prediction_ids"])
        r = client.post(f"/v1/endpoints/{endpoint}/predict", json={"inputs": records(frame[:1])})
        assert r.status_code == 200, r.text
        _check_native(r.json(), model, frame[:1], f"{endpoint}/1")
        seen.update(r.json()["prediction_ids"])
    assert len(seen) == 2 * 37 + 1  # unique across requests too


def test_native_records_in_any_key_order(server: Served, models: Models) -> None:
    frame = models.rows(5, start=7)
    shuffled = [dict(reversed(list(r.items()))) for r in records(frame)]
    with server.client() as client:
        r = client.post("/v1/endpoints/lr/predict", json={"inputs": shuffled})
    assert r.status_code == 200, r.text
    _check_native(r.json(), models.lr, frame, "lr/1")


def test_native_mixed_types(server: Served, models: Models) -> None:
    frame = _mixed_frame(models, 12, start=40)
    payload = [
        {"color": c, "f0": float(a), "f1": float(b), "f2": float(d)}
        for c, a, b, d in frame.itertuples(index=False)
    ]
    with server.client() as client:
        r = client.post("/v1/endpoints/mixed/predict", json={"inputs": payload})
    assert r.status_code == 200, r.text
    _check_native(r.json(), models.extra["mixed"], frame, "mixed/1")


def test_mixed_types_bad_values_are_the_callers_error(server: Served) -> None:
    """Wrong values for a model with text columns are 422 naming the column — never a model
    failure (500), so bad callers cannot open the endpoint's circuit breaker either."""
    good = {"color": "red", "f0": 0.1, "f1": 0.2, "f2": 0.3}
    cases = [
        ({**good, "color": 5}, "color"),
        ({**good, "color": ["red"]}, "color"),
        ({**good, "color": {"a": 1}}, "color"),
        ({**good, "f1": "abc"}, "f1"),
        ({**good, "f2": [1.0]}, "f2"),
    ]
    with server.client() as client:
        for _ in range(2):  # 10 failures: beyond the breaker's threshold, were they counted
            for row, field in cases:
                r = client.post("/v1/endpoints/mixed/predict", json={"inputs": [good, row]})
                assert r.status_code == 422, (row, r.text)
                assert r.json()["field"] == field
        r = client.post(
            "/v2/models/mixed/infer",
            json={
                "inputs": [
                    {"name": "color", "shape": [1], "datatype": "BYTES", "data": [7]},
                    *(
                        {"name": c, "shape": [1], "datatype": "FP64", "data": [0.1]}
                        for c in MIXED_COLUMNS[1:]
                    ),
                ]
            },
        )
        assert r.status_code == 422 and r.json()["field"] == "color", r.text
        r = client.post(
            "/v1/endpoints/mixed/predict", json={"inputs": [good, {**good, "color": None}]}
        )
        assert r.status_code == 200, r.text
        assert r.json()["model"] == "mixed/1"
        doc = client.get("/api/v1/endpoints/mixed/status").json()
    assert doc["serving"]["mixed/1"]["breaker"] == "closed"


# -- Open Inference Protocol v2 through tritonclient ----------------------------------------------


@pytest.fixture(scope="module")
def triton(server: Served) -> Any:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    yield client
    client.close()


def _infer_input(frame: pd.DataFrame, datatype: str = "FP64") -> Any:
    import tritonclient.http as httpclient

    dtype = np.float32 if datatype == "FP32" else np.float64
    tensor = httpclient.InferInput("input-0", list(frame.shape), datatype)
    tensor.set_data_from_numpy(frame.to_numpy(dtype=dtype), binary_data=False)
    return tensor


def _requested(*names: str) -> list[Any]:
    import tritonclient.http as httpclient

    return [httpclient.InferRequestedOutput(n, binary_data=False) for n in names]


def test_v2_health_and_metadata(triton: Any) -> None:
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.is_model_ready("lr")
    assert triton.is_model_ready("lr", model_version="1")
    assert not triton.is_model_ready("no-such-endpoint")
    meta = triton.get_model_metadata("lr")
    assert meta["name"] == "lr"
    assert meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 8]}]
    names = {o["name"] for o in meta["outputs"]}
    assert names == {"predict", "probabilities"}
    assert triton.get_model_metadata("lr", model_version="1")["name"] == "lr"
    server_meta = triton.get_server_metadata()
    assert server_meta["name"] == "modelplane"


@pytest.mark.parametrize("endpoint", ["lr", "rf"])
def test_v2_infer_with_tritonclient(triton: Any, models: Models, endpoint: str) -> None:
    model = getattr(models, endpoint)
    frame = models.rows(25, start=300)
    result = triton.infer(
        endpoint,
        [_infer_input(frame)],
        outputs=_requested("predict", "probabilities"),
        request_id="req-1",
    )
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(frame))
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), model.predict_proba(frame), atol=1e-5
    )
    response = result.get_response()
    # the answer's tensors are what the model metadata declares
    declared = {o["name"]: o["datatype"] for o in triton.get_model_metadata(endpoint)["outputs"]}
    assert {o["name"]: o["datatype"] for o in response["outputs"]} == declared
    assert response["model_name"] == endpoint
    assert response["model_version"] == "1"
    assert response["id"] == "req-1"
    ids = response["parameters"]["prediction_ids"]
    assert len(ids) == 25 and len(set(ids)) == 25


def test_v2_infer_model_version_path_fp32_and_output_subset(triton: Any, models: Models) -> None:
    from tritonclient.utils import InferenceServerException

    frame = models.rows(10, start=500)
    result = triton.infer(
        "lr", [_infer_input(frame)], model_version="1", outputs=_requested("probabilities")
    )
    assert result.as_numpy("predict") is None
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), models.lr.predict_proba(frame), atol=1e-5
    )

    as32 = frame.astype(np.float32)
    result = triton.infer("lr", [_infer_input(frame, "FP32")], outputs=_requested("predict"))
    assert result.as_numpy("probabilities") is None
    np.testing.assert_array_equal(result.as_numpy("predict"), models.lr.predict(as32))

    result = triton.infer("rf", [_infer_input(frame)])  # no outputs named: all of them
    assert {o["name"] for o in result.get_response()["outputs"]} == {"predict", "probabilities"}

    with pytest.raises(InferenceServerException) as err:
        triton.infer("lr", [_infer_input(frame)], model_version="7")
    # v2 error bodies carry the message in "error": the client shows it, not a bare code
    assert err.value.message() == "endpoint 'lr' serves version 1, not 7"
    assert err.value.status() == "404"


def test_v2_per_column_inputs_over_raw_http(server: Served, models: Models) -> None:
    frame = _mixed_frame(models, 9, start=21)
    n = len(frame)
    inputs = [
        {"name": "color", "shape": [n], "datatype": "BYTES", "data": list(frame["color"])},
        *(
            {"name": c, "shape": [n, 1], "datatype": "FP64", "data": [[float(v)] for v in frame[c]]}
            for c in ("f0", "f1", "f2")
        ),
    ]
    with server.client() as client:
        meta = client.get("/v2/models/mixed").json()
        assert {i["name"] for i in meta["inputs"]} == set(MIXED_COLUMNS)
        assert next(i for i in meta["inputs"] if i["name"] == "color")["datatype"] == "BYTES"
        r = client.post(
            "/v2/models/mixed/infer",
            json={"id": "x", "inputs": inputs, "outputs": [{"name": "predict"}]},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_name"] == "mixed" and body["id"] == "x"
    (out,) = body["outputs"]
    assert out["name"] == "predict" and out["shape"] == [n]
    np.testing.assert_array_equal(out["data"], models.extra["mixed"].predict(frame))


def test_v2_with_tritonclient_defaults(triton: Any, models: Models) -> None:
    """tritonclient's defaults: binary input tensors, all outputs asked for as binary data (the
    binary tensor data extension, announced in the server metadata)."""
    import tritonclient.http as httpclient

    rows = models.rows(4)
    tensor = httpclient.InferInput("input-0", [4, 8], "FP64")
    tensor.set_data_from_numpy(rows.to_numpy())  # binary_data=True by default
    result = triton.infer("lr", [tensor])  # no outputs given: every output, in binary
    np.testing.assert_array_equal(result.as_numpy("predict"), models.lr.predict(rows))
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), models.lr.predict_proba(rows), atol=1e-5
    )
    assert "binary_tensor_data" in triton.get_server_metadata()["extensions"]


# -- OpenAPI and docs -----------------------------------------------------------------------------


def test_openapi_lists_the_data_plane_and_docs_answer(server: Served) -> None:
    with server.client() as client:
        spec = client.get("/openapi.json")
        docs = client.get("/docs")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert "post" in paths["/v1/endpoints/{endpoint}/predict"]
    assert "post" in paths["/v2/models/{endpoint}/infer"]
    assert "post" in paths["/v2/models/{endpoint}/versions/{version}/infer"]
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/{endpoint}", "/metrics"):
        assert "get" in paths[path], path
    assert any(p.startswith("/api/v1/") for p in paths)
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
