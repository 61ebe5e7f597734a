"""An endpoint's live numbers for the dashboard, from the server's own Prometheus metrics.

The counters and histograms are read where ``/metrics`` reads them: this process's registry,
or, under ``modelplane serve --workers N``, the files every worker writes (summed over the
workers, exactly like ``/metrics``). The numbers are totals since the server started; the page
polls them and computes the request rate and the latency of the last interval from two
successive samples. What the endpoint serves (state, versions, fallback) is what the process
answering the poll serves: every worker follows the same store, within one poll interval.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client import multiprocess as _mp

from modelplane.inference.metrics import multiprocess_dir
from modelplane.serving.data_routes import _status as endpoint_status

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from modelplane.inference.metrics import ServingMetrics
    from modelplane.serving.server import Server


def _families(metrics: ServingMetrics) -> Iterable[Metric]:
    directory = multiprocess_dir()
    if directory is None:
        return metrics.registry.collect()
    merged = CollectorRegistry()
    _mp.MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
    return merged.collect()


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a cumulative histogram ``[(upper bound, count), …]`` (ending with
    ``+Inf``), interpolated inside its bucket like Prometheus's ``histogram_quantile``."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bound: its bound is what is known
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def _sample(metrics: ServingMetrics, endpoint: str) -> dict[str, Any]:
    requests: dict[str, float] = {}
    errors: dict[str, float] = {}
    fallbacks = 0.0
    buckets: dict[float, float] = {}
    latency_sum = 0.0
    for family in _families(metrics):
        for s in family.samples:
            if s.labels.get("endpoint") != endpoint:
                continue
            if s.name == "modelplane_requests_total":
                code = s.labels["code"]
                requests[code] = requests.get(code, 0.0) + s.value
            elif s.name == "modelplane_errors_total":
                kind = s.labels["kind"]
                errors[kind] = errors.get(kind, 0.0) + s.value
            elif s.name == "modelplane_fallbacks_total":
                fallbacks += s.value
            elif s.name == "modelplane_request_duration_seconds_bucket":
                bound = float(s.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + s.value
            elif s.name == "modelplane_request_duration_seconds_sum":
                latency_sum += s.value
    cumulative = sorted(buckets.items())
    return {
        "requests": int(sum(requests.values())),
        "by_code": {code: int(n) for code, n in sorted(requests.items())},
        "errors": int(sum(errors.values())),
        "errors_by_kind": {kind: int(n) for kind, n in sorted(errors.items())},
        "fallbacks": int(fallbacks),
        "latency": {
            "count": int(cumulative[-1][1]) if cumulative else 0,
            "sum": latency_sum,
            "p50": quantile(0.5, cumulative),
            "p99": quantile(0.99, cumulative),
            # JSON has no infinity: the last bound is sent as null
            "buckets": [[None if math.isinf(b) else b, int(n)] for b, n in cumulative],
        },
    }


def live_numbers(server: Server, endpoint: str) -> dict[str, Any]:
    """The live document of ``endpoint``: counts since start, latency, and what it serves."""
    now = time.time()
    doc = _sample(server.metrics, endpoint)
    doc["endpoint"] = endpoint
    doc["t"] = now
    doc["time"] = datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="seconds")
    doc["workers"] = "all" if multiprocess_dir() is not None else "this process"
    status = server.manager.status.get(endpoint)
    doc["status"] = None if status is None else endpoint_status(server, endpoint)
    return doc


__all__ = ["live_numbers", "quantile"]
