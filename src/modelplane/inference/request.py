"""The typed request and result of one prediction call, whatever wire protocol carried it.

A wire protocol parses bytes into an :class:`InferenceRequest` (the rows as model input, plus
what the caller asked for) and dumps an :class:`InferenceResult` back into bytes; every stage
between them — choosing the variant, predicting, recording — reads and writes these two objects
only. One of each is made per request on the hot path, so both are ``msgspec.Struct`` classes:
built in C (a quarter of the cost of a dataclass ``__init__``), with slots for attributes. They
are never encoded or decoded; msgspec is used only for the cheap construction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from modelplane.inference.live import LiveEndpoint, LiveVariant
    from modelplane.inference.prediction import Prediction


class InferenceRequest(msgspec.Struct):
    """One prediction request as it moves through the stages.

    Filled in order: the route gives ``endpoint``, ``version`` and ``headers`` (and ``body``, or
    a ``reader`` for it); authentication ``caller``; resolution ``live``; the traffic policy
    ``variant``; validation (the protocol's parse) ``X``, ``rows`` and ``options``; prediction
    ``result``.
    """

    endpoint: str
    body: bytes | None
    received: float  # time.perf_counter() when the request arrived
    version: str | None = None  # a version asked for by the route (/versions/{v})
    headers: Any = None  # the raw header pairs, for stages that read one (routing keys, auth)
    header_length: int | None = None  # v2 binary extension: bytes of JSON before the tensors
    reader: Any = None  # the ASGI receive callable, when the body is still to be read
    route: Any = None  # the data route: its wire protocol and the permission it needs
    caller: str | None = None  # who asked (the authenticated principal's name)
    live: LiveEndpoint | None = None
    variant: LiveVariant | None = None
    X: Any = None  # the rows as the variant's model input
    rows: int = 0
    options: Any = None  # what the protocol needs to answer (v2: id, requested outputs)
    result: InferenceResult | None = None  # set by the predict stage
    client: str | None = None  # the caller's address (failed authentications are counted by it)


class InferenceResult(msgspec.Struct):
    """What answered a request: the prediction, its ids and who computed it."""

    prediction: Prediction
    ids: list[str]
    model: str  # "name/version" of the model(s) that answered ("+"-joined for graphs)
    variant: str  # the variant's name
    version: str  # the variant's version label (what /versions/{v} routes on)
    fallback: bool = False  # the endpoint's fallback answered instead of the variant


__all__ = ["InferenceRequest", "InferenceResult"]
