"""``modelplane serve``: the server (data plane, control plane, metrics) in one process tree."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import tempfile
from types import FrameType
from typing import Annotated

import typer

from modelplane.errors import InvalidInputError


def _check_proxies(value: str) -> None:
    for item in (v.strip() for v in value.split(",")):
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item)
        except ValueError:
            raise InvalidInputError(
                f"--forwarded-allow-ips: {item!r} is not an IP address or network; give a "
                "comma-separated list such as 10.0.0.0/8,127.0.0.1",
                field="forwarded-allow-ips",
            ) from None


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """SIGTERM outside uvicorn's own handling: end ``modelplane serve`` with status 0.

    uvicorn handles SIGTERM itself (our drain, then a graceful shutdown) and, once done, raises
    the signal again for the handler that was installed before it; with the default handler the
    process then died of SIGTERM (status -15 / 143) after an orderly shutdown, and the ``finally``
    below (the metrics folder) never ran.
    """
    raise SystemExit(0)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes sharing the port.", min=1, max=64)
    ] = 1,
    insecure: Annotated[
        bool, typer.Option(help="Allow binding beyond loopback without authentication.")
    ] = False,
    poll_interval: Annotated[
        float, typer.Option(help="Seconds between checks for endpoint/alias changes.", min=0.05)
    ] = 1.0,
    drain_seconds: Annotated[
        float, typer.Option(help="On SIGTERM: seconds of 503 readiness before shutdown.", min=0)
    ] = 2.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated addresses of proxies whose X-Forwarded-For/-Proto headers are "
            "trusted ('*' for any). Unset: such headers are ignored."
        ),
    ] = None,
) -> None:
    """Serve every endpoint: Open Inference Protocol v2, native JSON, /api/v1, /metrics."""
    from modelplane.cli import state as cli_state
    from modelplane.config import SERVER_ENV, ServerSettings
    from modelplane.serving.server import check_bind

    state = cli_state()
    settings = state.settings()
    server_settings = ServerSettings(
        host=host,
        port=port,
        workers=workers,
        insecure=insecure,
        poll_interval=poll_interval,
        drain_seconds=drain_seconds,
    )
    check_bind(host, settings.auth, insecure)  # again where each worker builds its server
    if forwarded_allow_ips is not None:
        _check_proxies(forwarded_allow_ips)
    if log_level not in ("critical", "error", "warning", "info", "debug", "trace"):
        raise InvalidInputError(f"unknown log level {log_level!r}", field="log-level")

    # Workers read the same settings from the environment; migrate once before they start.
    os.environ["MODELPLANE_HOME"] = str(settings.home)
    os.environ["MODELPLANE_DB_URL"] = settings.db_url
    os.environ["MODELPLANE_ARTIFACTS"] = settings.artifacts
    os.environ[SERVER_ENV] = server_settings.to_env()
    state.workspace().meta.migrate()

    metrics_dir = None
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="modelplane-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    import uvicorn

    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    typer.echo(f"modelplane serving on http://{host}:{port} ({workers} worker(s))", err=True)
    previous = signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        uvicorn.run(
            "modelplane.serving.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop=loop,
            http="httptools",
            lifespan="on",
            access_log=False,
            # X-Forwarded-* only when the operator names the proxies: parsing them costs every
            # request, and trusting them from anyone would let clients pick their address.
            proxy_headers=forwarded_allow_ips is not None,
            forwarded_allow_ips=forwarded_allow_ips,
            log_level=log_level,
            timeout_graceful_shutdown=30,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
