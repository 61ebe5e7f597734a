"""Where the tail latency of the predict path comes from: stalls of the server's event loop.

    .venv/bin/python bench/serving/stalls.py HOME ENDPOINT BODY.json [--conns 32] [--seconds 8]

Serves HOME's endpoints in this process (uvicorn, uvloop + httptools, one worker, pinned to CPU 0
when possible), loads ENDPOINT with ``wrk`` (pinned to CPU 1) posting BODY, and records while it
runs: every garbage collection (generation, duration), every endpoint poll of the store
(duration on the loop), and the event loop's lag (a 1 ms ticker: how late each tick ran). It
prints wrk's latency percentiles, then the stalls longer than 2 ms and what overlapped each one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("home")
    ap.add_argument("endpoint")
    ap.add_argument("body")
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--port", type=int, default=18123)
    ap.add_argument("--switch-ms", type=float, default=None, help="sys.setswitchinterval, ms")
    ap.add_argument("--lua", default=None, help="wrk script printing WRK_JSON (the harness's)")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    if args.switch_ms is not None:
        import sys

        sys.setswitchinterval(args.switch_ms / 1000)

    import uvicorn

    import modelplane as mp
    from modelplane.serving.app import create_app

    ws = mp.configure(home=args.home)
    app = create_app(ws)
    server = app.server
    events: list[tuple[str, float, float]] = []  # (what, start, end) in perf_counter seconds
    gc_start: dict[int, float] = {}

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            gc_start[threading.get_ident()] = now
        else:
            t0 = gc_start.pop(threading.get_ident(), now)
            events.append((f"gc{info['generation']}", t0, now))

    gc.callbacks.append(on_gc)
    sync = server.manager.sync

    async def timed_sync() -> None:
        t0 = time.perf_counter()
        await sync()
        events.append(("poll", t0, time.perf_counter()))

    server.manager.sync = timed_sync  # type: ignore[method-assign]
    lags: list[tuple[float, float]] = []

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(0.001)
            late = loop.time() - t0 - 0.001
            lags.append((time.perf_counter(), late))

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
    )
    uv = uvicorn.Server(config)

    async def run() -> dict[str, Any]:
        serve = asyncio.create_task(uv.serve())
        while not uv.started:
            await asyncio.sleep(0.05)
        tick = asyncio.create_task(ticker())
        url = f"http://127.0.0.1:{args.port}/v1/endpoints/{args.endpoint}/predict"
        lua = args.lua or str(Path(os.environ.get("PEER_BENCH", HERE)) / "load" / "post.lua")
        cmd = ["wrk", "-t1", f"-c{args.conns}", f"-d{int(args.seconds)}s", "-s", lua, url]
        if hasattr(os, "sched_setaffinity"):
            cmd = ["taskset", "-c", "1", *cmd]
        env = dict(os.environ, WRK_BODY_FILE=args.body)
        events.clear()
        lags.clear()
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await proc.communicate()
        if proc.returncode:
            print("wrk failed:", out.decode()[-500:], err.decode()[-500:])
        tick.cancel()
        uv.should_exit = True
        await serve
        summary = next(
            (
                json.loads(line[9:])
                for line in out.decode().splitlines()
                if line.startswith("WRK_JSON")
            ),
            {},
        )
        return {"wrk": summary, "started": started}

    result = asyncio.run(run())
    w = result["wrk"]
    if w:
        secs = w["duration_us"] / 1e6
        print(
            f"wrk c{args.conns}: {w['requests'] / secs:,.0f} req/s, p50 {w['lat_p50_us'] / 1000:.2f}"
            f" ms, p99 {w['lat_p99_us'] / 1000:.2f} ms, max {w['lat_max_us'] / 1000:.1f} ms"
        )
    kinds: dict[str, list[float]] = {}
    for what, t0, t1 in events:
        kinds.setdefault(what, []).append((t1 - t0) * 1000)
    for what, ds in sorted(kinds.items()):
        ds.sort()
        print(
            f"{what:5}: {len(ds):6} times, total {sum(ds):8.1f} ms, median {ds[len(ds) // 2]:.3f}"
            f" ms, max {ds[-1]:.2f} ms"
        )
    if lags:
        values = sorted(late * 1000 for _, late in lags)
        print(
            f"loop lag: {len(values)} ticks, p50 {values[len(values) // 2]:.2f} ms, p99 "
            f"{values[int(len(values) * 0.99)]:.2f} ms, max {values[-1]:.1f} ms"
        )
        stalls = [(t, late) for t, late in lags if late > 0.002]
        print(f"stalls > 2 ms: {len(stalls)}")
        for t, late in stalls[:40]:
            begin = t - late - 0.001
            overlap = [
                f"{what} {1000 * (t1 - t0):.1f}ms"
                for what, t0, t1 in events
                if t0 < t and t1 > begin
            ]
            print(f"  at {t - result['started']:7.3f}s late {late * 1000:6.1f} ms: {overlap}")


if __name__ == "__main__":
    main()
