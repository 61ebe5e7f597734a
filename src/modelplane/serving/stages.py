"""The data plane's default stages (see :mod:`modelplane.serving.pipeline`), one function each.

=============  ===========================================================================
authenticate   who is calling, and may they (the route's permission, for this endpoint)
resolve        the live endpoint (404 unknown, 503 loading or failed)
receive        read the body, bounded by the endpoint's request size limit (413); JSON or
               the route's binary type, never compressed (415)
choose         the variant: the one serving the version asked for, else the traffic policy's
validate       the wire protocol parses the body against the variant's signature (4xx);
               at most the endpoint's ``max_batch_rows`` rows (413)
predict        the variant through its batchers (fallback on failure); prediction ids
record         latency and row metrics; every prediction to the sinks (a durable sink is
               awaited, so nothing is answered that was not recorded)
=============  ===========================================================================
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from modelplane.inference.request import InferenceRequest, InferenceResult
from modelplane.inference.sinks import PredictionRecord
from modelplane.serving.body import receive_body, too_many_rows
from modelplane.serving.permissions import Principal
from modelplane.serving.pipeline import Pipeline

if TYPE_CHECKING:
    from modelplane.inference.live import LiveEndpoint, LiveVariant
    from modelplane.serving.server import Server


def default_pipeline(server: Server) -> Pipeline:
    """The stages above, bound to ``server``'s state."""
    open_access = server.open_access
    peek = server.peek
    manager = server.manager
    metrics = server.metrics
    ids = server.ids
    sinks = server.sinks
    has_sinks = bool(sinks)  # fixed when the server is built

    def admit(req: InferenceRequest, principal: Principal) -> None:
        server.authorize(principal, req.route.permission, "endpoint", req.endpoint, req.client)
        req.caller = principal.name

    async def verify(req: InferenceRequest, authorization: str | None) -> None:
        # a token not seen before: its slow hash is checked off the event loop, once
        principal = await asyncio.to_thread(server.authenticate, authorization, req.client)
        admit(req, principal)

    def authenticate(req: InferenceRequest) -> Awaitable[None] | None:
        if open_access:  # MODELPLANE_AUTH=off: no header scan, no call
            return None
        authorization = None
        for key, value in req.headers:
            if key == b"authorization":
                authorization = value.decode("latin-1")
                break
        principal = peek(authorization) if peek is not None else None
        if principal is None:
            if peek is not None:
                return verify(req, authorization)
            principal = server.authenticate(authorization, req.client)
        else:
            server.limit(principal, req.client)
        admit(req, principal)
        return None

    def resolve(req: InferenceRequest) -> None:
        req.live = manager.get(req.endpoint)

    def receive(req: InferenceRequest) -> Awaitable[None] | None:
        if req.body is not None:
            return None
        return receive_body(req, req.live.config.limits.max_request_bytes)  # type: ignore[union-attr]

    def choose(req: InferenceRequest) -> None:
        live: LiveEndpoint = req.live  # type: ignore[assignment]
        if live.retired:  # swapped out while the body arrived: its batchers are closing
            live = req.live = manager.get(req.endpoint)
        req.variant = live.choose(req)

    def validate(req: InferenceRequest) -> None:
        req.route.protocol.decode(req)
        if req.rows > req.live.config.limits.max_batch_rows:  # type: ignore[union-attr]
            raise too_many_rows(req)

    def predict(req: InferenceRequest) -> Awaitable[None]:
        return req.live.answer(req, ids, metrics)  # type: ignore[union-attr]

    def record(req: InferenceRequest) -> Awaitable[None] | None:
        result: InferenceResult = req.result  # type: ignore[assignment]
        variant: LiveVariant = req.variant  # type: ignore[assignment]
        latency = time.perf_counter() - req.received
        vm = variant.lead.vm
        vm.latency.observe(latency)
        vm.rows.inc(len(result.ids))
        if not has_sinks:
            return None
        prediction = result.prediction
        return sinks.submit(
            PredictionRecord(
                ids=result.ids,
                time=time.time(),
                endpoint=req.endpoint,
                variant=result.variant,
                model=result.model,
                version=result.version,
                inputs=req.X,
                columns=variant.columns,
                outputs=prediction.outputs,
                probabilities=prediction.probabilities,
                latency=latency,
                caller=req.caller,
                fallback=result.fallback,
                pii=variant.pii,
                classes=variant.logged_classes,
            )
        )

    return Pipeline(
        [
            ("authenticate", authenticate),
            ("resolve", resolve),
            ("receive", receive),
            ("choose", choose),
            ("validate", validate),
            ("predict", predict),
            ("record", record),
        ]
    )


__all__ = ["default_pipeline"]
