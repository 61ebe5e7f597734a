"""Prediction sinks: where every answered prediction goes, off the hot path.

A :class:`PredictionSink` receives :class:`PredictionRecord` objects — one per answered request,
holding every prediction id of it with the inputs, outputs, probabilities, endpoint, variant,
model version and latency — in batches, on a thread of its own. The :class:`SinkDispatcher`
(one per server process) is what the request path talks to: handing a record over is an append
to a queue; each sink's thread takes everything queued at once (group commit) and calls
:meth:`PredictionSink.write`.

A sink that is ``durable`` (a prediction log: nothing answered may be lost) makes the answer wait
until its batch has been written; if the write fails, the requests waiting on it answer 503 and
nothing is acknowledged that was not recorded. Other sinks (metrics, comparisons) never delay an
answer: when one falls behind by ``max_queue`` records, new records are dropped for it and
counted, so a slow sink cannot grow memory without bound.

To add a sink: subclass :class:`PredictionSink`, implement ``write`` (and ``close`` if it holds
resources), and pass an instance to the server (``create_app(..., sinks=[...])``).
:class:`MemorySink` is the in-memory implementation the tests use.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.errors import UnavailableError

if TYPE_CHECKING:
    from modelplane.stores.predictions import PredictionLog

log = logging.getLogger("modelplane.inference")

_STOP = object()
MAX_BATCH = 4096


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """The predictions answered for one request (one prediction id per row)."""

    ids: list[str]
    time: float  # epoch seconds when the answer was ready
    endpoint: str
    variant: str
    model: str  # "name/version" that answered ("+"-joined for graphs, or the fallback's)
    version: str  # the variant's version label
    inputs: Any  # the rows as the model got them: a 2-D array or a DataFrame
    columns: tuple[str, ...]  # the input columns (signature order)
    outputs: np.ndarray
    probabilities: np.ndarray | None
    latency: float  # seconds from the request's arrival to the answer
    caller: str | None = None
    fallback: bool = False
    pii: tuple[str, ...] = ()  # input columns marked PII in the signature: hashed when logged
    classes: Any = None  # the class labels the probabilities' columns belong to

    def rows(self) -> Iterator[dict[str, Any]]:
        """One plain dict per prediction id (inputs by column name)."""
        X = self.inputs
        if hasattr(X, "to_dict"):  # a DataFrame
            inputs = X.to_dict(orient="records")
        else:
            arr = np.asarray(X)
            names = self.columns or tuple(
                f"x{j}" for j in range(arr.shape[1] if arr.ndim == 2 else 1)
            )
            inputs = [dict(zip(names, row, strict=False)) for row in arr.tolist()]
        outputs = np.asarray(self.outputs).tolist()
        proba = None if self.probabilities is None else np.asarray(self.probabilities).tolist()
        for i, pid in enumerate(self.ids):
            yield {
                "prediction_id": pid,
                "time": self.time,
                "endpoint": self.endpoint,
                "variant": self.variant,
                "model": self.model,
                "version": self.version,
                "inputs": inputs[i],
                "output": outputs[i],
                "probabilities": None if proba is None else proba[i],
                "latency": self.latency,
                "caller": self.caller,
                "fallback": self.fallback,
            }


class PredictionSink(ABC):
    """Receives every answered prediction, in batches, on its own thread."""

    #: True: an answer is sent only once its record is written (see the module docstring).
    durable: bool = False
    name: str = "sink"

    @abstractmethod
    def write(self, records: Sequence[PredictionRecord]) -> None:
        """Store or process ``records`` (in answer order). Raising fails the batch."""

    def close(self) -> None:  # noqa: B027 - optional hook, most sinks hold nothing
        """Release what the sink holds (called once, after the last write)."""


class MemorySink(PredictionSink):
    """Keeps the last ``maxlen`` records and counts predictions per (endpoint, variant, version).

    Thread-safe: ``write`` runs on the sink thread, readers on any other.
    """

    name = "memory"

    def __init__(self, maxlen: int = 100_000, *, durable: bool = False) -> None:
        self.durable = durable
        self.records: deque[PredictionRecord] = deque(maxlen=maxlen)
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.batches = 0
        self._lock = threading.Lock()

    def write(self, records: Sequence[PredictionRecord]) -> None:
        with self._lock:
            self.batches += 1
            for r in records:
                self.records.append(r)
                self.counts[(r.endpoint, r.variant, r.version)] += len(r.ids)

    def snapshot(self) -> list[PredictionRecord]:
        with self._lock:
            return list(self.records)

    def prediction_ids(self) -> list[str]:
        return [pid for r in self.snapshot() for pid in r.ids]


class PredictionLogSink(PredictionSink):
    """The durable sink of the prediction log: an answer is sent only once its record has
    reached the log (see :mod:`modelplane.stores.predictions` for what each backend promises)."""

    durable = True
    name = "prediction-log"

    def __init__(self, log: PredictionLog, *, close_log: bool = False) -> None:
        self.log = log
        self._close_log = close_log

    def write(self, records: Sequence[PredictionRecord]) -> None:
        self.log.append(records)

    def close(self) -> None:
        if self._close_log:
            self.log.close()


class _Lane:
    """One sink with its queue and thread."""

    def __init__(self, sink: PredictionSink, max_queue: int) -> None:
        self.sink = sink
        self.max_queue = max_queue
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Each counter has one writer (the event loop, or the sink's thread), so no lock is needed.
        self.queued = 0
        self.done = 0
        self.dropped = 0
        self.failed = 0
        self.thread = threading.Thread(target=self._run, name=f"sink-{sink.name}", daemon=True)

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            if first is _STOP:
                self._close()
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                self._close()
                return

    def _write(self, batch: list[tuple[PredictionRecord, Any, Any]]) -> None:
        records = [record for record, _, _ in batch]
        error: BaseException | None = None
        try:
            self.sink.write(records)
        except Exception as exc:
            error = exc
            self.failed += len(records)  # sink thread only
            log.exception("prediction sink %s failed on %d record(s)", self.sink.name, len(records))
        finally:
            self.done += len(records)
        waiters = [(loop, fut) for _, loop, fut in batch if fut is not None]
        if not waiters:
            return
        loops = {id(loop): loop for loop, _ in waiters}
        for loop in loops.values():
            futures = [fut for lp, fut in waiters if lp is loop]
            try:
                loop.call_soon_threadsafe(_settle_all, futures, error, self.sink.name)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    @property
    def depth(self) -> int:
        """Records handed over and not yet written."""
        return self.queued - self.done

    def _close(self) -> None:
        try:
            self.sink.close()
        except Exception:
            log.exception("prediction sink %s failed to close", self.sink.name)


def _settle_all(
    futures: list[asyncio.Future[None]], error: BaseException | None, name: str
) -> None:
    for fut in futures:
        if fut.done():
            continue
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(
                UnavailableError(
                    f"the prediction could not be recorded by {name}; it was not answered",
                    retry_after=1,
                )
            )


class SinkDispatcher:
    """Hands records to every sink. Constructing it starts nothing; :meth:`start` starts the
    sink threads (the server's lifespan does)."""

    def __init__(self, sinks: Sequence[PredictionSink] = (), *, max_queue: int = 100_000) -> None:
        self._lanes = [_Lane(s, max_queue) for s in sinks]
        self._durable = any(s.durable for s in sinks)
        self._started = False

    def __bool__(self) -> bool:
        return bool(self._lanes)

    @property
    def sinks(self) -> list[PredictionSink]:
        return [lane.sink for lane in self._lanes]

    def start(self) -> None:
        if not self._started:
            self._started = True
            for lane in self._lanes:
                lane.thread.start()

    def submit(self, record: PredictionRecord) -> asyncio.Future[None] | None:
        """From the event loop: queue ``record`` for every sink. Returns a future to await before
        answering when a durable sink takes it, else None."""
        waiter: asyncio.Future[None] | None = None
        loop = asyncio.get_running_loop() if self._durable else None
        for lane in self._lanes:
            if lane.sink.durable:
                if lane.depth >= lane.max_queue:
                    raise UnavailableError(
                        f"the prediction log {lane.sink.name} is {lane.depth} records behind; "
                        "retry later",
                        retry_after=1,
                    )
                assert loop is not None
                fut: asyncio.Future[None] = loop.create_future()
                waiter = fut if waiter is None else asyncio.gather(waiter, fut)  # type: ignore[assignment]
                lane.queued += 1
                lane.queue.put((record, loop, fut))
            elif lane.depth >= lane.max_queue:
                lane.dropped += 1
            else:
                lane.queued += 1
                lane.queue.put((record, None, None))
        return waiter

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            lane.sink.name: {"queued": lane.depth, "dropped": lane.dropped, "failed": lane.failed}
            for lane in self._lanes
        }

    async def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then close every sink."""
        if not self._started:
            for lane in self._lanes:
                lane._close()
            return
        for lane in self._lanes:
            lane.queue.put(_STOP)
        await asyncio.to_thread(_join_all, [lane.thread for lane in self._lanes], timeout)


def _join_all(threads: list[threading.Thread], timeout: float) -> None:
    for t in threads:
        t.join(timeout)


__all__ = [
    "MemorySink",
    "PredictionLogSink",
    "PredictionRecord",
    "PredictionSink",
    "SinkDispatcher",
]
