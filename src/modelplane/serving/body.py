"""Reading a data-plane request body from ASGI messages: bounded by a size limit, of a media
type the route takes, never compressed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from modelplane.errors import InvalidInputError, PayloadTooLargeError
from modelplane.serving.media import JSON, check_data_type, check_encoding

if TYPE_CHECKING:
    from modelplane.inference.request import InferenceRequest

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


def too_many_rows(req: InferenceRequest) -> PayloadTooLargeError:
    """The 413 for a request of more rows than its endpoint's ``limits.max_batch_rows``."""
    limit = req.live.config.limits.max_batch_rows  # type: ignore[union-attr]
    return PayloadTooLargeError(
        f"{req.rows} rows in one request; this endpoint takes at most {limit} "
        "(limits.max_batch_rows): split the batch",
        field="inputs",
        limit=limit,
    )


class ClientDisconnected(Exception):
    """The client went away before its request body arrived."""


async def receive_body(req: InferenceRequest, limit: int) -> None:
    """Read the body of ``req`` (``req.reader`` is the ASGI receive callable) into
    ``req.body``, refused before reading when its declared length exceeds ``limit`` bytes
    (413), its Content-Type is not one the route takes or it is compressed (415,
    :mod:`modelplane.serving.media`), and once more than ``limit`` bytes arrived (413)."""
    receive: Receive = req.reader
    for key, value in req.headers:  # one pass for the three headers
        if key == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise InvalidInputError("invalid Content-Length", field="content-length") from None
            if declared > limit:
                raise PayloadTooLargeError(
                    f"the body is {declared} bytes; the limit is {limit}", field="body"
                )
        elif key == b"content-type":
            if value != JSON:
                check_data_type(value, req.route.protocol.v2_errors)
        elif key == b"content-encoding":
            check_encoding(value)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(
                    f"the body exceeds the limit of {limit} bytes", field="body"
                )
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    req.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)


__all__ = ["ClientDisconnected", "receive_body", "too_many_rows"]
