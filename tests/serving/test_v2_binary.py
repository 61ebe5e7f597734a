"""Open Inference Protocol v2: the binary tensor data extension that standard clients use by
default (tritonclient sends inputs and asks for outputs as raw bytes). Requests are built and
answers parsed with tritonclient's own helpers, so the wire format is the client's, not ours."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import modelplane as mp

tritonhttp = pytest.importorskip("tritonclient.http")


@pytest.fixture
def served(home: Path) -> Iterator[tuple[Any, LogisticRegression, np.ndarray]]:
    from fastapi.testclient import TestClient

    from modelplane.serving.app import create_app

    ws = mp.configure(home=home)
    X, y = make_classification(n_samples=400, n_features=6, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    model = LogisticRegression().fit(frame, y)
    mp.register_model("m", model, frame.head(50))
    ws.endpoints.deploy("m", {"model": "models:/m/1"})
    with TestClient(create_app(ws, poll_interval=0.2), base_url="http://127.0.0.1") as client:
        yield client, model, X
    ws.close()


def _infer(client: Any, body: bytes, json_size: int | None) -> Any:
    headers = {"Content-Type": "application/octet-stream"}
    if json_size is not None:
        headers["Inference-Header-Content-Length"] = str(json_size)
    return client.post("/v2/models/m/infer", content=body, headers=headers)


@pytest.mark.parametrize("dtype", ["FP64", "FP32"])
def test_binary_inputs_and_outputs(served: Any, dtype: str) -> None:
    client, model, X = served
    rows = X[:7].astype(np.float64 if dtype == "FP64" else np.float32)
    inp = tritonhttp.InferInput("input-0", list(rows.shape), dtype)
    inp.set_data_from_numpy(rows, binary_data=True)
    outputs = [
        tritonhttp.InferRequestedOutput("predict"),
        tritonhttp.InferRequestedOutput("probabilities"),
    ]
    body, json_size = tritonhttp.InferenceServerClient.generate_request_body([inp], outputs=outputs)
    answer = _infer(client, body, json_size)
    assert answer.status_code == 200, answer.text
    length = answer.headers.get("inference-header-content-length")
    assert length is not None
    result = tritonhttp.InferenceServerClient.parse_response_body(
        answer.content, header_length=int(length)
    )
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(X[:7]))
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), model.predict_proba(X[:7]), atol=1e-5
    )


def test_default_request_asks_all_outputs_in_binary(served: Any) -> None:
    client, model, X = served
    inp = tritonhttp.InferInput("input-0", [3, 6], "FP64")
    inp.set_data_from_numpy(X[:3], binary_data=True)
    body, json_size = tritonhttp.InferenceServerClient.generate_request_body([inp])
    answer = _infer(client, body, json_size)
    assert answer.status_code == 200, answer.text
    result = tritonhttp.InferenceServerClient.parse_response_body(
        answer.content, header_length=int(answer.headers["inference-header-content-length"])
    )
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(X[:3]))
    assert result.get_response()["parameters"]["prediction_ids"]


def test_mixed_json_input_binary_output(served: Any) -> None:
    client, model, X = served
    inp = tritonhttp.InferInput("input-0", [2, 6], "FP64")
    inp.set_data_from_numpy(X[:2], binary_data=False)
    out = tritonhttp.InferRequestedOutput("predict", binary_data=True)
    body, json_size = tritonhttp.InferenceServerClient.generate_request_body([inp], outputs=[out])
    answer = _infer(client, body, json_size)
    assert answer.status_code == 200, answer.text
    result = tritonhttp.InferenceServerClient.parse_response_body(
        answer.content, header_length=int(answer.headers["inference-header-content-length"])
    )
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(X[:2]))


@pytest.mark.parametrize(
    ("mutate", "header"),
    [
        (lambda body, n: body[:-8], None),  # truncated tensor bytes
        (lambda body, n: body + b"\x00" * 8, None),  # bytes that belong to no input
        (lambda body, n: body, "99999999"),  # header longer than the body
        (lambda body, n: body, "0"),
        (lambda body, n: body, "abc"),
        (lambda body, n: b"\xff" * n + body[n:], None),  # the JSON part is garbage
    ],
)
def test_malformed_binary_requests_are_4xx(served: Any, mutate: Any, header: str | None) -> None:
    client, _, X = served
    inp = tritonhttp.InferInput("input-0", [2, 6], "FP64")
    inp.set_data_from_numpy(X[:2], binary_data=True)
    body, json_size = tritonhttp.InferenceServerClient.generate_request_body([inp])
    headers = {"Inference-Header-Content-Length": header or str(json_size)}
    answer = client.post("/v2/models/m/infer", content=mutate(body, json_size), headers=headers)
    assert 400 <= answer.status_code < 500, answer.text
    assert "error" in answer.json()
