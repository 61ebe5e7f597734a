"""Adaptive (continuous) batching for one model version, with predict off the event loop.

Requests queue up while the model is busy; the moment it is free, everything waiting (up to
``max_batch_size`` rows) goes to the model as one batch. An idle model therefore answers a lone
request at once (no fixed wait), and a busy one batches as deeply as the load allows.
``max_wait_ms > 0`` additionally holds a non-full batch back for companions. Client batches are
kept whole, or split into chunks (queued one after another) when larger than ``max_batch_size``.
The queue is bounded in rows: beyond ``max_queue_rows`` a request is refused with 503 +
Retry-After, never queued without bound (an empty queue admits any request). ``predict`` runs on a dedicated thread per model version, never on the event loop; when a
batch fails, its requests are retried one by one so one bad request cannot fail its neighbours.

The predict threads run under Linux's ``SCHED_BATCH`` policy (same CPU share, but a woken batch
thread does not preempt the running one). A hand-off then no longer interrupts the event loop
in the middle of its work only to find the GIL taken: on one core this cut context switches per
request from 7.3 to 5.2 with one connection and from 0.40 to 0.15 with 32 (measured with
``/proc/<pid>/task/*/status`` under wrk).
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelplane.errors import ModelplaneError, PredictError, TimeoutError_, UnavailableError
from modelplane.inference.prediction import Prediction, join

BatchObserver = Callable[[int, float], None]


@dataclass
class _Item:
    X: Any
    rows: int
    future: asyncio.Future[Prediction]


def _concat(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)


class Batcher:
    def __init__(
        self,
        predict: Callable[[Any], Prediction],
        *,
        max_batch_size: int = 256,
        max_wait_ms: float = 0.0,
        max_queue_rows: int = 8192,
        name: str = "model",
        observe: BatchObserver | None = None,
        depth: Callable[[int], None] | None = None,
    ) -> None:
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue_rows = max_queue_rows
        self._observe = observe
        # Rows waiting or in the model, reported once per batch (taken, answered), not twice per
        # request: with 32 requests in flight that is 2 gauge writes per batch instead of 64.
        self._depth = depth
        self._pending: deque[_Item] = deque()
        self.queued_rows = 0
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Started with the first batch (a constructor starts nothing): see ``submit``.
        self._thread = threading.Thread(
            target=self._predict_loop, name=f"predict-{name}", daemon=True
        )

    async def submit(self, X: Any, timeout: float | None = None) -> Prediction:
        """Queue ``X`` (rows of one request) and wait for its slice of a batch's answer.

        ``timeout`` (seconds) bounds the wait with a timer, not a task: on expiry the request
        fails with TimeoutError_ (504) and its rows are skipped if still queued.
        """
        rows = len(X)
        if rows > self.max_batch_size:  # a client batch larger than the maximum is split
            return await self._submit_chunks(X, rows, timeout)
        if self._closed:
            raise UnavailableError("this model version is shutting down", retry_after=1)
        # An empty queue admits any request, so one larger than the bound is not refused forever.
        if self.queued_rows and self.queued_rows + rows > self.max_queue_rows:
            raise UnavailableError(
                f"the queue of {self.queued_rows} rows is full; retry later", retry_after=1
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Prediction] = loop.create_future()
        self._pending.append(_Item(X, rows, future))
        self.queued_rows += rows
        if not self._running:  # idle until now: not taken per request under load
            if self._thread.ident is None:
                self._thread.start()
            self._running = True
            self._idle.clear()
            self._task = loop.create_task(self._drain())  # referenced: tasks may be GC'd
        if timeout is None:
            return await future
        timer = loop.call_later(timeout, _expire, future, timeout)
        try:
            return await future
        finally:
            timer.cancel()

    async def _submit_chunks(self, X: Any, rows: int, timeout: float | None) -> Prediction:
        """A request larger than ``max_batch_size``, one chunk after another: the model takes one
        batch at a time anyway, the request never needs queue room for more than one chunk (all
        chunks at once overflowed the queue bound: a 10,000-row request was always refused), and
        other requests interleave between its chunks. One time limit covers the whole request."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        parts: list[Prediction] = []
        for start in range(0, rows, self.max_batch_size):
            remaining = None
            if deadline is not None and timeout is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError_(f"the model did not answer within {timeout * 1000:.0f} ms")
            parts.append(await self.submit(X[start : start + self.max_batch_size], remaining))
        return join(parts)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                if self.max_wait and self.queued_rows < self.max_batch_size:
                    deadline = loop.time() + self.max_wait
                    while self.queued_rows < self.max_batch_size and loop.time() < deadline:
                        await asyncio.sleep(min(0.0005, deadline - loop.time()))
                items: list[_Item] = []
                rows = 0
                while self._pending and rows + self._pending[0].rows <= self.max_batch_size:
                    item = self._pending.popleft()
                    if item.future.done():  # timed out or cancelled while queued
                        self.queued_rows -= item.rows
                        continue
                    items.append(item)
                    rows += item.rows
                if not items:
                    continue
                self.queued_rows -= rows
                depth = self._depth
                if depth is not None:
                    depth(self.queued_rows + rows)
                done: asyncio.Future[list[Prediction | BaseException]] = loop.create_future()
                self._jobs.put((loop, items, done))
                results = await done
                if depth is not None:
                    depth(self.queued_rows)
                for item, result in zip(items, results, strict=True):
                    if item.future.done():
                        continue
                    if isinstance(result, BaseException):
                        item.future.set_exception(result)
                    else:
                        item.future.set_result(result)
        finally:
            self._running = False
            self._idle.set()

    def _predict_loop(self) -> None:
        """The model's own thread: one batch at a time, answers handed back to the event loop.
        (Lighter than an executor: no concurrent.futures chain per batch.)"""
        _no_wakeup_preemption()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            loop, items, done = job
            results = self._run(items)
            try:
                loop.call_soon_threadsafe(_settle, done, results)
            except RuntimeError:  # the event loop is gone (shutdown)
                return

    def _run(self, items: list[_Item]) -> list[Prediction | BaseException]:
        """On the predict thread: one call for the whole batch, split the answer back."""
        start = time.perf_counter()
        try:
            pred = self._predict(_concat([i.X for i in items]))
        except Exception as exc:
            if len(items) == 1:
                return [_wrap(exc)]
            return [self._single(i) for i in items]
        finally:
            if self._observe is not None:
                self._observe(sum(i.rows for i in items), time.perf_counter() - start)
        out: list[Prediction | BaseException] = []
        offset = 0
        for item in items:
            out.append(pred.slice(offset, offset + item.rows))
            offset += item.rows
        return out

    def _single(self, item: _Item) -> Prediction | BaseException:
        try:
            return self._predict(item.X)
        except Exception as exc:
            return _wrap(exc)

    async def close(self, timeout: float = 30.0) -> None:
        """Stop taking requests, let queued ones finish (the old version during a swap)."""
        self._closed = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            pass
        self._jobs.put(None)


def _no_wakeup_preemption() -> None:
    """Put the calling thread under ``SCHED_BATCH`` where the OS has it (Linux); elsewhere, or
    when refused, nothing changes."""
    setter = getattr(os, "sched_setscheduler", None)
    policy = getattr(os, "SCHED_BATCH", None)
    if setter is None or policy is None:
        return
    try:
        setter(threading.get_native_id(), policy, os.sched_param(0))
    except OSError:
        pass


def _settle(done: asyncio.Future[Any], results: Any) -> None:
    if not done.done():
        done.set_result(results)


def _expire(future: asyncio.Future[Prediction], timeout: float) -> None:
    if not future.done():
        future.set_exception(
            TimeoutError_(f"the model did not answer within {timeout * 1000:.0f} ms")
        )


def _wrap(exc: Exception) -> BaseException:
    if isinstance(exc, ModelplaneError):
        return exc
    err = PredictError(f"the model failed: {type(exc).__name__}: {str(exc)[:300]}")
    err.__cause__ = exc
    return err
