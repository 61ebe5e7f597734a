"""Prometheus metrics of the server, correct across ``--workers N``.

With several workers, ``modelplane serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder
before the workers start; prometheus-client then keeps each worker's values in files there and
``/metrics`` merges them (counters and histograms summed, gauges summed over live processes).
Per (endpoint, version) label children are created once and cached by the model handle, so the
hot path pays a histogram ``observe`` and two counter increments, nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _mp

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@dataclass
class VersionMetrics:
    """Label children for one (endpoint, version): bound once, used per request."""

    latency: Any
    rows: Any
    batch_rows: Any
    predict_seconds: Any
    queue: Any

    def observe_batch(self, rows: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.predict_seconds.observe(seconds)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "modelplane_requests",
            "Prediction requests answered, by endpoint, model version, protocol and status code.",
            ["endpoint", "version", "protocol", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "modelplane_request_duration_seconds",
            "Time from request received to answer sent (successful predictions).",
            ["endpoint", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rows = Counter(
            "modelplane_predictions",
            "Rows predicted (one prediction id each).",
            ["endpoint", "version"],
            registry=r,
        )
        self.errors = Counter(
            "modelplane_errors",
            "Failed predictions by kind (client, model, timeout, overload, unavailable).",
            ["endpoint", "version", "kind"],
            registry=r,
        )
        self.batch_rows = Histogram(
            "modelplane_batch_rows",
            "Rows per model call (adaptive batching).",
            ["endpoint", "version"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.predict_seconds = Histogram(
            "modelplane_model_call_seconds",
            "Time of one model call on a batch.",
            ["endpoint", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue = Gauge(
            "modelplane_queue_rows",
            "Rows waiting for the model or in it (updated as batches are taken and answered).",
            ["endpoint", "version"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.load_seconds = Gauge(
            "modelplane_model_load_seconds",
            "Time to load, convert and warm a model version.",
            ["endpoint", "version", "runtime"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.loads = Counter(
            "modelplane_model_loads",
            "Model version loads by outcome (ok, failed).",
            ["endpoint", "version", "outcome"],
            registry=r,
        )
        self.fallbacks = Counter(
            "modelplane_fallbacks",
            "Answers given by the fallback (model or default) instead of the primary model.",
            ["endpoint", "kind", "reason"],
            registry=r,
        )
        self.breaker_open = Gauge(
            "modelplane_circuit_open",
            "1 while the circuit breaker of a model version is open.",
            ["endpoint", "version"],
            registry=r,
            multiprocess_mode="livemax",
        )

        self.denials = Counter(
            "modelplane_auth_denials",
            "Requests refused at the door: no, bad, expired or revoked token (401), too low a "
            "role or out of scope (403), rate limited (429), by status and reason.",
            ["code", "reason"],
            registry=r,
        )

    def for_version(self, endpoint: str, version: str) -> VersionMetrics:
        return VersionMetrics(
            latency=self.latency.labels(endpoint, version),
            rows=self.rows.labels(endpoint, version),
            batch_rows=self.batch_rows.labels(endpoint, version),
            predict_seconds=self.predict_seconds.labels(endpoint, version),
            queue=self.queue.labels(endpoint, version),
        )

    def exposition(self) -> bytes:
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        _mp.MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(merged)
