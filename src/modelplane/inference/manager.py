"""Keeping the live endpoints of one process in line with the store: loading, alias following,
hot swap (what is served is in :mod:`modelplane.inference.live`).

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
import gc
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelplane.core.uris import parse_model_uri
from modelplane.endpoints.config import EndpointConfig
from modelplane.errors import ModelplaneError, NotFoundError, UnavailableError
from modelplane.inference.graph import Graph
from modelplane.inference.live import LiveEndpoint, LiveVariant, ModelHandle
from modelplane.inference.metrics import ServingMetrics
from modelplane.inference.runtime import load_runtime, unloaded_runtime

if TYPE_CHECKING:
    from modelplane.context import Workspace
    from modelplane.registry.records import ModelVersion

log = logging.getLogger("modelplane.serving")


FULL_SYNC_EVERY = 30


def settle_heap(*, full: bool) -> None:
    """Move what is alive now (models, libraries, the app) out of the garbage collector's way.

    A full collection walks every tracked object; with scikit-learn, pandas and ONNX Runtime
    loaded that took 117 ms on the event loop under load (``bench/serving/stalls.py``) — the
    worst stall of the predict path. ``gc.freeze()`` puts the objects alive now in a permanent
    generation that collections skip; objects made per request are collected as before. With
    ``full`` (start-up, before the server is ready) a collection runs first, so no garbage is
    frozen; after a swap it does not (it would stall the requests being served), so cyclic
    garbage of the previous version may stay frozen — one model's worth per swap at most.
    """
    if full:
        gc.collect()
    gc.freeze()


def _reason(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ModelplaneError) else f"{type(exc).__name__}: {exc}"


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
        self,
        workspace: Workspace,
        metrics: ServingMetrics,
        *,
        poll_interval: float = 1.0,
        model_uri: str | None = None,
    ) -> None:
        self.ws = workspace
        # ``modelplane serve MODEL_URI``: one endpoint named after the model, on the default
        # settings, instead of the stored endpoints (an alias in the URI is still followed)
        self.pinned: tuple[str, EndpointConfig] | None = None
        if model_uri is not None:
            self.pinned = (parse_model_uri(model_uri).name, EndpointConfig(model=model_uri))
        self.metrics = metrics
        self.poll_interval = poll_interval
        self.live: dict[str, LiveEndpoint] = {}
        self.status: dict[str, EndpointStatus] = {}
        self.synced = asyncio.Event()
        self._seen = -1  # the audit log's head when the store was last read in full
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

    def failed(self) -> list[str]:
        """Endpoints with nothing to serve: no model could be loaded and no fallback answers
        (what makes the server not ready). A degraded endpoint (its fallback answers) and one
        still serving an earlier version after a failed swap are not listed."""
        return sorted(
            name
            for name, status in self.status.items()
            if status.state == "failed" and name not in self.live
        )

    async def start(self) -> None:
        self._seen = await asyncio.to_thread(self.ws.audit.head)
        await self.sync()
        settle_heap(full=True)
        self.synced.set()
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await asyncio.gather(*(live.close() for live in self.live.values()))

    async def _poll(self) -> None:
        quiet = 0
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                # Every change (deploy, alias move, deletion) appends to the audit log: while its
                # head stays put there is nothing to re-read. A full re-read still happens every
                # FULL_SYNC_EVERY polls, for changes made behind the store's back.
                head = await asyncio.to_thread(self.ws.audit.head)
                if head == self._seen and quiet < FULL_SYNC_EVERY:
                    quiet += 1
                    continue
                quiet = 0
                await self.sync()
                self._seen = head
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
                        old.retired = True
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
        stored = (
            [(ep.name, ep.generation, ep.config) for ep in self.ws.endpoints.list()]
            if self.pinned is None
            else [(self.pinned[0], 1, self.pinned[1])]
        )
        for name, generation, config in stored:
            present.add(name)
            versions: dict[str, ModelVersion] = {}
            try:
                for uri in dict.fromkeys(config.model_uris):
                    versions[uri] = self.ws.registry.resolve(uri)
            except ModelplaneError as exc:
                status = self.status.setdefault(name, EndpointStatus())
                reason = f"cannot resolve models: {exc.message}"
                if reason != status.last_error:  # once per reason, not once per poll
                    log.warning("endpoint %s: %s", name, reason)
                status.last_error = reason
                if name not in self.live:
                    status.state = "failed"
                continue
            out[name] = (generation, config, versions)
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
            # WARNING: an earlier version still serves; ERROR: the endpoint has nothing to serve
            log.log(
                logging.WARNING if old is not None else logging.ERROR,
                "endpoint %s: cannot load %s: %s%s",
                name,
                ", ".join(f"{u} (v{v})" for u, v in wanted),
                reason,
                f"; {old.model_label} still serves" if old is not None else "",
            )
            await self._record_load_failure(name, wanted, reason, old.model_label if old else None)
            return
        self.live[name] = new  # the swap: new requests see the new endpoint from here on
        if old is not None:
            old.retired = True
        settle_heap(full=False)
        status.generation, status.versions, status.state = generation, wanted, "ready"
        status.last_error = degraded = new.degraded_reason
        if degraded is not None:
            status.state = "degraded"
            fallback = new.fallback.model_id if new.fallback else "the default answer"
            log.warning("endpoint %s: cannot load %s; %s answers", name, degraded, fallback)
            await self._record_load_failure(name, wanted, degraded, f"fallback: {fallback}")
        if old is not None:
            reused = {id(h) for h in new.handles()}
            stale = [h for h in old.handles() if id(h) not in reused]
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
            for h in old.handles():
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
            handle = ModelHandle(name, runtime, config, self.metrics)
            reusable[(mv.name, mv.version)] = handle  # variants sharing a version share it
            return handle

        # The fallback first: when it cannot load either, nothing is degraded, the load failed.
        fallback = await handle_for(config.fallback.model) if config.fallback.model else None
        variants = []
        for variant in config.policy.variants:
            graph = Graph.compile(variant, step_modules=self.ws.settings.step_modules)
            handles = [await handle_for(uri, may_fail=degrade) for uri in graph.model_uris]
            variants.append(
                LiveVariant(variant.name, graph, handles, variant.weight, config.coerce)
            )
        return LiveEndpoint(name, config, generation, variants, fallback, wanted)
