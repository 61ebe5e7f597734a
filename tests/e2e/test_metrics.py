"""Prometheus metrics of the real server: the families and labels after some traffic, no series
created by callers, and exact request counts merged across ``--workers 2``."""

from __future__ import annotations

import socket
import time
from collections import defaultdict
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import FEATURES, Models, Served, records

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(client: httpx.Client) -> Samples:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: Samples = defaultdict(list)
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[s.name].append((dict(s.labels), s.value))
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if labels.items() <= lab.items())


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_metric_families_after_traffic(server: Served, models: Models) -> None:
    good = {"inputs": records(models.rows(7))}
    bad = {"inputs": [dict.fromkeys(FEATURES, "abc")]}
    frame = models.rows(3)
    v2 = {
        "inputs": [
            {
                "name": "input-0",
                "shape": [3, 8],
                "datatype": "FP64",
                "data": frame.to_numpy().ravel().tolist(),
            }
        ]
    }
    with server.client() as client:
        before = scrape(client)
        for _ in range(5):
            assert client.post("/v1/endpoints/lr/predict", json=good).status_code == 200
        for _ in range(3):
            assert client.post("/v2/models/rf/infer", json=v2).status_code == 200
        for _ in range(2):
            assert client.post("/v1/endpoints/lr/predict", json=bad).status_code == 422
        assert client.post("/v1/endpoints/random123/predict", json=good).status_code == 404
        assert client.post("/v2/models/random456/versions/9/infer", json=v2).status_code == 404
        after = scrape(client)

    requests = "modelplane_requests_total"
    assert (
        delta(before, after, requests, endpoint="lr", version="1", protocol="native", code="200")
        == 5
    )
    assert (
        delta(before, after, requests, endpoint="rf", version="1", protocol="v2", code="200") == 3
    )
    assert delta(before, after, requests, endpoint="lr", code="422") == 2
    assert delta(before, after, requests, endpoint="(unknown)", code="404") == 2
    errors = "modelplane_errors_total"
    assert delta(before, after, errors, endpoint="lr", kind="client") == 2
    assert delta(before, after, errors, endpoint="(unknown)", kind="client") == 2
    assert delta(before, after, errors, kind="model") == 0
    # rows predicted: one prediction id each
    assert delta(before, after, "modelplane_predictions_total", endpoint="lr") == 35
    assert delta(before, after, "modelplane_predictions_total", endpoint="rf") == 9

    # latency histogram: cumulative buckets up to +Inf, one observation per good request
    buckets = [
        (lab["le"], v)
        for lab, v in after["modelplane_request_duration_seconds_bucket"]
        if lab["endpoint"] == "lr" and lab["version"] == "1"
    ]
    assert len(buckets) >= 10 and buckets[-1][0] == "+Inf"
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)
    duration = "modelplane_request_duration_seconds_count"
    assert delta(before, after, duration, endpoint="lr") == 5
    assert value(after, "modelplane_request_duration_seconds_sum", endpoint="lr") > 0

    # batching: rows per model call
    assert value(after, "modelplane_batch_rows_count", endpoint="lr") >= 1
    assert delta(before, after, "modelplane_batch_rows_sum", endpoint="lr") == 35
    assert any(lab["endpoint"] == "rf" for lab, _ in after["modelplane_batch_rows_bucket"])
    assert value(after, "modelplane_model_call_seconds_count", endpoint="rf") >= 1

    # gauges: nothing queued now; load times per runtime
    queue = [v for lab, v in after["modelplane_queue_rows"] if lab["endpoint"] == "lr"]
    assert queue == [0.0]
    loads = {
        lab["endpoint"]: (lab["runtime"], v) for lab, v in after["modelplane_model_load_seconds"]
    }
    assert set(loads) >= {"lr", "rf"}
    assert all(v > 0 and runtime for runtime, v in loads.values())
    assert value(after, "modelplane_model_loads_total", endpoint="lr", outcome="ok") == 1

    # callers cannot create label values: unknown names are folded into "(unknown)"
    for name, series in after.items():
        for lab, _ in series:
            assert "random123" not in lab.values(), (name, lab)
            assert "random456" not in lab.values() and lab.get("version") != "9", (name, lab)


def test_refusals_before_parsing_are_counted(server: Served) -> None:
    with server.client() as client:
        before = scrape(client)
        # a declared Content-Length over the limit is refused before any byte of the body is read
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /v1/endpoints/lr/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{"
            )
            head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 413"), head
        after = scrape(client)
    assert delta(before, after, "modelplane_requests_total", endpoint="lr", code="413") == 1
    assert delta(before, after, "modelplane_errors_total", endpoint="lr", kind="client") == 1


def _fresh_connection_client(served: Served) -> httpx.Client:
    # no keep-alive: every request is a new connection, which either worker may accept
    return served.client(limits=httpx.Limits(max_keepalive_connections=0))


@pytest.mark.slow
def test_counts_are_merged_across_two_workers(launch: Any, models: Models) -> None:
    served: Served = launch(args=("--workers", "2"))
    body = {"inputs": records(models.rows(2))}
    prefixes: set[str] = set()
    sent = 0
    with _fresh_connection_client(served) as client:
        # until both workers have answered (the prediction id prefix is per process); the
        # second worker may still be loading its model when the first reports ready
        deadline = time.monotonic() + 60
        while sent < 40 or (len(prefixes) < 2 and time.monotonic() < deadline):
            r = client.post("/v1/endpoints/lr/predict", json=body)
            assert r.status_code == 200, r.text
            sent += 1
            prefixes.update(i.rsplit("-", 1)[0] for i in r.json()["prediction_ids"])
        assert len(prefixes) == 2, f"one worker answered all {sent} requests"
        for _ in range(8):  # whichever worker answers the scrape, it reports both
            samples = scrape(client)
            total = value(samples, "modelplane_requests_total", endpoint="lr", code="200")
            assert total == sent
            assert value(samples, "modelplane_predictions_total", endpoint="lr") == 2 * sent
            assert (
                value(samples, "modelplane_request_duration_seconds_count", endpoint="lr") == sent
            )
            assert value(samples, "modelplane_model_loads_total", endpoint="lr", outcome="ok") == 2
