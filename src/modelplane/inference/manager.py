"""Live endpoints in one server process: loading, alias following, hot swap, fallback.

The manager polls the metadata store every ``poll_interval`` seconds (never per request): it
re-reads endpoint configs whose generation changed and re-resolves every model URI (an endpoint
on ``models:/churn@champion`` follows the alias by itself). When the resolved versions change it
builds the new :class:`LiveEndpoint` *beside* the old one — load, convert, warm on the version's
input example — and only then swaps the reference; requests already holding the old one finish
on it, and its batchers are drained and closed afterwards (TF Serving's availability-preserving
policy). A version that fails to load leaves the old one serving; the reason is kept in the
endpoint status, counted in metrics and written to the audit log once. When there is no old one
but the endpoint has a fallback (model or default answer), the endpoint goes live *degraded*:
the unloadable model is a stand-in that refuses every call, so the fallback answers (counted
with reason ``not_loaded``) instead of every request failing with 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.endpoints.config import EndpointConfig
from modelplane.errors import (
    InvalidInputError,
    ModelplaneError,
    NotFoundError,
    TimeoutError_,
    UnavailableError,
)
from modelplane.inference.batching import Batcher, PredictError
from modelplane.inference.breaker import CircuitBreaker
from modelplane.inference.metrics import ServingMetrics, VersionMetrics
from modelplane.inference.runtime import ModelRuntime, Prediction, load_runtime, unloaded_runtime

if TYPE_CHECKING:
    from modelplane.context import Workspace
    from modelplane.registry.records import ModelVersion

log = logging.getLogger("modelplane.serving")


class NotLoadedError(UnavailableError):
    """The model version behind an endpoint could not be loaded (HTTP 503)."""

    code = "not_loaded"


def _reason(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ModelplaneError) else f"{type(exc).__name__}: {exc}"


class ModelHandle:
    """One model version serving one endpoint: runtime + batcher + breaker + metric children."""

    def __init__(
        self, endpoint: str, runtime: ModelRuntime, config: EndpointConfig, metrics: ServingMetrics
    ) -> None:
        self.endpoint = endpoint
        self.runtime = runtime
        self.version = runtime.version
        self.version_label = str(runtime.version.version)
        self.model_id = runtime.model_id
        self.vm: VersionMetrics = metrics.for_version(endpoint, self.version_label)
        self.timeout = config.limits.timeout_ms / 1000.0
        self.batcher = Batcher(
            runtime.predict,
            max_batch_size=config.batching.max_batch_size,
            max_wait_ms=config.batching.max_wait_ms,
            max_queue_rows=config.limits.max_queue_rows,
            name=f"{endpoint}-{runtime.model_id}",
            observe=self.vm.observe_batch,
        )
        self.breaker = CircuitBreaker(
            config.breaker.failure_threshold, config.breaker.reset_after_s
        )
        self._breaker_gauge = metrics.breaker_open.labels(endpoint, self.version_label)
        if runtime.load_error is None:
            metrics.load_seconds.labels(endpoint, self.version_label, runtime.runtime).set(
                runtime.load_seconds
            )

    def refusal(self) -> ModelplaneError | None:
        """Why this model may not be called now (not loaded, breaker open), or None."""
        if self.runtime.load_error is not None:
            return NotLoadedError(
                f"model {self.model_id} is not loaded: {self.runtime.load_error}", retry_after=5
            )
        if not self.breaker.allow():
            return UnavailableError("circuit breaker open", retry_after=1)
        return None

    @property
    def breaker_state(self) -> str:
        return "not_loaded" if self.runtime.load_error is not None else self.breaker.state

    async def infer(self, X: Any) -> Prediction:
        self.vm.queue.inc(len(X))
        try:
            return await self.batcher.submit(X, self.timeout)
        finally:
            self.vm.queue.dec(len(X))

    def note(self, ok: bool) -> None:
        was_open = self.breaker.opened_at is not None
        if ok:
            self.breaker.success()
        else:
            self.breaker.failure()
        is_open = self.breaker.opened_at is not None
        if was_open != is_open:
            self._breaker_gauge.set(1 if is_open else 0)

    async def close(self) -> None:
        await self.batcher.close()


@dataclass
class LiveEndpoint:
    name: str
    config: EndpointConfig
    generation: int
    handles: list[ModelHandle]
    fallback: ModelHandle | None
    graph: Any | None  # modelplane.inference.graph.Graph for graph endpoints
    versions: tuple[tuple[str, int], ...]
    loaded_at: float = field(default_factory=time.time)

    @property
    def primary(self) -> ModelHandle:
        return self.handles[0]

    @cached_property  # handles never change after construction; read on every request
    def model_label(self) -> str:
        return "+".join(h.model_id for h in self.handles)

    @cached_property
    def version_label(self) -> str:
        return "+".join(h.version_label for h in self.handles)

    async def predict(self, X: Any, metrics: ServingMetrics) -> tuple[Prediction, str]:
        """Run the endpoint on one request's rows; returns the prediction and the model label."""
        if self.graph is None:
            handle = self.primary
            refusal = handle.refusal()
            if refusal is not None:
                return await self._fallback(X, refusal, metrics)
            try:
                pred = await handle.infer(X)
            except (InvalidInputError, UnavailableError):
                raise  # the caller's fault or overload: not a model failure
            except (PredictError, TimeoutError_) as exc:
                handle.note(ok=False)
                return await self._fallback(X, exc, metrics)
            handle.note(ok=True)
            return pred, handle.model_id
        return await self._run_graph(X, metrics)

    @property
    def degraded_reason(self) -> str | None:
        """Why primary models could not load (the fallback answers for them), or None."""
        errors = [
            f"{h.model_id}: {h.runtime.load_error}" for h in self.handles if h.runtime.load_error
        ]
        return "; ".join(errors) or None

    async def _run_graph(self, X: Any, metrics: ServingMetrics) -> tuple[Prediction, str]:
        """preprocess → every model through its own batcher (concurrently) → combine →
        postprocess: the same steps as ``Graph.run_sync``, with async model calls."""
        from modelplane.inference.graph import model_input

        graph = self.graph
        assert graph is not None
        frame = graph.preprocess(X, list(self.primary.runtime.spec.columns))
        for h in self.handles:
            refusal = h.refusal()
            if refusal is not None:
                return await self._fallback(X, refusal, metrics)
        inputs = [model_input(frame, h.runtime.spec) for h in self.handles]
        results = await asyncio.gather(
            *(h.infer(x) for h, x in zip(self.handles, inputs, strict=True)),
            return_exceptions=True,
        )
        for h, result in zip(self.handles, results, strict=True):
            if isinstance(result, (InvalidInputError, UnavailableError)):
                raise result
            if isinstance(result, BaseException):
                h.note(ok=False)
                if isinstance(result, (PredictError, TimeoutError_)):
                    return await self._fallback(X, result, metrics)
                raise result
            h.note(ok=True)
        preds = [r for r in results if isinstance(r, Prediction)]
        classes = [h.runtime.classes for h in self.handles]
        combined = graph.combine(preds, classes)
        return graph.postprocess(combined, graph.output_classes(classes)), self.model_label

    async def _fallback(
        self, X: Any, cause: ModelplaneError, metrics: ServingMetrics
    ) -> tuple[Prediction, str]:
        reason = cause.code
        if self.fallback is not None and self.fallback.refusal() is None:
            try:
                pred = await self.fallback.infer(X)
            except ModelplaneError:
                self.fallback.note(ok=False)
            else:
                self.fallback.note(ok=True)
                metrics.fallbacks.labels(self.name, "model", reason).inc()
                return pred, self.fallback.model_id
        default = self.config.fallback.default
        if default is not None:
            metrics.fallbacks.labels(self.name, "default", reason).inc()
            return Prediction(np.full(len(X), default, dtype=object)), "fallback/default"
        raise cause

    async def close(self) -> None:
        handles = [*self.handles, *([self.fallback] if self.fallback else [])]
        await asyncio.gather(*(h.close() for h in handles))


@dataclass
class EndpointStatus:
    generation: int = 0
    versions: tuple[tuple[str, int], ...] = ()
    state: str = "loading"  # loading | ready | degraded (the fallback answers) | failed
    last_error: str | None = None
    failed_versions: set[tuple[tuple[str, int], ...]] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "versions": [f"{uri} -> v{v}" for uri, v in self.versions],
            "state": self.state,
            "last_error": self.last_error,
        }


class EndpointManager:
    def __init__(
        self, workspace: Workspace, metrics: ServingMetrics, *, poll_interval: float = 1.0
    ) -> None:
        self.ws = workspace
        self.metrics = metrics
        self.poll_interval = poll_interval
        self.live: dict[str, LiveEndpoint] = {}
        self.status: dict[str, EndpointStatus] = {}
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sync_lock = asyncio.Lock()

    def get(self, name: str) -> LiveEndpoint:
        live = self.live.get(name)
        if live is not None:
            return live
        status = self.status.get(name)
        if status is None:
            raise NotFoundError(f"no endpoint named {name!r}", field="endpoint")
        if status.state == "failed":
            raise UnavailableError(
                f"endpoint {name!r} has no loadable model: {status.last_error}", retry_after=5
            )
        raise UnavailableError(f"endpoint {name!r} is loading", retry_after=1)

    async def start(self) -> None:
        await self.sync()
        self.synced.set()
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await asyncio.gather(*(live.close() for live in self.live.values()))

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.sync()
            except Exception:  # a failed poll (database restart) is retried next interval
                log.exception("endpoint poll failed")

    async def sync(self) -> None:
        """Bring live endpoints in line with the store (one poll)."""
        async with self._sync_lock:
            desired, present = await asyncio.to_thread(self._desired)
            # Only endpoints deleted from the store go: one whose models cannot be resolved right
            # now (alias deleted, a transient error) keeps serving what it served, and a failed
            # endpoint that was deleted stops answering 503 (it is unknown: 404).
            for name in [*self.live, *(n for n in self.status if n not in self.live)]:
                if name not in present:
                    old = self.live.pop(name, None)
                    self.status.pop(name, None)
                    if old is not None:
                        await old.close()
            for name, (generation, config, versions) in desired.items():
                live = self.live.get(name)
                status = self.status.setdefault(name, EndpointStatus())
                wanted = tuple((uri, mv.version) for uri, mv in versions.items())
                if live is not None and live.generation == generation and live.versions == wanted:
                    # e.g. the alias is back on the version serving; a degraded one stays so
                    status.last_error = live.degraded_reason
                    continue
                if status.generation == generation and wanted in status.failed_versions:
                    continue  # this exact combination failed before; wait for a change
                await self._swap(name, generation, config, versions, wanted, status)

    def _desired(
        self,
    ) -> tuple[dict[str, tuple[int, EndpointConfig, dict[str, ModelVersion]]], set[str]]:
        """(endpoints whose models resolve → what they should serve, names of all endpoints)."""
        out: dict[str, tuple[int, EndpointConfig, dict[str, ModelVersion]]] = {}
        present: set[str] = set()
        for ep in self.ws.endpoints.list():
            present.add(ep.name)
            versions: dict[str, ModelVersion] = {}
            try:
                for uri in dict.fromkeys(ep.config.model_uris):
                    versions[uri] = self.ws.registry.resolve(uri)
            except ModelplaneError as exc:
                status = self.status.setdefault(ep.name, EndpointStatus())
                status.last_error = f"cannot resolve models: {exc.message}"
                if ep.name not in self.live:
                    status.state = "failed"
                continue
            out[ep.name] = (ep.generation, ep.config, versions)
        return out, present

    async def _swap(
        self,
        name: str,
        generation: int,
        config: EndpointConfig,
        versions: dict[str, ModelVersion],
        wanted: tuple[tuple[str, int], ...],
        status: EndpointStatus,
    ) -> None:
        old = self.live.get(name)
        try:
            new = await self._build(name, generation, config, versions, wanted, old)
        except Exception as exc:
            reason = _reason(exc)
            status.last_error = reason
            status.generation = generation
            status.failed_versions.add(wanted)
            if old is None:
                status.state = "failed"
            for mv in versions.values():
                self.metrics.loads.labels(name, str(mv.version), "failed").inc()
            log.error("endpoint %s: cannot load %s: %s", name, wanted, reason)
            await self._record_load_failure(name, wanted, reason, old.model_label if old else None)
            return
        self.live[name] = new  # the swap: new requests see the new endpoint from here on
        status.generation, status.versions, status.state = generation, wanted, "ready"
        status.last_error = degraded = new.degraded_reason
        if degraded is not None:
            status.state = "degraded"
            fallback = new.fallback.model_id if new.fallback else "the default answer"
            log.error("endpoint %s: cannot load %s; %s answers", name, degraded, fallback)
            await self._record_load_failure(name, wanted, degraded, f"fallback: {fallback}")
        if old is not None:
            reused = {id(h) for h in [*new.handles, *([new.fallback] if new.fallback else [])]}
            stale = [
                h
                for h in [*old.handles, *([old.fallback] if old.fallback else [])]
                if id(h) not in reused
            ]
            await asyncio.gather(*(h.close() for h in stale))

    async def _record_load_failure(
        self,
        name: str,
        wanted: tuple[tuple[str, int], ...],
        reason: str,
        still_serving: str | None,
    ) -> None:
        try:
            await asyncio.to_thread(
                self.ws.endpoints.record_event,
                name,
                "endpoint.load_failed",
                {
                    "versions": [f"{u}=v{v}" for u, v in wanted],
                    "reason": reason[:1000],
                    "still_serving": still_serving,
                },
            )
        except ModelplaneError:
            log.exception("cannot record the failed load of %s", name)

    async def _build(
        self,
        name: str,
        generation: int,
        config: EndpointConfig,
        versions: dict[str, ModelVersion],
        wanted: tuple[tuple[str, int], ...],
        old: LiveEndpoint | None,
    ) -> LiveEndpoint:
        reusable: dict[tuple[str, int], ModelHandle] = {}
        if old is not None and old.config == config:
            for h in [*old.handles, *([old.fallback] if old.fallback else [])]:
                if h.runtime.load_error is None:
                    reusable[(h.version.name, h.version.version)] = h
        # Nothing serves yet and a fallback exists: an unloadable primary model does not keep
        # the endpoint down (with an old version serving, a failed load keeps the old one).
        degrade = old is None and (
            config.fallback.model is not None or config.fallback.default is not None
        )

        async def handle_for(uri: str, may_fail: bool = False) -> ModelHandle:
            mv = versions[uri]
            found = reusable.get((mv.name, mv.version))
            if found is not None:
                return found
            try:
                runtime = await asyncio.to_thread(
                    load_runtime, self.ws.registry, mv, accelerate=config.accelerate
                )
            except Exception as exc:
                if not may_fail:
                    raise
                runtime = unloaded_runtime(mv, _reason(exc))
                self.metrics.loads.labels(name, str(mv.version), "failed").inc()
            else:
                self.metrics.loads.labels(name, str(mv.version), "ok").inc()
            return ModelHandle(name, runtime, config, self.metrics)

        graph = None
        if config.graph is not None:
            from modelplane.inference.graph import Graph

            graph = Graph.from_config(config)
            uris = graph.model_uris
        else:
            assert config.model is not None
            uris = [config.model]
        # The fallback first: when it cannot load either, nothing is degraded, the load failed.
        fallback = await handle_for(config.fallback.model) if config.fallback.model else None
        handles = [await handle_for(uri, may_fail=degrade) for uri in uris]
        return LiveEndpoint(name, config, generation, handles, fallback, graph, wanted)
