"""Bad, hostile and oversized requests against the real server: every one is answered with a 4xx
JSON body naming the problem (or 503/504 for overload and time limits) — never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from .conftest import FEATURES, Models, Served, no_traceback, records

SMALL_LIMIT = 2048


def deploy_endpoints(ws: Any, models: Models) -> None:
    from slow_models import SlowModel

    ws.registry.register_model("slow", SlowModel(), models.rows(5))
    ws.endpoints.deploy("lr", {"model": "models:/lr@champion", "batching": {"max_batch_size": 256}})
    ws.endpoints.deploy(
        "small", {"model": "models:/lr@champion", "limits": {"max_request_bytes": SMALL_LIMIT}}
    )
    ws.endpoints.deploy("slow-queue", {"model": "models:/slow/1", "limits": {"max_queue_rows": 1}})
    ws.endpoints.deploy("slow-timeout", {"model": "models:/slow/1", "limits": {"timeout_ms": 50}})


STATUSES: list[int] = []


def _record(response: httpx.Response) -> None:
    STATUSES.append(response.status_code)


@pytest.fixture
def client(server: Served) -> Iterator[httpx.Client]:
    """A client whose every answer is collected; no test of this file may see a 500."""
    start = len(STATUSES)
    with server.client(event_hooks={"response": [_record]}) as c:
        yield c
    assert 500 not in STATUSES[start:], STATUSES[start:]


def assert_error(r: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    no_traceback(r.text)
    body: dict[str, Any] = r.json()
    if r.request.url.path.startswith("/v2/"):
        # the Open Inference Protocol's shape: "error" is the message, the code beside it;
        # returned in the native shape so the checks below read the same for both
        assert isinstance(body["error"], str) and isinstance(body["code"], str), body
        assert "message" not in body, body
        body = {**body, "error": body["code"], "message": body["error"]}
    else:
        assert isinstance(body["error"], str) and isinstance(body["message"], str)
    if field is not None:
        assert body.get("field") == field, body
    return body


def post_raw(client: httpx.Client, endpoint: str, content: Any) -> httpx.Response:
    return client.post(
        f"/v1/endpoints/{endpoint}/predict",
        content=content,
        headers={"content-type": "application/json"},
    )


def one_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(FEATURES, 0.5)
    row.update(overrides)
    return row


# -- malformed and invalid input ----------------------------------------------------------------


def test_malformed_json_is_400_naming_the_body(client: httpx.Client) -> None:
    for content in (b'{"inputs": [', b"", b"not json", b'{"inputs": [{"f0": 1,}]}'):
        body = assert_error(post_raw(client, "lr", content), 400, "body")
        assert body["error"] == "invalid_input"


def test_missing_column_is_422_naming_it(client: httpx.Client) -> None:
    row = one_row()
    del row["f3"]
    r = client.post("/v1/endpoints/lr/predict", json={"inputs": [one_row(), row]})
    body = assert_error(r, 422, "f3")
    assert "inputs[1]" in body["message"]
    cols = {c: [0.1] for c in FEATURES if c != "f5"}
    assert_error(client.post("/v1/endpoints/lr/predict", json={"inputs": cols}), 422, "f5")


def test_wrong_type_is_422_naming_the_field(client: httpx.Client) -> None:
    r = client.post("/v1/endpoints/lr/predict", json={"inputs": [one_row(f2="abc")]})
    body = assert_error(r, 422, "f2")
    assert "number" in body["message"]
    cols = {c: [0.1, 0.2] for c in FEATURES}
    cols["f6"] = [0.1, "abc"]
    assert_error(client.post("/v1/endpoints/lr/predict", json={"inputs": cols}), 422, "f6")
    for bad in ([1.0], {"x": 1}, "1,5"):
        r = client.post("/v1/endpoints/lr/predict", json={"inputs": [one_row(f1=bad)]})
        assert_error(r, 422, "f1")


def test_null_and_nan_are_refused(client: httpx.Client) -> None:
    r = client.post("/v1/endpoints/lr/predict", json={"inputs": [one_row(f4=None)]})
    body = assert_error(r, 422, "f4")
    assert "null" in body["message"]
    cols = {c: [0.1, 0.2] for c in FEATURES}
    cols["f7"] = [0.1, None]
    assert_error(client.post("/v1/endpoints/lr/predict", json={"inputs": cols}), 422, "f7")
    # NaN and Infinity are not JSON: Python's json module writes them anyway.
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        content = b'{"inputs": [{"f0": %s, "f1": 1}]}' % literal
        assert_error(post_raw(client, "lr", content), 400, "body")
    r = client.post("/v1/endpoints/lr/predict", json={"inputs": [one_row(f0="NaN")]})
    assert_error(r, 422, "f0")


def test_hostile_payloads_are_4xx_json(client: httpx.Client) -> None:
    row = b", ".join(b'"%s": 1' % c.encode() for c in FEATURES[1:])
    cases = [
        b"[" * 100_000,  # deep nesting
        b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"inputs": [{"f0": 1e999, ' + row + b"}]}",  # a number beyond float64
        b'{"inputs": [{"f0": ' + b"9" * 5000 + b", " + row + b"}]}",
        b'{"inputs": [{"f0": "\\ud800", ' + row + b"}]}",  # a lone surrogate
        b"\xff\xfe\x00garbage\xc3\x28",  # not UTF-8
        '{"inputs": [{"f0": "☃💥\u202e", "ｆ1": 1}]}'.encode(),
        b'{"inputs": {"f0": "x"}}',
        b'{"inputs": {}}',
        b'{"inputs": []}',
        b'{"inputs": [1, 2, 3]}',
        b'{"inputs": "f0"}',
        b'{"rows": []}',
        b"[]",
        b"null",
        b"12",
    ]
    for content in cases:
        r = post_raw(client, "lr", content)
        assert 400 <= r.status_code < 500, (content[:60], r.status_code, r.text)
        body = assert_error(r, r.status_code)
        assert body.get("field"), body
    # the same on the v2 route
    for content in cases[:3]:
        r = client.post(
            "/v2/models/lr/infer", content=content, headers={"content-type": "application/json"}
        )
        assert 400 <= r.status_code < 500, (content[:60], r.status_code, r.text)


def test_bad_v2_tensors_are_4xx(client: httpx.Client) -> None:
    def infer(inputs: Any) -> httpx.Response:
        return client.post("/v2/models/lr/infer", json={"inputs": inputs})

    good = {"name": "input-0", "shape": [1, 8], "datatype": "FP64", "data": [0.5] * 8}
    assert infer([good]).status_code == 200
    assert_error(infer([{**good, "shape": [2, 8]}]), 422, "input-0.data")
    assert_error(infer([{**good, "shape": [1, 4], "data": [0.5] * 4}]), 422, "input-0.shape")
    assert_error(infer([{**good, "datatype": "FP99"}]), 422, "input-0.datatype")
    assert_error(infer([{**good, "data": ["a"] * 8}]), 422, "input-0.data")
    # text for a numeric model is the caller's error, not the model's (never a 500)
    assert_error(infer([{**good, "datatype": "BYTES", "data": ["a"] * 8}]), 422, "input-0.data")
    # numbers written as text are refused under the default coerce "strict" (accepted under "safe")
    assert_error(infer([{**good, "datatype": "BYTES", "data": ["0.5"] * 8}]), 422, "input-0.data")
    assert_error(infer([{**good, "shape": [-1, 8]}]), 422, "input-0.shape")
    assert_error(infer([{"name": "input-0"}]), 422, "inputs[0]")
    r = client.post("/v2/models/lr/infer", json={"inputs": [good], "outputs": [{"name": "x"}]})
    assert_error(r, 422, "outputs[0]")


# -- sizes --------------------------------------------------------------------------------------


def test_body_over_the_limit_is_413(client: httpx.Client, models: Models) -> None:
    small = {"inputs": records(models.rows(2))}
    assert client.post("/v1/endpoints/small/predict", json=small).status_code == 200
    big = {"inputs": records(models.rows(40))}
    body = assert_error(client.post("/v1/endpoints/small/predict", json=big), 413, "body")
    assert str(SMALL_LIMIT) in body["message"]
    # the same endpoint over v2
    frame = models.rows(40)
    v2 = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(frame.shape),
                "datatype": "FP64",
                "data": frame.to_numpy().ravel().tolist(),
            }
        ]
    }
    assert_error(client.post("/v2/models/small/infer", json=v2), 413, "body")
    # the default limit still admits the same body on another endpoint
    assert client.post("/v1/endpoints/lr/predict", json=big).status_code == 200


def test_chunked_body_over_the_limit_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"inputs": ['
        for _ in range(200):
            yield b'{"f0": 1, "f1": 2, "f2": 3, "f3": 4, "f4": 5, "f5": 6, "f6": 7, "f7": 8},'
        yield b'{"f0": 1, "f1": 2, "f2": 3, "f3": 4, "f4": 5, "f5": 6, "f6": 7, "f7": 8}]}'

    r = client.post(
        "/v1/endpoints/small/predict",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert_error(r, 413, "body")

    def small_chunks() -> Iterator[bytes]:
        yield b'{"inputs": [{"f0": 1, "f1": 2, "f2": 3, "f3": 4, '
        yield b'"f4": 5, "f5": 6, "f6": 7, "f7": 8}]}'

    r = client.post(
        "/v1/endpoints/small/predict",
        content=small_chunks(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text


def test_unknown_endpoint_is_404(client: httpx.Client) -> None:
    row = {"inputs": [one_row()]}
    body = assert_error(client.post("/v1/endpoints/nope/predict", json=row), 404, "endpoint")
    assert "nope" in body["message"]
    assert_error(client.post("/v2/models/nope/infer", json=row), 404, "endpoint")
    assert_error(client.post("/v2/models/nope/versions/1/infer", json=row), 404, "endpoint")
    assert_error(client.get("/v2/models/nope"), 404)
    assert_error(client.get("/api/v1/endpoints/nope/status"), 404)


def test_ten_thousand_rows_are_split_and_answered(client: httpx.Client, models: Models) -> None:
    X = models.data.X
    frame = X.sample(10_000, replace=True, random_state=1).reset_index(drop=True)
    frame.iloc[:, 0] += np.linspace(-0.01, 0.01, len(frame))  # distinct rows
    r = client.post("/v1/endpoints/lr/predict", json={"inputs": records(frame)})
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert len(body["outputs"]) == 10_000
    assert len(set(body["prediction_ids"])) == 10_000
    np.testing.assert_array_equal(body["outputs"], models.lr.predict(frame))
    np.testing.assert_allclose(body["probabilities"], models.lr.predict_proba(frame), atol=1e-5)


# -- overload and time limits ---------------------------------------------------------------------


def test_full_queue_is_503_with_retry_after(server: Served) -> None:
    async def fire() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as ac:
            return await asyncio.gather(
                *(
                    ac.post("/v1/endpoints/slow-queue/predict", json={"inputs": [one_row()]})
                    for _ in range(20)
                )
            )

    answers = asyncio.run(fire())
    STATUSES.extend(r.status_code for r in answers)
    codes = sorted(r.status_code for r in answers)
    assert set(codes) <= {200, 503}, codes
    assert codes.count(503) >= 1 and codes.count(200) >= 1, codes
    for r in answers:
        if r.status_code == 503:
            assert int(r.headers["retry-after"]) >= 1
            assert_error(r, 503)
        else:
            assert r.json()["outputs"] == [0]


def test_model_over_its_time_limit_is_504(client: httpx.Client) -> None:
    r = client.post("/v1/endpoints/slow-timeout/predict", json={"inputs": [one_row()]})
    body = assert_error(r, 504)
    assert body["error"] == "timeout"
    assert "50 ms" in body["message"]


def test_no_500_in_this_module(client: httpx.Client) -> None:
    """The server's own count agrees: no 500 answered to anything this module sent."""
    text = client.get("/metrics").text
    lines = [ln for ln in text.splitlines() if ln.startswith("modelplane_requests_total{")]
    assert lines
    assert not [ln for ln in lines if 'code="500"' in ln], lines
    assert 500 not in STATUSES
