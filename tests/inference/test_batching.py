"""The batcher's predict thread: off the event loop, and scheduled so hand-offs do not preempt
the event loop (SCHED_BATCH on Linux)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from typing import Any

import numpy as np
import pytest

from modelplane.inference.batching import Batcher
from modelplane.inference.prediction import Prediction


def test_predict_runs_on_its_own_thread_under_sched_batch() -> None:
    seen: dict[str, Any] = {}

    def predict(X: Any) -> Prediction:
        seen["thread"] = threading.get_ident()
        if hasattr(os, "sched_getscheduler"):
            seen["policy"] = os.sched_getscheduler(0)  # 0: the calling thread
        return Prediction(np.zeros(len(X)))

    async def main() -> Prediction:
        batcher = Batcher(predict, name="t")
        try:
            return await batcher.submit(np.ones((3, 2)), timeout=10)
        finally:
            await batcher.close()

    pred = asyncio.run(main())
    assert pred.outputs.tolist() == [0.0, 0.0, 0.0]
    assert seen["thread"] != threading.get_ident()
    if sys.platform.startswith("linux"):
        assert seen["policy"] == os.SCHED_BATCH
    else:  # pragma: no cover - the policy exists on Linux only
        pytest.skip("SCHED_BATCH is Linux-only")


def test_a_batcher_starts_its_thread_with_the_first_request_not_when_built() -> None:
    async def main() -> None:
        before = {t.name for t in threading.enumerate()}
        batcher = Batcher(lambda X: Prediction(np.zeros(len(X))), name="lazy")
        assert "predict-lazy" not in {t.name for t in threading.enumerate()} - before
        await batcher.submit(np.ones((2, 2)), timeout=10)
        assert "predict-lazy" in {t.name for t in threading.enumerate()}
        await batcher.close()
        unused = Batcher(lambda X: Prediction(np.zeros(len(X))), name="unused")
        await unused.close()  # closing one that never ran is fine

    asyncio.run(main())
