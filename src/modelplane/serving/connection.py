"""Connection-level limits of ``modelplane serve``: uvicorn's httptools protocol, extended.

uvicorn (with httptools) closes a keep-alive connection that stays idle after a response, and
answers 503 beyond ``limit_concurrency``; it has no limit on how long a request may take to
arrive, none on a connection that never sends anything, and none on the size of the request
headers (llhttp parses headers of any size). Half-open connections trickling a header byte now
and then therefore held their file descriptors forever. :class:`GuardedHttpToolsProtocol` adds:

* **idle connections**: a new connection that sends nothing is closed after
  ``timeout_keep_alive`` seconds, like an idle keep-alive connection;
* **request deadline**: the request line, headers and body must arrive within
  ``timeout_request`` seconds of the request's first byte, plus one second per
  :data:`MIN_BODY_RATE` bytes of body received (a large upload at a decent rate is never cut
  off; a request trickling in is). Past the deadline the answer is 408 with a JSON body naming
  ``headers`` or ``body`` (none if the application already answered), and the connection is
  closed; an application still reading the body sees the client disconnect;
* **header size**: more than :data:`MAX_HEADER_BYTES` of request line and headers, or more than
  :data:`MAX_HEADER_FIELDS` fields, is answered 431 and the connection closed;
* **Content-Encoding**: a request whose body is encoded (gzip, deflate, br, …) is answered 415
  naming ``content-encoding`` before the application sees it: bodies are never inflated;
* **connection cap**: at most ``limit_concurrency`` open connections per process — one beyond
  is answered 503 at once and closed, so idle connections cannot exhaust the file descriptors —
  and at most ``limit_concurrency`` requests in flight — a request beyond is answered 503. Both
  answers are JSON with ``Retry-After`` (uvicorn's own check answered plain text, and counted
  the connection asking, so that ``limit_concurrency`` connections were never all served).

Deadlines are checked by one timer per process (every :data:`TICK` seconds at most), not one per
request: the request path pays a clock read and a few attribute writes per request.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from modelplane.config import ServerSettings
from modelplane.errors import UnsupportedMediaError
from modelplane.serving.http_errors import is_v2_path, v2_shape
from modelplane.serving.media import check_encoding

MAX_HEADER_BYTES = 64 * 1024
"""Request line plus header fields, in bytes (nginx's default buffers hold 32 KiB)."""
MAX_HEADER_FIELDS = 100
MIN_BODY_RATE = 128 * 1024
"""Bytes per second a body may arrive at without running into the request deadline."""
TICK = 1.0
"""The longest interval between two deadline checks (shorter for short timeouts)."""

_CODES = {408: "request_timeout", 415: "unsupported_media_type", 431: "headers_too_large"}

FRESH, HEADERS, BODY, DONE = range(4)
"""A connection's phase: connected but silent, reading headers, reading the body, request
read (the application answers; uvicorn's keep-alive timer takes over after the response)."""


@functools.cache
def _settings() -> ServerSettings:
    """The settings ``modelplane serve`` left for its workers (read once per process)."""
    return ServerSettings.from_env()


def _answer(status: int, reason: bytes, code: str, message: str, field: str, v2: bool) -> bytes:
    """A complete HTTP/1.1 response with a JSON error body; the connection is closed after."""
    doc: dict[str, Any] = {"error": code, "message": message, "field": field}
    body = orjson.dumps(v2_shape(doc) if v2 else doc)
    extra = b"retry-after: 1\r\n" if status == 503 else b""
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"%sconnection: close\r\n\r\n%s" % (status, reason, len(body), extra, body)
    )


def _over_capacity(v2: bool) -> bytes:
    return _answer(
        503,
        b"Service Unavailable",
        "unavailable",
        "the server is at its connection limit (--limit-concurrency); retry shortly",
        "connection",
        v2,
    )


class _Refused:
    """Stands in for the request/response cycle of a request answered by the protocol itself,
    so the parser's later callbacks (body, message complete) see it as already answered."""

    response_started = True
    response_complete = True
    disconnected = True

    def __init__(self) -> None:
        self.message_event = asyncio.Event()


class _Sweeper:
    """The one timer of a process that checks every connection's deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: set[Any], tick: float):
        self.loop = loop
        self.connections = connections
        self.tick = tick
        self.handle: asyncio.TimerHandle | None = None

    def ensure(self) -> None:
        if self.handle is None:
            self.handle = self.loop.call_later(self.tick, self.sweep)

    def sweep(self) -> None:
        self.handle = None
        now = self.loop.time()
        for conn in list(self.connections):
            if isinstance(conn, GuardedHttpToolsProtocol):
                conn.check_deadline(now, self.tick)
        if self.connections:
            self.ensure()


_SWEEPERS: weakref.WeakKeyDictionary[Any, _Sweeper] = weakref.WeakKeyDictionary()

# uvicorn's methods, called directly rather than through super() on every request
_base_data_received = HttpToolsProtocol.data_received
_base_message_begin = HttpToolsProtocol.on_message_begin
_base_headers_complete = HttpToolsProtocol.on_headers_complete
_base_message_complete = HttpToolsProtocol.on_message_complete


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with request deadlines, header limits and a hard connection cap (module
    docstring). ``modelplane serve`` passes it to uvicorn as its ``http`` implementation."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = _settings()
        self.timeout_request = float(settings.timeout_request)
        self.timeout_idle = float(self.timeout_keep_alive)
        # uvicorn's own check answers plain text; this class answers JSON (on_headers_complete)
        self.cap: int | None = self.limit_concurrency
        self.limit_concurrency = None
        self.phase = FRESH
        self.since = 0.0
        self.header_bytes = 0  # bytes of reads that ended with the headers still incomplete
        self.body_bytes = 0
        self.read = 0  # bytes of the read being parsed

    # -- connection -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.phase = FRESH
        self.since = self.loop.time()
        if self.cap is not None and len(self.connections) > self.cap:
            transport.write(_over_capacity(False))
            transport.close()
            return
        sweeper = _SWEEPERS.get(self.server_state)
        if sweeper is None:
            tick = max(0.05, min(TICK, self.timeout_request / 4, self.timeout_idle / 4))
            sweeper = _SWEEPERS[self.server_state] = _Sweeper(self.loop, self.connections, tick)
        sweeper.ensure()

    def data_received(self, data: bytes) -> None:
        self.read = len(data)
        if self.phase == BODY:
            self.body_bytes += self.read
        _base_data_received(self, data)
        if self.phase == HEADERS:  # the headers are still incomplete after this read
            self.header_bytes += len(data)
            if self.header_bytes > MAX_HEADER_BYTES:
                self.refuse(431, b"Request Header Fields Too Large", "headers", self._too_big())

    # -- parser callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        _base_message_begin(self)
        self.phase = HEADERS
        self.since = self.loop.time()
        self.header_bytes = 0

    def on_headers_complete(self) -> None:
        self.phase = BODY
        self.body_bytes = 0
        if self.transport.is_closing():  # a request pipelined behind a refused one
            self.cycle = _Refused()  # type: ignore[assignment]
            return
        headers = self.headers
        if len(headers) > MAX_HEADER_FIELDS or (
            # headers completed by a large read: count them exactly
            self.header_bytes + self.read > MAX_HEADER_BYTES
            and len(self.url) + sum(len(k) + len(v) for k, v in headers) > MAX_HEADER_BYTES
        ):
            self.refuse(431, b"Request Header Fields Too Large", "headers", self._too_big())
            return
        for key, value in headers:
            if key == b"content-encoding":
                try:
                    check_encoding(value)
                except UnsupportedMediaError as exc:
                    self.refuse(415, b"Unsupported Media Type", "content-encoding", exc.message)
                    return
        cap = self.cap
        if cap is not None and len(self.tasks) >= cap:
            app = self.app
            self.app = _unavailable
            try:
                _base_headers_complete(self)
            finally:
                self.app = app
            return
        _base_headers_complete(self)

    def on_message_complete(self) -> None:
        self.phase = DONE
        _base_message_complete(self)

    # -- refusals -------------------------------------------------------------------------------

    @staticmethod
    def _too_big() -> str:
        return f"the request headers exceed {MAX_HEADER_BYTES} bytes or {MAX_HEADER_FIELDS} fields"

    def refuse(self, status: int, reason: bytes, field: str, message: str) -> None:
        """Answer the request whose headers are being read (the application never sees it)
        and close the connection."""
        code = _CODES[status]
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:  # a pipelined request before it
            cycle.disconnected = True
            cycle.message_event.set()
        self.cycle = _Refused()  # type: ignore[assignment]
        if not self.transport.is_closing():
            path = str(self.scope.get("path", "")) if self.scope is not None else ""
            self.transport.write(_answer(status, reason, code, message, field, is_v2_path(path)))
        self.transport.close()

    def expire_body(self) -> None:
        """The body is late: 408 unless an answer was started, the application (if it is still
        reading) sees the client disconnect, and the connection is closed."""
        cycle = self.cycle
        if not cycle.response_started:
            message = (
                f"the request did not arrive within {self.timeout_request:g} s (plus 1 s per "
                f"{MIN_BODY_RATE} bytes of body received)"
            )
            v2 = is_v2_path(str(self.scope.get("path", "")))
            answer = _answer(408, b"Request Timeout", "request_timeout", message, "body", v2)
            self.transport.write(answer)
        if not cycle.response_complete:
            cycle.disconnected = True  # its answer, if any, is dropped
            cycle.message_event.set()
        self.transport.close()

    def check_deadline(self, now: float, tick: float) -> None:
        """Called by the sweeper: close connections idle or slow past their deadline."""
        phase = self.phase
        if phase == DONE or self.transport.is_closing():
            return
        elapsed = now - self.since
        if phase == FRESH:
            if elapsed > self.timeout_idle:
                self.transport.close()
        elif self.flow.read_paused:
            # the server is not reading (the application has not taken what arrived, or a
            # pipelined request waits for the one before): not the client's delay
            self.since += tick
        elif phase == HEADERS:
            if elapsed > self.timeout_request:
                message = f"the request headers did not arrive within {self.timeout_request:g} s"
                self.refuse(408, b"Request Timeout", "headers", message)
        elif elapsed > self.timeout_request + self.body_bytes / MIN_BODY_RATE:
            self.expire_body()


async def _unavailable(scope: Any, receive: Any, send: Any) -> None:
    """The ASGI answer to a request beyond ``limit_concurrency``."""
    body = _over_capacity(is_v2_path(str(scope.get("path", "")))).split(b"\r\n\r\n", 1)[1]
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_HEADER_FIELDS",
    "MIN_BODY_RATE",
    "GuardedHttpToolsProtocol",
]
