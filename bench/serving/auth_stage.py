"""What the authenticate stage of the predict path costs per request, in isolation.

    .venv/bin/python bench/serving/auth_stage.py [--calls 200000]

Builds a throw-away home with one endpoint and one predictor token, then calls the request
pipeline's ``authenticate`` stage directly, with the headers wrk sends, under
``MODELPLANE_AUTH=off`` and ``MODELPLANE_AUTH=required`` (a token verified once, then served from
the per-worker cache), and prints microseconds per call for each. The HTTP figures of
``bench/serving/auth.sh`` move by several percent between repetitions on a busy host; this
number does not depend on the network stack and tells how much of such a gap is the token check.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import types
from typing import Any


def _home(path: str) -> str:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import modelplane as mp

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(500, 20)), columns=[f"f{i}" for i in range(20)])
    ws = mp.configure(home=path)
    mp.register_model("lr", LogisticRegression().fit(X, (X.f0 > 0).astype(int)), X[:50])
    ws.endpoints.deploy("lr", {"model": "models:/lr/1"})
    _, token = ws.tokens.create("bench", "predictor")
    ws.close()
    return token


def _measure(home: str, mode: str, token: str, calls: int) -> float:
    import modelplane as mp
    from modelplane.serving.app import create_app
    from modelplane.serving.routes import NATIVE_PREDICT

    os.environ["MODELPLANE_AUTH"] = mode
    ws = mp.configure(home=home)
    server: Any = create_app(ws).server
    stage = dict(server.pipeline._named)["authenticate"]
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-length", b"400"),
        (b"content-type", b"application/json"),
    ]
    if mode != "off":
        headers.append((b"authorization", f"Bearer {token}".encode()))
    req = types.SimpleNamespace(
        headers=headers, client="127.0.0.1", route=NATIVE_PREDICT, endpoint="lr", caller=None
    )
    first = stage(req)
    if first is not None:  # the token's one slow verification
        asyncio.run(first)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(calls):
            stage(req)
        best = min(best, (time.perf_counter() - t0) / calls * 1e6)
    ws.close()
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = f"{tmp}/home"
        token = _home(home)
        for mode in ("off", "required"):
            us = _measure(home, mode, token, args.calls)
            print(f"MODELPLANE_AUTH={mode:<8}  authenticate stage: {us:.2f} us/request (best of 3)")


if __name__ == "__main__":
    main()
