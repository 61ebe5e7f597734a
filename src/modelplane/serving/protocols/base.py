"""The one interface every wire protocol of the data plane implements.

A protocol turns the bytes of a request into the typed :class:`InferenceRequest` fields the
later stages read (:meth:`WireProtocol.decode`: the rows as the chosen variant's model input, and
whatever the protocol must remember to answer), and an :class:`InferenceResult` into the bytes
and headers of the answer (:meth:`WireProtocol.encode`), errors included. It does nothing else:
no routing, no authentication, no model calls, no metrics.

To add a protocol: implement this class in a module of this package, add its routes to
:data:`modelplane.serving.routes.DATA_ROUTES`, and nothing else changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from modelplane.serving.http_errors import error_body, error_headers

if TYPE_CHECKING:
    from modelplane.errors import ModelplaneError
    from modelplane.inference.request import InferenceRequest, InferenceResult

Headers = list[tuple[bytes, bytes]]
JSON: Headers = [(b"content-type", b"application/json")]


class WireProtocol(ABC):
    #: the label of the protocol in metrics (``modelplane_requests{protocol=...}``)
    name: str
    #: error bodies in the Open Inference Protocol's shape (``error`` is the message)
    v2_errors: bool = False

    @abstractmethod
    def decode(self, request: InferenceRequest) -> None:
        """Parse ``request.body`` against ``request.variant.spec``: set ``X``, ``rows`` and
        ``options``. Bad input raises :class:`~modelplane.errors.InvalidInputError` (or a
        subclass) naming the field."""

    @abstractmethod
    def encode(self, request: InferenceRequest, result: InferenceResult) -> tuple[bytes, Headers]:
        """The answer's body and headers."""

    def error(self, exc: ModelplaneError) -> tuple[bytes, Headers]:
        """An error answer's body and headers (the status is ``exc.http_status``)."""
        return error_body(exc, v2=self.v2_errors), error_headers(exc)


__all__ = ["JSON", "Headers", "WireProtocol"]
