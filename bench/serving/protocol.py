"""CPU per request of the HTTP protocol layer alone: uvicorn's httptools protocol against
modelplane's connection-guarding subclass (``serving/connection.py``), in process.

    .venv/bin/python bench/serving/protocol.py [--body BYTES] [--requests N] [--reps R]

Feeds keep-alive requests (headers plus a body of ``--body`` bytes, in one read as a loopback
client delivers them) to one connection through a fake transport, answering each from a
minimal ASGI app, and prints microseconds of CPU per request for both classes — the overhead
the deadlines, header limits and connection cap add to every request.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closing = False
        self.written = 0

    def write(self, data: Any) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )


async def _app(scope: Any, receive: Any, send: Any) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


async def _run(cls: Any, request: bytes, n: int) -> float:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    config = Config(_app, http=cls, lifespan="off", log_level="warning", limit_concurrency=1000)
    config.load()
    state = ServerState()
    protocol = cls(config=config, server_state=state, app_state={})
    transport = _Transport()
    protocol.connection_made(transport)
    cpu = time.process_time()
    for _ in range(n):
        protocol.data_received(request)
        while state.tasks:
            await asyncio.gather(*list(state.tasks))
    elapsed = time.process_time() - cpu
    protocol.connection_lost(None)
    return elapsed / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--body", type=int, default=16_000)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()

    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from modelplane.serving.connection import GuardedHttpToolsProtocol

    body = b"x" * args.body
    request = (
        b"POST /v1/endpoints/lr/predict HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
        b"User-Agent: bench\r\nAccept: */*\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    results: dict[str, list[float]] = {"httptools": [], "guarded": []}
    for _ in range(args.reps):  # interleaved, so drifts of the machine hit both alike
        for name, cls in (("httptools", HttpToolsProtocol), ("guarded", GuardedHttpToolsProtocol)):
            results[name].append(asyncio.run(_run(cls, request, args.requests)))
    for name, values in results.items():
        print(
            f"{name}: {min(values):.2f} us CPU/request (best of {args.reps}: "
            + ", ".join(f"{v:.2f}" for v in values)
            + ")"
        )


if __name__ == "__main__":
    main()
