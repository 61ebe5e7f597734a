"""Nothing answered is lost: a real server killed with SIGKILL at random moments, restarted.

Clients send predictions and labels without pause while the server's whole process group is
killed (SIGKILL, no chance to flush anything) five times and restarted. Afterwards every
prediction id of a 2xx answer is in the prediction log exactly once, no id is logged twice, and
every label acknowledged with 2xx is stored once. Once with one process, once with
``--workers 2`` (two processes appending to the log at once).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from e2e.conftest import Models, Served, records, start_server

pytestmark = pytest.mark.slow

KILLS = 5


class Traffic:
    """Client threads: predictions (remembering acknowledged ids) and labels for them."""

    def __init__(self, url: str, models: Models) -> None:
        self.url = url
        self.body = {"inputs": records(models.rows(4))}
        self.acknowledged: list[str] = []
        self.labelled: dict[str, int] = {}
        self.refused = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._predict, daemon=True) for _ in range(3)] + [
            threading.Thread(target=self._label, daemon=True)
        ]

    def _predict(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self.stop.is_set():
                try:
                    r = client.post(f"{self.url}/v1/endpoints/lr/predict", json=self.body)
                except httpx.TransportError:
                    time.sleep(0.02)
                    continue
                if r.status_code == 200:
                    with self.lock:
                        self.acknowledged.extend(r.json()["prediction_ids"])
                else:
                    self.refused += 1

    def _label(self) -> None:
        rng = random.Random(7)
        with httpx.Client(timeout=5.0) as client:
            while not self.stop.is_set():
                with self.lock:
                    pending = [p for p in self.acknowledged[-200:] if p not in self.labelled]
                if not pending:
                    time.sleep(0.01)
                    continue
                items = [{"prediction_id": p, "label": rng.randint(0, 1)} for p in pending[:20]]
                try:
                    r = client.post(f"{self.url}/v1/endpoints/lr/feedback", json=items)
                except httpx.TransportError:
                    time.sleep(0.02)
                    continue
                if r.status_code == 200:
                    for item, result in zip(items, r.json()["items"], strict=True):
                        assert result["status"] in ("stored", "unchanged"), result
                        self.labelled[item["prediction_id"]] = item["label"]

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)


def _kill(served: Served) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(served.proc.pid, signal.SIGKILL)
    served.proc.wait(10)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_answered_prediction_and_label_survives_kill_9(
    launch: Any, models: Models, workers: int
) -> None:
    args = ("--workers", str(workers)) if workers > 1 else ()
    served: Served = launch(args=args)
    home, ws = served.home, served.ws
    rng = random.Random(workers)
    try:
        with Traffic(served.url, models) as traffic:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.3, 1.2))
                _kill(served)
                served = start_server(home, ws, args)  # the clients follow it to its new port
                traffic.url = served.url
            time.sleep(0.5)
    finally:
        served.stop()
    print(f"{len(traffic.acknowledged)} predictions, {len(traffic.labelled)} labels acknowledged")
    acknowledged = traffic.acknowledged
    assert len(acknowledged) > 200, "too little traffic to prove anything"
    logged = ws.predictions.read(endpoint="lr")["prediction_id"].tolist()
    counts = Counter(logged)
    twice = [p for p, c in counts.items() if c > 1]
    assert not twice, f"{len(twice)} prediction ids logged more than once, e.g. {twice[:3]}"
    missing = set(acknowledged) - set(counts)
    assert not missing, f"{len(missing)} answered predictions are not in the log"
    assert len(set(acknowledged)) == len(acknowledged)
    labels = ws.feedback.labels(list(traffic.labelled))
    assert len(traffic.labelled) > 20
    lost = {p for p in traffic.labelled if p not in labels}
    assert not lost, f"{len(lost)} acknowledged labels are not stored"
    assert all(labels[p][0] == label for p, label in traffic.labelled.items())
