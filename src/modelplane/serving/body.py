"""Reading a request body from ASGI messages, bounded by a size limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from modelplane.errors import InvalidInputError, PayloadTooLargeError

if TYPE_CHECKING:
    from modelplane.inference.request import InferenceRequest

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class ClientDisconnected(Exception):
    """The client went away before its request body arrived."""


async def receive_body(req: InferenceRequest, limit: int) -> None:
    """Read the body of ``req`` (``req.reader`` is the ASGI receive callable) into
    ``req.body``, refused (413) once it exceeds ``limit`` bytes."""
    receive: Receive = req.reader
    for key, value in req.headers:
        if key == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise InvalidInputError("invalid Content-Length", field="content-length") from None
            if declared > limit:
                raise PayloadTooLargeError(
                    f"the body is {declared} bytes; the limit is {limit}", field="body"
                )
            break
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


__all__ = ["ClientDisconnected", "receive_body"]
