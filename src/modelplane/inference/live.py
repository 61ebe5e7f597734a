"""What one server process is serving right now: model handles, variants and live endpoints.

A :class:`ModelHandle` is one loaded model version with its batcher, circuit breaker and metric
children. A :class:`LiveVariant` is one named way of answering (a model or an inference graph)
over handles; a :class:`LiveEndpoint` holds an endpoint's variants, its traffic policy and its
fallback. All three are immutable once built: the manager builds a new :class:`LiveEndpoint`
beside the old one and swaps the reference (see :mod:`modelplane.inference.manager`).

Running a variant is the graph's two halves (:meth:`Graph.model_inputs`, :meth:`Graph.finish`)
around async, batched model calls; a one-model variant without steps hands the rows to its model
untouched. When a model is refused (not loaded, breaker open) or fails, the endpoint's fallback
(a model or a default answer) answers instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.errors import (
    InvalidInputError,
    ModelplaneError,
    NotFoundError,
    NotLoadedError,
    PredictError,
    TimeoutError_,
    UnavailableError,
)
from modelplane.inference.batching import Batcher
from modelplane.inference.breaker import CircuitBreaker
from modelplane.inference.prediction import Prediction
from modelplane.inference.request import InferenceResult
from modelplane.inference.traffic import Single, TrafficPolicy, compile_policy

if TYPE_CHECKING:
    from modelplane.endpoints.config import EndpointConfig
    from modelplane.inference.graph import Graph
    from modelplane.inference.ids import IdSource
    from modelplane.inference.inputs import InputSpec
    from modelplane.inference.metrics import ServingMetrics, VersionMetrics
    from modelplane.inference.request import InferenceRequest
    from modelplane.inference.runtime import ModelRuntime


class Refused(Exception):
    """A model of the variant may not be called now (``cause``: not loaded, breaker open): the
    endpoint's fallback answers, or ``cause`` is the answer."""

    def __init__(self, cause: ModelplaneError) -> None:
        super().__init__(cause.message)
        self.cause = cause


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
            depth=self.vm.queue.set,
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

    def infer(self, X: Any) -> Coroutine[Any, Any, Prediction]:
        """The batcher's answer for ``X`` (the batcher's own coroutine: no extra frame)."""
        return self.batcher.submit(X, self.timeout)

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


class LiveVariant:
    """One named way an endpoint answers: a compiled graph over loaded model handles."""

    def __init__(
        self,
        name: str,
        graph: Graph,
        handles: list[ModelHandle],
        weight: float = 100.0,
        coerce: str = "strict",
    ) -> None:
        self.name = name
        self.graph = graph
        self.handles = handles  # one per graph model, config order (a handle may repeat)
        self.weight = weight
        self.lead = handles[0]  # whose metric children count the variant's requests
        spec = self.lead.runtime.spec
        # requests are parsed against it, validated as the endpoint's ``coerce`` says
        self.spec: InputSpec = spec if spec.coerce == coerce else replace(spec, coerce=coerce)
        self.columns = tuple(self.spec.columns)
        self.model_label = "+".join(h.model_id for h in handles)
        self.version_label = "+".join(h.version_label for h in handles)
        self.passthrough = graph.passthrough
        #: input columns any of its models marks PII: hashed before a prediction is logged
        self.pii = tuple(
            sorted(
                {
                    str(c.get("name"))
                    for h in handles
                    for c in (h.version.signature or {}).get("inputs") or ()
                    if isinstance(c, dict) and c.get("pii") is True
                }
            )
        )
        #: the classes the probabilities belong to (the one model's, when no step changes them)
        self.logged_classes = _class_list(handles[0].runtime.classes) if self.passthrough else None

    @cached_property
    def specs(self) -> list[InputSpec]:
        return [h.runtime.spec for h in self.handles]

    @cached_property
    def classes(self) -> list[Any]:
        return [h.runtime.classes for h in self.handles]

    @property
    def load_errors(self) -> list[str]:
        return [
            f"{h.model_id}: {h.runtime.load_error}" for h in self.handles if h.runtime.load_error
        ]

    def refusal(self) -> ModelplaneError | None:
        for h in self.handles:
            refusal = h.refusal()
            if refusal is not None:
                return refusal
        return None

    async def predict_graph(self, X: Any) -> Prediction:
        """The answer of a variant with steps or several models (a passthrough variant's one
        model is called by :meth:`LiveEndpoint.answer` itself); raises the model's failure (the
        endpoint decides whether the fallback answers), or :class:`Refused`."""
        inputs = self.graph.model_inputs(X, self.columns, self.specs)
        refusal = self.refusal()
        if refusal is not None:
            raise Refused(refusal)
        results = await asyncio.gather(
            *(h.infer(x) for h, x in zip(self.handles, inputs, strict=True)),
            return_exceptions=True,
        )
        for h, result in zip(self.handles, results, strict=True):
            if isinstance(result, (InvalidInputError, UnavailableError)):
                raise result
            if isinstance(result, BaseException):
                h.note(ok=False)
                raise result
            h.note(ok=True)
        preds = [r for r in results if isinstance(r, Prediction)]
        return self.graph.finish(preds, self.classes)


class LiveEndpoint:
    """An endpoint as served: its variants, traffic policy and fallback (immutable)."""

    def __init__(
        self,
        name: str,
        config: EndpointConfig,
        generation: int,
        variants: list[LiveVariant],
        fallback: ModelHandle | None,
        versions: tuple[tuple[str, int], ...],
    ) -> None:
        self.name = name
        self.config = config
        self.generation = generation
        self.variants = tuple(variants)
        self.fallback = fallback
        self.versions = versions
        self.loaded_at = time.time()
        #: set by the manager when a newer build replaced this one (requests that resolved it
        #: before an await look the endpoint up again)
        self.retired = False
        self.policy: TrafficPolicy = compile_policy(config.policy.policy, self.variants)
        # One variant takes everything: no policy call per request.
        self._only = self.variants[0] if isinstance(self.policy, Single) else None
        self.default = self.variants[0]
        # /versions/{v} routes: a variant by its version label; a graph variant ("3+5") also by
        # its first model's version. The first variant serving a version wins.
        self.by_version: dict[str, LiveVariant] = {}
        for v in self.variants:
            self.by_version.setdefault(v.version_label, v)
        for v in self.variants:
            self.by_version.setdefault(v.lead.version_label, v)
        self.version_label = "+".join(dict.fromkeys(v.version_label for v in self.variants))
        self.model_label = "+".join(dict.fromkeys(v.model_label for v in self.variants))

    def choose(self, request: InferenceRequest) -> LiveVariant:
        """The variant for ``request``: the one serving the version asked for, else the
        policy's choice."""
        if request.version is None:
            return self._only or self.policy.choose(request)
        if request.version is not None:
            variant = self.by_version.get(request.version)
            if variant is None:
                served = ", ".join(self.by_version)
                raise NotFoundError(
                    f"endpoint {self.name!r} serves version {served}, not {request.version}",
                    field="version",
                )
            return variant
        return self.policy.choose(request)

    def variant_for_version(self, version: str | None) -> LiveVariant:
        """Metadata routes: the variant serving ``version`` (None: the default variant)."""
        if version is None:
            return self.default
        variant = self.by_version.get(version)
        if variant is None:
            raise NotFoundError(
                f"endpoint {self.name!r} does not serve version {version}", field="version"
            )
        return variant

    async def answer(self, req: InferenceRequest, ids: IdSource, metrics: ServingMetrics) -> None:
        """Predict ``req.rows`` rows of ``req.X`` with ``req.variant`` (the fallback when it
        cannot) and set ``req.result``. One coroutine per request: a passthrough variant's
        model is called right here."""
        variant: LiveVariant = req.variant  # type: ignore[assignment]
        X = req.X
        model, fallback = variant.model_label, False
        try:
            if variant.passthrough:  # the common case, inlined: one coroutine less per request
                handle = variant.lead
                refusal = handle.refusal()
                if refusal is not None:
                    raise Refused(refusal)
                try:
                    pred = await handle.infer(X)
                except (PredictError, TimeoutError_):
                    handle.note(ok=False)
                    raise
                handle.note(ok=True)
            else:
                pred = await variant.predict_graph(X)
        except Refused as refused:
            pred, model, fallback = await self._fallback(X, refused.cause, metrics)
        except (InvalidInputError, UnavailableError):
            raise  # the caller's fault or overload: not a model failure
        except (PredictError, TimeoutError_) as exc:
            pred, model, fallback = await self._fallback(X, exc, metrics)
        req.result = InferenceResult(
            pred, ids.take(req.rows), model, variant.name, variant.version_label, fallback
        )

    @property
    def degraded_reason(self) -> str | None:
        """Why models could not load (the fallback answers for them), or None."""
        errors = [e for v in self.variants for e in v.load_errors]
        return "; ".join(dict.fromkeys(errors)) or None

    def handles(self) -> list[ModelHandle]:
        """Every distinct handle: the variants' models, then the fallback."""
        found = [h for v in self.variants for h in v.handles]
        if self.fallback is not None:
            found.append(self.fallback)
        return list(dict.fromkeys(found))

    async def _fallback(
        self, X: Any, cause: ModelplaneError, metrics: ServingMetrics
    ) -> tuple[Prediction, str, bool]:
        reason = cause.code
        if self.fallback is not None and self.fallback.refusal() is None:
            try:
                pred = await self.fallback.infer(X)
            except ModelplaneError:
                self.fallback.note(ok=False)
            else:
                self.fallback.note(ok=True)
                metrics.fallbacks.labels(self.name, "model", reason).inc()
                return pred, self.fallback.model_id, True
        default = self.config.fallback.default
        if default is not None:
            metrics.fallbacks.labels(self.name, "default", reason).inc()
            return Prediction(np.full(len(X), default, dtype=object)), "fallback/default", True
        raise cause

    async def close(self) -> None:
        await asyncio.gather(*(h.close() for h in self.handles()))


def _class_list(classes: Any) -> list[Any] | None:
    if classes is None:
        return None
    import numpy as np

    return list(np.asarray(classes).tolist())


__all__ = ["LiveEndpoint", "LiveVariant", "ModelHandle", "Refused"]
