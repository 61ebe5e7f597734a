"""Resilience of the real server: circuit breaker and fallbacks over a model that fails, model
failures answered without tracebacks, and a graceful drain on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from typing import Any

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import FEATURES, Models, Served, no_traceback, records, wait_for

ROW = {"inputs": [dict.fromkeys(FEATURES, 0.25), dict.fromkeys(FEATURES, -0.5)]}
V2_ROW = {"inputs": [{"name": "input-0", "shape": [1, 8], "datatype": "FP64", "data": [0.1] * 8}]}


def deploy_endpoints(ws: Any, models: Models) -> None:
    from slow_models import AlwaysFailingModel, FailingModel

    ws.registry.register_model("failing", FailingModel(), models.rows(5))
    ws.registry.register_model("unwarmable", AlwaysFailingModel(), models.rows(5))
    breaker = {"failure_threshold": 2, "reset_after_s": 600}
    failing = "models:/failing/1"
    ws.endpoints.deploy(
        "fb-model", {"model": failing, "breaker": breaker, "fallback": {"model": "models:/lr/1"}}
    )
    ws.endpoints.deploy(
        "fb-default", {"model": failing, "breaker": breaker, "fallback": {"default": 0}}
    )
    ws.endpoints.deploy("no-fb", {"model": failing, "breaker": breaker})
    ws.endpoints.deploy("unwarmable", {"model": "models:/unwarmable/1"})
    ws.endpoints.deploy(
        "unwarmable-fb", {"model": "models:/unwarmable/1", "fallback": {"model": "models:/lr/1"}}
    )
    ws.endpoints.deploy(
        "unwarmable-default", {"model": "models:/unwarmable/1", "fallback": {"default": 1}}
    )


def fallbacks(server: Served) -> dict[tuple[str, str, str], float]:
    with server.client() as client:
        text = client.get("/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name == "modelplane_fallbacks":
            for s in family.samples:
                if s.name == "modelplane_fallbacks_total":
                    key = (s.labels["endpoint"], s.labels["kind"], s.labels["reason"])
                    out[key] = s.value
    return out


def status(client: httpx.Client, endpoint: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/endpoints/{endpoint}/status")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_fallback_model_answers_and_the_breaker_opens(server: Served, models: Models) -> None:
    frame = models.rows(6, start=50)
    before = fallbacks(server)
    with server.client() as client:
        answers = [
            client.post("/v1/endpoints/fb-model/predict", json={"inputs": records(frame)})
            for _ in range(4)
        ]
        doc = status(client, "fb-model")
    for r in answers:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == "lr/1"  # the fallback's name/version
        assert body["outputs"] == models.lr.predict(frame).tolist()
        assert len(body["prediction_ids"]) == 6
    after = fallbacks(server)
    failed = ("fb-model", "model", "predict_failed")
    open_ = ("fb-model", "model", "unavailable")
    # two failures opened the breaker; then the primary is skipped altogether
    assert after.get(failed, 0) - before.get(failed, 0) == 2
    assert after.get(open_, 0) - before.get(open_, 0) == 2
    serving = doc["serving"]
    assert serving["failing/1"]["breaker"] == "open"
    assert serving["failing/1"]["role"] == "primary"
    assert serving["lr/1"]["breaker"] == "closed"
    assert serving["lr/1"]["role"] == "fallback"


def test_default_fallback_answers_when_no_model_can(server: Served) -> None:
    with server.client() as client:
        for _ in range(3):
            r = client.post("/v1/endpoints/fb-default/predict", json=ROW)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["outputs"] == [0, 0]
            assert body["model"] == "fallback/default"
            assert "probabilities" not in body
            assert len(set(body["prediction_ids"])) == 2
    assert fallbacks(server)[("fb-default", "default", "predict_failed")] >= 2


def test_model_failure_without_fallback_is_a_clean_500_then_503(server: Served) -> None:
    with server.client() as client:
        first = [client.post("/v1/endpoints/no-fb/predict", json=ROW) for _ in range(2)]
        v2 = client.post("/v2/models/no-fb/infer", json=V2_ROW)
        metrics = client.get("/metrics").text
    for r in first:
        assert r.status_code == 500, r.text
        no_traceback(r.text)
        body = r.json()
        assert body["error"] == "predict_failed"
        assert "RuntimeError" in body["message"] and "on purpose" in body["message"]
    # the breaker is open now: refused at once with a hint when to retry
    assert v2.status_code == 503, v2.text
    no_traceback(v2.text)
    # the Open Inference Protocol's error shape: "error" is the message, the code is beside it
    assert v2.json()["code"] == "unavailable" and "circuit breaker" in v2.json()["error"]
    assert int(v2.headers["retry-after"]) >= 1
    assert 'kind="model"' in metrics and 'endpoint="no-fb"' in metrics


def test_a_model_failing_its_warm_up_is_not_served(server: Served) -> None:
    """Loading warms a version up on its input example; failing that is a failed load (without
    a fallback the endpoint has nothing to serve: 503, and the reason in the status and the
    audit log)."""
    with server.client() as client:
        r = client.post("/v1/endpoints/unwarmable/predict", json=ROW)
        doc = status(client, "unwarmable")
    assert r.status_code == 503, r.text
    no_traceback(r.text)
    assert "no loadable model" in r.json()["message"]
    assert int(r.headers["retry-after"]) >= 1
    assert doc["state"] == "failed"
    assert "always failing model failed on purpose" in doc["last_error"]
    entries = server.ws.audit.list(action="endpoint.load_failed", target="endpoints/unwarmable")
    assert len(entries) == 1 and entries[0].after["still_serving"] is None

    # deleted, the endpoint is unknown (404), no longer "failed to load" (503)
    server.ws.endpoints.delete("unwarmable")
    with server.client() as client:
        r = wait_for(
            lambda: (
                (r := client.post("/v1/endpoints/unwarmable/predict", json=ROW)).status_code == 404
                and r
            ),
            what="404 for the deleted endpoint",
        )
        assert r.json()["error"] == "not_found"
        assert client.get("/api/v1/endpoints/unwarmable/status").status_code == 404


def test_an_unloadable_model_with_a_fallback_serves_degraded(
    server: Served, models: Models
) -> None:
    """No old version serves and the model fails to load: the fallback answers every request
    (counted with reason not_loaded) instead of the endpoint failing with 503."""
    with server.client() as client:
        answers = [client.post("/v1/endpoints/unwarmable-fb/predict", json=ROW) for _ in range(3)]
        v2 = client.post("/v2/models/unwarmable-fb/infer", json=V2_ROW)
        bad = client.post("/v1/endpoints/unwarmable-fb/predict", json={"inputs": [{"f0": 1}]})
        default = client.post("/v1/endpoints/unwarmable-default/predict", json=ROW)
        doc = status(client, "unwarmable-fb")
        assert client.get("/v2/health/ready").status_code == 200
    expected = models.lr.predict(pd.DataFrame(ROW["inputs"])).tolist()
    for r in answers:
        assert r.status_code == 200, r.text
        assert r.json()["model"] == "lr/1" and r.json()["outputs"] == expected
    assert v2.status_code == 200, v2.text
    assert v2.json()["model_name"] == "unwarmable-fb"
    # requests are still validated against the unloadable model's signature
    assert bad.status_code == 422, bad.text
    assert default.status_code == 200 and default.json()["outputs"] == [1, 1]
    assert default.json()["model"] == "fallback/default"

    assert doc["state"] == "degraded"
    assert "always failing model failed on purpose" in doc["last_error"]
    assert doc["serving"]["unwarmable/1"]["runtime"] == "not_loaded"
    assert doc["serving"]["unwarmable/1"]["breaker"] == "not_loaded"
    assert doc["serving"]["lr/1"]["role"] == "fallback"
    counted = fallbacks(server)
    assert counted[("unwarmable-fb", "model", "not_loaded")] >= 4
    assert counted[("unwarmable-default", "default", "not_loaded")] >= 1
    entries = server.ws.audit.list(action="endpoint.load_failed", target="endpoints/unwarmable-fb")
    assert len(entries) == 1 and entries[0].after["still_serving"] == "fallback: lr/1"


# -- graceful drain ---------------------------------------------------------------------------


def _drain_endpoints(ws: Any, models: Models) -> None:
    from slow_models import SlowModel

    ws.registry.register_model("slower", SlowModel(1.5), models.rows(3))
    ws.endpoints.deploy("slower", {"model": "models:/slower/1"})


@pytest.mark.slow
def test_graceful_drain_on_sigterm(launch: Any) -> None:
    served: Served = launch(_drain_endpoints)
    result: dict[str, Any] = {}

    def slow_request() -> None:
        try:
            with httpx.Client(base_url=served.url, timeout=30) as client:
                result["response"] = client.post("/v1/endpoints/slower/predict", json=ROW)
        except BaseException as exc:
            result["error"] = exc

    with httpx.Client(base_url=served.url, timeout=5) as probe:
        assert probe.get("/v2/health/ready").status_code == 200
        thread = threading.Thread(target=slow_request)
        thread.start()
        wait_for(
            lambda: (
                'modelplane_queue_rows{endpoint="slower",version="1"} 2.0'
                in probe.get("/metrics").text
                or "response" in result
            ),
            what="the slow request in flight",
        )
        assert "response" not in result  # still in flight
        os.kill(served.proc.pid, signal.SIGTERM)
        # readiness turns 503 at once, while the in-flight request is still running
        r = wait_for(
            lambda: (r := probe.get("/v2/health/ready")).status_code == 503 and r,
            timeout=5,
            what="readiness 503",
        )
        assert r.json() == {"ready": False, "draining": True}
        assert "response" not in result
        assert probe.get("/v2/health/live").status_code == 200  # draining, still answering
    thread.join(30)
    assert "error" not in result, result.get("error")
    answer = result["response"]
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"] == [0, 0]
    try:
        code = served.proc.wait(1 + 5)  # --drain-seconds 1, plus a few seconds
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server did not exit after SIGTERM:\n{served.stderr()}")
    assert code == 0, served.stderr()
    no_traceback(served.stderr())
