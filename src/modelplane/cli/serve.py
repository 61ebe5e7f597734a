"""``modelplane serve``: the server (data plane, control plane, metrics) in one process tree.

The options become one :class:`~modelplane.config.ServerSettings`, checked here (bad values exit
2 with one line) and handed to every worker; uvicorn gets the TLS files, the connection limit
and the timeouts, and runs the connection-guarding protocol of
:mod:`modelplane.serving.connection`.
"""

from __future__ import annotations

import errno
import inspect
import ipaddress
import os
import re
import shutil
import signal
import socket
import ssl
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints
from urllib.parse import urlsplit

import typer
from typer.models import ArgumentInfo

from modelplane.errors import InvalidInputError

if TYPE_CHECKING:
    from modelplane.config import ServerSettings

_HOST = re.compile(r"^(\*|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.:-]{1,253})$")


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


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _check_hosts(value: str | None) -> tuple[str, ...] | None:
    """``--allowed-hosts``: host names or addresses (a port is ignored), ``*`` for any."""
    if value is None:
        return None
    hosts = _list(value)
    if not hosts:
        raise InvalidInputError(
            "--allowed-hosts: give at least one host name", field="allowed-hosts"
        )
    for host in hosts:
        if not _HOST.match(host):
            raise InvalidInputError(
                f"--allowed-hosts: {host[:80]!r} is not a host name or address; give a "
                "comma-separated list such as mp.example.com,10.0.0.5",
                field="allowed-hosts",
            )
    return hosts


def _check_origins(value: str | None) -> tuple[str, ...]:
    """``--allowed-origins``: ``scheme://host[:port]`` each, nothing after."""
    origins = _list(value)
    for origin in origins:
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
        ):
            raise InvalidInputError(
                f"--allowed-origins: {origin[:80]!r} is not an origin; give a comma-separated "
                "list such as https://ui.example.com,http://localhost:3000",
                field="allowed-origins",
            )
    return origins


def _file(flag: str, value: str) -> str:
    path = Path(value).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"--{flag}: {value} is not a file", field=flag)
    return str(path.resolve())


def _no_password() -> bytes:
    raise InvalidInputError(
        "--tls-key: the key is encrypted; give an unencrypted key file (readable by this user "
        "only)",
        field="tls-key",
    )


def _check_tls(
    cert: str | None, key: str | None, client_ca: str | None
) -> tuple[str | None, str | None, str | None]:
    """The TLS files, made absolute and loaded once here, so a bad file is one line and exit 2
    rather than a failure in every worker."""
    if cert is None and key is None:
        if client_ca is not None:
            raise InvalidInputError(
                "--tls-client-ca needs --tls-cert and --tls-key (client certificates are "
                "checked over TLS)",
                field="tls-client-ca",
            )
        return None, None, None
    if cert is None or key is None:
        missing = "tls-key" if key is None else "tls-cert"
        raise InvalidInputError(
            f"--tls-cert and --tls-key go together: --{missing} is missing", field=missing
        )
    cert, key = _file("tls-cert", cert), _file("tls-key", key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=_no_password)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise InvalidInputError(
            f"--tls-cert/--tls-key: cannot load the certificate and its key: {exc}",
            field="tls-cert",
        ) from None
    if client_ca is not None:
        client_ca = _file("tls-client-ca", client_ca)
        try:
            context.load_verify_locations(cafile=client_ca)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise InvalidInputError(
                f"--tls-client-ca: cannot load CA certificates from {client_ca}: {exc}",
                field="tls-client-ca",
            ) from None
    return cert, key, client_ca


def _uvicorn_tls(settings: ServerSettings) -> dict[str, Any]:
    """uvicorn's TLS keywords: the certificate and key, and with a client CA, client
    certificates required and verified against it."""
    if settings.tls_cert is None:
        return {}
    options: dict[str, Any] = {
        "ssl_certfile": settings.tls_cert,
        "ssl_keyfile": settings.tls_key,
    }
    if settings.tls_client_ca is not None:
        options["ssl_cert_reqs"] = ssl.CERT_REQUIRED
        options["ssl_ca_certs"] = settings.tls_client_ca
    return options


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """SIGTERM outside uvicorn's own handling: end ``modelplane serve`` with status 0.

    uvicorn handles SIGTERM itself (our drain, then a graceful shutdown) and, once done, raises
    the signal again for the handler that was installed before it; with the default handler the
    process then died of SIGTERM (status -15 / 143) after an orderly shutdown, and the ``finally``
    below (the metrics folder) never ran.
    """
    raise SystemExit(0)


def _option(default: Any, help: str, *flags: str, **typer_kwargs: Any) -> Any:
    """A field of :class:`ServeOptions`: its default and its ``typer.Option``."""
    return field(
        default=default, metadata={"option": typer.Option(*flags, help=help, **typer_kwargs)}
    )


@dataclass(frozen=True)
class ServeOptions:
    """The options of ``modelplane serve``, declared once: each field is a command-line option
    (``--poll-interval`` for ``poll_interval``) with its default and help; ``model_uri`` is the
    optional ``MODEL_URI`` argument."""

    model_uri: str | None = field(
        default=None,
        metadata={
            "option": typer.Argument(
                help="Serve only this model (models:/NAME@ALIAS or models:/NAME/VERSION) as an "
                "endpoint named NAME, without a deploy; nothing is stored. Omitted: every "
                "deployed endpoint.",
                show_default=False,
            )
        },
    )
    host: str = _option("127.0.0.1", "Address to bind.")
    port: int = _option(8000, "TCP port.", min=1, max=65535)
    workers: int = _option(1, "Worker processes sharing the port.", min=1, max=64)
    insecure: bool = _option(False, "Allow binding beyond loopback without authentication.")
    poll_interval: float = _option(
        1.0, "Seconds between checks for endpoint/alias changes.", min=0.05
    )
    drain_seconds: float = _option(
        2.0, "On SIGTERM: seconds of 503 readiness before shutdown.", min=0
    )
    log_level: str = _option("warning", "uvicorn log level.")
    forwarded_allow_ips: str | None = _option(
        None,
        "Comma-separated addresses of proxies whose X-Forwarded-For/-Proto headers are trusted "
        "('*' for any). Unset: such headers are ignored.",
    )
    allowed_hosts: str | None = _option(
        None,
        "Comma-separated Host header values answered ('*' for any). Unset: the loopback names "
        "when bound to loopback, any host otherwise.",
    )
    allowed_origins: str | None = _option(
        None,
        "Comma-separated browser origins (https://ui.example.com) besides the server's own "
        "that may make state-changing requests.",
    )
    allow_pickle_models: bool | None = _option(
        None,
        "Accept pickle-based model uploads (loading one runs code). Unset: only on loopback.",
        "--allow-pickle-models/--no-allow-pickle-models",
    )
    rate_limit: float | None = _option(
        None, "Requests per second per token (bursts of one second's worth). Unset: no limit."
    )
    tls_cert: str | None = _option(None, "PEM certificate (chain): serve HTTPS.")
    tls_key: str | None = _option(None, "PEM private key of --tls-cert (unencrypted).")
    tls_client_ca: str | None = _option(
        None, "PEM CA certificates: require client certificates signed by them (mutual TLS)."
    )
    limit_concurrency: int = _option(
        1000,
        "Per worker: open connections (one more is answered 503 and closed) and requests in "
        "flight (one more is answered 503).",
        min=1,
    )
    timeout_keep_alive: float = _option(
        5.0, "Seconds an idle connection (new or between requests) stays open.", min=0.1
    )
    timeout_request: float = _option(
        30.0,
        "Seconds for a request's headers and body to arrive (plus 1 s per 128 KiB of body); "
        "slower requests are answered 408.",
        min=0.5,
    )

    def settings(self) -> ServerSettings:
        """Checked server settings (bad values raise InvalidInputError: exit 2, one line)."""
        from modelplane.config import ServerSettings

        if self.forwarded_allow_ips is not None:
            _check_proxies(self.forwarded_allow_ips)
        if self.log_level not in ("critical", "error", "warning", "info", "debug", "trace"):
            raise InvalidInputError(f"unknown log level {self.log_level!r}", field="log-level")
        if self.rate_limit is not None and not self.rate_limit > 0:
            raise InvalidInputError(
                f"--rate-limit must be a positive number of requests per second, got "
                f"{self.rate_limit}",
                field="rate-limit",
            )
        cert, key, client_ca = _check_tls(self.tls_cert, self.tls_key, self.tls_client_ca)
        return ServerSettings(
            host=self.host,
            port=self.port,
            workers=self.workers,
            insecure=self.insecure,
            poll_interval=self.poll_interval,
            drain_seconds=self.drain_seconds,
            allowed_hosts=_check_hosts(self.allowed_hosts),
            allowed_origins=_check_origins(self.allowed_origins),
            allow_pickle_models=self.allow_pickle_models,
            rate_limit=self.rate_limit,
            tls_cert=cert,
            tls_key=key,
            tls_client_ca=client_ca,
            limit_concurrency=self.limit_concurrency,
            timeout_keep_alive=self.timeout_keep_alive,
            timeout_request=self.timeout_request,
            model_uri=self.model_uri,
        )


def _signature(options: type[ServeOptions]) -> inspect.Signature:
    """The command's signature, built from the fields (what typer reads its options from)."""
    hints = get_type_hints(options)
    return inspect.Signature(
        [
            inspect.Parameter(
                f.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD
                if isinstance(f.metadata["option"], ArgumentInfo)
                else inspect.Parameter.KEYWORD_ONLY,
                default=f.default,
                annotation=Annotated[hints[f.name], f.metadata["option"]],
            )
            for f in fields(options)
        ]
    )


def serve(*args: Any, **options: Any) -> None:
    """Serve every endpoint (or, with MODEL_URI, that one model): Open Inference Protocol v2,
    native JSON, /api/v1, /metrics."""
    from modelplane.cli import state as cli_state
    from modelplane.config import SERVER_ENV
    from modelplane.serving.server import check_bind

    opts = ServeOptions(*args, **options)
    state = cli_state()
    settings = state.settings()
    server_settings = opts.settings()
    check_bind(opts.host, settings.auth, opts.insecure)  # again where each worker builds its server

    # Workers read the same settings from the environment; migrate once before they start.
    os.environ["MODELPLANE_HOME"] = str(settings.home)
    os.environ["MODELPLANE_DB_URL"] = settings.db_url
    os.environ["MODELPLANE_ARTIFACTS"] = settings.artifacts
    os.environ[SERVER_ENV] = server_settings.to_env()
    ws = state.workspace()
    ws.meta.migrate()
    served = "every endpoint"
    if opts.model_uri is not None:
        # an unknown model, version or alias exits 2 naming which, before anything binds
        mv = ws.registry.resolve(opts.model_uri)
        served = f"{opts.model_uri} (v{mv.version}) as endpoint {mv.name}"

    sock = _bind(server_settings)  # a port in use: one line, exit 2; "serving on" only after
    metrics_dir = None
    if opts.workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="modelplane-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    url = f"{server_settings.scheme}://{_url_host(opts.host)}:{opts.port}"
    typer.echo(f"modelplane serving {served} on {url} ({opts.workers} worker(s))", err=True)
    previous = signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        _run(server_settings, opts.log_level, opts.forwarded_allow_ips, sock)
    finally:
        sock.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


serve.__signature__ = _signature(ServeOptions)  # type: ignore[attr-defined]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _bind(settings: ServerSettings) -> socket.socket:
    """The listening socket, bound here so that a taken port or a foreign address is one line
    and exit 2 (uvicorn would log a traceback-like line and exit 1), and so that nothing says
    "serving on" before the port is ours. Every worker accepts on this one socket."""
    host, port = settings.host.strip("[]"), settings.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is fine
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInputError(
                f"port {port} on {host} is already in use; stop the process using it or choose "
                "another --port",
                field="port",
            ) from None
        if exc.errno == errno.EACCES:
            raise InvalidInputError(
                f"no permission to bind port {port} on {host}; choose a port above 1023",
                field="port",
            ) from None
        raise InvalidInputError(
            f"cannot bind {host}:{port}: {exc.strerror or exc}; --host must be an address of "
            "this machine (127.0.0.1, 0.0.0.0, ::)",
            field="host",
        ) from None
    sock.set_inheritable(True)
    return sock


def _run(
    settings: ServerSettings, log_level: str, forwarded_allow_ips: str | None, sock: socket.socket
) -> None:
    _start(_uvicorn_options(settings, log_level, forwarded_allow_ips), sock)


def _uvicorn_options(
    settings: ServerSettings, log_level: str, forwarded_allow_ips: str | None
) -> dict[str, Any]:
    """uvicorn's configuration for ``settings``."""
    from modelplane.serving.connection import GuardedHttpToolsProtocol

    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return dict(
        app="modelplane.serving.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop=loop,
        # httptools, plus request deadlines, header limits and the connection cap
        http=GuardedHttpToolsProtocol,
        ws="none",  # no route speaks WebSocket: upgrade requests are plain requests
        lifespan="on",
        access_log=False,
        # X-Forwarded-* only when the operator names the proxies: parsing them costs every
        # request, and trusting them from anyone would let clients pick their address.
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level=log_level,
        timeout_graceful_shutdown=30,
        limit_concurrency=settings.limit_concurrency,
        # uvicorn declares int seconds; any number works (it only schedules a timer)
        timeout_keep_alive=settings.timeout_keep_alive,
        **_uvicorn_tls(settings),
    )


def _start(options: dict[str, Any], sock: socket.socket) -> None:
    """What ``uvicorn.run`` does once it has bound its socket, on ``sock``: one server in this
    process, or with several workers, uvicorn's supervisor of worker processes sharing it."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(**options)
    server = uvicorn.Server(config)
    if config.workers > 1:
        if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.30
            Multiprocess(config, target=server.run, sockets=[sock]).run()  # type: ignore[call-arg]
        else:
            Multiprocess(config, sockets=[sock]).run()
        return
    config.load_app()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    if not server.started:
        raise SystemExit(3)  # uvicorn's startup failure: the lifespan or the app factory failed
