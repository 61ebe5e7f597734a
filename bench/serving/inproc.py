"""CPU per request of the server's request path, in process (no HTTP, no kernel, no wrk).

    .venv/bin/python bench/serving/inproc.py HOME ENDPOINT BODY.json [--conns 32] [--seconds 5]
        [--asgi] [--token TOKEN]

Drives the data plane's request handler the way the ASGI fast path does (same body, ``conns``
requests in flight) and prints microseconds of CPU per request, best of ``--reps``. ``--asgi``
calls the whole ASGI application instead (Host/Origin checks, routing, the body read from ASGI
messages); ``--v2`` (with ``--asgi``) posts to the v2 route instead; ``--token`` sends ``Authorization: Bearer TOKEN`` (with ``MODELPLANE_AUTH=required``
in the environment, every request is then authenticated). Works on
this tree and on earlier ones (``PYTHONPATH=<old>/src``), so a change to the predict path can be
measured before and after on the same machine within seconds of each other.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("home")
    ap.add_argument("endpoint")
    ap.add_argument("body")
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--asgi", action="store_true", help="drive the whole ASGI app")
    ap.add_argument("--token", default=None, help="send this bearer token")
    ap.add_argument(
        "--v2", action="store_true", help="with --asgi: the v2 route (/v2/models/ENDPOINT/infer)"
    )
    args = ap.parse_args()

    import modelplane as mp
    from modelplane.serving.app import create_app

    body = Path(args.body).read_bytes()
    ws = mp.configure(home=args.home)
    app = create_app(ws)
    server = app.server
    headers = [(b"content-type", b"application/json")]
    if args.token:
        headers.append((b"authorization", f"Bearer {args.token}".encode()))
    if args.asgi:
        path = f"/v1/endpoints/{args.endpoint}/predict"
        if args.v2:
            path = f"/v2/models/{args.endpoint}/infer"
        scope_headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ]

        async def call() -> Any:
            scope = {
                "type": "http",
                "method": "POST",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "headers": scope_headers,
                "client": ("127.0.0.1", 50000),
                "server": ("127.0.0.1", 8000),
                "scheme": "http",
                "http_version": "1.1",
            }
            sent = False
            status = 0

            async def receive() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]

            await app(scope, receive, send)
            return status, b"", []
    elif hasattr(server, "handle"):  # the request pipeline
        from modelplane.serving.routes import NATIVE_PREDICT

        def call() -> Any:
            return server.handle(NATIVE_PREDICT, args.endpoint, None, headers, body=body)
    else:  # before it: Server.predict(protocol, name, version, body)

        def call() -> Any:
            return server.predict("native", args.endpoint, None, body)

    async def worker(stop: float, counts: list[int]) -> None:
        n = 0
        while time.perf_counter() < stop:
            status, _, _ = await call()
            assert status == 200, status
            n += 1
        counts.append(n)

    async def run() -> None:
        start = getattr(server, "start", None)
        if start is not None:
            await start()
        else:
            await server.manager.start()
        results = []
        for _ in range(args.reps):
            counts: list[int] = []
            cpu0, t0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(worker(t0 + args.seconds, counts) for _ in range(args.conns)))
            cpu, wall, n = time.process_time() - cpu0, time.perf_counter() - t0, sum(counts)
            results.append((cpu / n * 1e6, n / wall))
        await server.manager.stop()
        best = min(results)
        print(
            f"c{args.conns}: {best[0]:.1f} us CPU/request (best of {args.reps}: "
            + ", ".join(f"{c:.1f}" for c, _ in results)
            + f"), {best[1]:,.0f} req/s"
        )

    asyncio.run(run())


if __name__ == "__main__":
    main()
