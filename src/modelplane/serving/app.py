"""The server application: a lean ASGI fast path for predictions in front of FastAPI.

``POST /v1/endpoints/{endpoint}/predict`` and ``POST /v2/models/{endpoint}[/versions/{v}]/infer``
(and the health probes) are answered by :class:`FastPath` straight from ASGI messages: one
``orjson`` parse, validation against the signature, the endpoint's batcher, one ``orjson`` dump —
no routing tables, middleware stacks or pydantic models per request. Everything else (the
control plane under ``/api/v1``, v2 metadata, ``/metrics``, ``/docs``, ``/openapi.json``) is
FastAPI, which also declares the fast routes so they appear in the OpenAPI document.

``create_app`` is the uvicorn factory (``modelplane serve`` runs it in each worker).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from modelplane import __version__
from modelplane.errors import (
    InvalidInputError,
    ModelplaneError,
    NotFoundError,
    PayloadTooLargeError,
    TimeoutError_,
    UnavailableError,
)
from modelplane.serving.http_errors import error_body, error_headers
from modelplane.inference.ids import IdSource
from modelplane.inference.manager import EndpointManager
from modelplane.inference.metrics import ServingMetrics
from modelplane.serving.permissions import (
    FAST_ROUTE_PERMISSIONS,
    AllowAll,
    Authorizer,
    Permission,
    check,
)
from modelplane.serving.protocols import native, v2

log = logging.getLogger("modelplane.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = [(b"content-type", b"application/json")]
DEFAULT_MAX_BODY = 10 * 1024 * 1024


class Server:
    """The state of one serving process."""

    def __init__(
        self,
        workspace: Any,
        *,
        authorizer: Authorizer | None = None,
        poll_interval: float = 1.0,
        drain_seconds: float = 2.0,
    ) -> None:
        self.ws = workspace
        self.authorizer: Authorizer = authorizer or AllowAll()
        self.open_access = isinstance(self.authorizer, AllowAll)
        self.metrics = ServingMetrics()
        self.manager = EndpointManager(workspace, self.metrics, poll_interval=poll_interval)
        self.ids = IdSource()
        self.drain_seconds = drain_seconds
        self.draining = False
        self._counters: dict[tuple[str, str, str, int], Any] = {}

    @property
    def ready(self) -> bool:
        return self.manager.synced.is_set() and not self.draining

    def count(self, endpoint: str, version: str, protocol: str, code: int) -> None:
        key = (endpoint, version, protocol, code)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = self.metrics.requests.labels(
                endpoint, version, protocol, str(code)
            )
        child.inc()

    def error_kind(self, exc: ModelplaneError) -> str:
        if isinstance(exc, TimeoutError_):
            return "timeout"
        if isinstance(exc, UnavailableError):
            return "overload"
        if isinstance(exc, InvalidInputError) or exc.http_status < 500:
            return "client"  # bad input, but also an unknown endpoint or version, a denial
        return "model"

    def count_error(
        self, name: str, version_label: str, protocol: str, exc: ModelplaneError
    ) -> None:
        # Label values only for known endpoints: a caller must not create series at will.
        label = name if name in self.manager.status else "(unknown)"
        self.metrics.errors.labels(label, version_label, self.error_kind(exc)).inc()
        self.count(label, version_label, protocol, exc.http_status)

    async def predict(
        self,
        protocol: str,
        name: str,
        version: str | None,
        body: bytes,
        header_length: int | None = None,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """Answer one prediction request: (status, body, headers). Never raises.

        ``header_length``: the v2 binary tensor extension's ``Inference-Header-Content-Length``.
        """
        start = time.perf_counter()
        version_label = "-"
        try:
            live = self.manager.get(name)
            version_label = live.version_label
            if version is not None and version != live.primary.version_label:
                raise NotFoundError(
                    f"endpoint {name!r} serves version {live.primary.version_label}, not {version}",
                    field="version",
                )
            spec = live.primary.runtime.spec
            if protocol == "v2":
                X, request = v2.parse(body, spec, header_length)
            else:
                X = native.parse(body, spec)
            pred, model = await live.predict(X, self.metrics)
            ids = self.ids.take(len(X))
            headers = JSON
            if protocol == "v2":
                out, json_length = v2.dump(
                    pred,
                    ids,
                    model_name=name,
                    model_version=model.rsplit("/", 1)[-1] if "/" in model else model,
                    request=request,
                )
                if json_length is not None:
                    headers = [
                        (b"content-type", b"application/octet-stream"),
                        (b"inference-header-content-length", str(json_length).encode()),
                    ]
            else:
                out = native.dump(pred, ids, model)
            handle = live.primary
            handle.vm.latency.observe(time.perf_counter() - start)
            handle.vm.rows.inc(len(ids))
            self.count(name, version_label, protocol, 200)
            return 200, out, headers
        except ModelplaneError as exc:
            self.count_error(name, version_label, protocol, exc)
            return exc.http_status, error_body(exc, v2=protocol == "v2"), error_headers(exc)
        except Exception as exc:  # a bug, never the caller's fault: 500 without a traceback
            log.exception("prediction failed on endpoint %s", name)
            label = name if name in self.manager.status else "(unknown)"
            self.metrics.errors.labels(label, version_label, "internal").inc()
            self.count(label, version_label, protocol, 500)
            internal = ModelplaneError(f"internal error ({type(exc).__name__})")
            return 500, error_body(internal, v2=protocol == "v2"), JSON

    def max_body(self, name: str) -> int:
        live = self.manager.live.get(name)
        return live.config.limits.max_request_bytes if live else DEFAULT_MAX_BODY


def _route(path: str) -> tuple[str, str, str | None, tuple[str, str]] | None:
    """Match a fast POST route → (protocol, endpoint, version, permission key)."""
    parts = path.split("/")
    n = len(parts)
    if n == 5 and parts[1] == "v1" and parts[2] == "endpoints" and parts[4] == "predict":
        return "native", parts[3], None, ("POST", "/v1/endpoints/{endpoint}/predict")
    if parts[1:3] == ["v2", "models"] and parts[-1] == "infer":
        if n == 5:
            return "v2", parts[3], None, ("POST", "/v2/models/{endpoint}/infer")
        if n == 7 and parts[4] == "versions":
            return (
                "v2",
                parts[3],
                parts[5],
                ("POST", "/v2/models/{endpoint}/versions/{version}/infer"),
            )
    return None


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ClientDisconnected(Exception):
    pass


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for key, value in scope["headers"]:
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
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class FastPath:
    """ASGI app: fast prediction routes and probes, everything else to FastAPI."""

    def __init__(self, server: Server, api: Any) -> None:
        self.server = server
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            path = scope["path"]
            if method == "POST":
                route = _route(path)
                if route is not None:
                    await self._predict(route, scope, receive, send)
                    return
            elif method == "GET" and path == "/v2/health/live":
                await _respond(send, 200, b'{"live":true}', JSON)
                return
            elif method == "GET" and path == "/v2/health/ready":
                ready = self.server.ready
                await _respond(
                    send,
                    200 if ready else 503,
                    b'{"ready":true}' if ready else b'{"ready":false}',
                    JSON,
                )
                return
        await self.api(scope, receive, send)

    async def _predict(
        self,
        route: tuple[str, str, str | None, tuple[str, str]],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        protocol, name, version, perm_key = route
        server = self.server
        try:
            if not server.open_access:
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                permission = FAST_ROUTE_PERMISSIONS[perm_key]
                check(server.authorizer.authorize(headers, permission, name), permission)
            header_length = _header_length(scope) if protocol == "v2" else None
            body = await read_body(scope, receive, server.max_body(name))
        except ClientDisconnected:
            return
        except ModelplaneError as exc:  # refused before parsing (413, 403): counted as well
            server.count_error(name, "-", protocol, exc)
            body = error_body(exc, v2=protocol == "v2")
            await _respond(send, exc.http_status, body, error_headers(exc))
            return
        status, out, answer_headers = await server.predict(
            protocol, name, version, body, header_length
        )
        await _respond(send, status, out, answer_headers)


def _header_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"inference-header-content-length":
            try:
                return int(value)
            except ValueError:
                raise InvalidInputError(
                    "Inference-Header-Content-Length must be an integer",
                    field="inference-header-content-length",
                ) from None
    return None


def _install_drain(server: Server) -> None:
    """On SIGTERM: readiness goes 503 at once; after ``drain_seconds`` the ASGI server's own
    handler starts its graceful shutdown (stop accepting, let in-flight requests finish)."""
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return  # not under a server that handles SIGTERM (e.g. an in-process test client)
    loop = asyncio.get_running_loop()

    def on_sigterm(signum: int, frame: Any) -> None:
        if server.draining:
            previous(signum, frame)
            return
        server.draining = True
        log.warning("SIGTERM: draining for %.1f s before shutdown", server.drain_seconds)
        loop.call_soon_threadsafe(loop.call_later, server.drain_seconds, previous, signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)


def build_api(server: Server) -> Any:
    # Depends, FastAPI, Request and Response are module globals: FastAPI resolves the routes'
    # (string, postponed) annotations there; imported locally, /openapi.json failed with 500.
    from modelplane.serving.http_errors import install_handlers
    from modelplane.serving.permissions import require

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await server.manager.start()
        _install_drain(server)
        yield
        await server.manager.stop()

    api = FastAPI(
        title="modelplane",
        version=__version__,
        lifespan=lifespan,
        summary="ML platform server: Open Inference Protocol v2, native JSON, control plane.",
    )
    api.state.workspace = server.ws
    api.state.authorizer = server.authorizer
    api.state.server = server
    install_handlers(api)
    viewer = [Depends(require(Permission.VIEWER))]
    predictor = [Depends(require(Permission.PREDICTOR))]

    @api.get("/v2/health/live", tags=["v2"], dependencies=viewer, summary="Liveness")
    def live() -> dict[str, bool]:
        return {"live": True}

    @api.get("/v2/health/ready", tags=["v2"], dependencies=viewer, summary="Readiness")
    def ready() -> Response:
        ok = server.ready
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @api.get("/v2", tags=["v2"], dependencies=viewer, summary="Server metadata")
    def server_metadata() -> dict[str, Any]:
        return {"name": "modelplane", "version": __version__, "extensions": ["binary_tensor_data"]}

    def metadata(endpoint: str, version: str | None) -> dict[str, Any]:
        live_ep = server.manager.get(endpoint)
        handle = live_ep.primary
        if version is not None and version != handle.version_label:
            raise NotFoundError(
                f"endpoint {endpoint!r} does not serve version {version}", field="version"
            )
        doc = v2.model_metadata(
            endpoint,
            [handle.version_label],
            handle.runtime.runtime,
            handle.runtime.spec,
            handle.version.signature,
        )
        doc["parameters"] = {
            "model": live_ep.model_label,
            "runtime": {h.model_id: h.runtime.info for h in live_ep.handles},
        }
        return doc

    @api.get("/v2/models/{endpoint}", tags=["v2"], dependencies=viewer, summary="Model metadata")
    def model_metadata(endpoint: str) -> dict[str, Any]:
        return metadata(endpoint, None)

    @api.get(
        "/v2/models/{endpoint}/versions/{version}",
        tags=["v2"],
        dependencies=viewer,
        summary="Model version metadata",
    )
    def model_version_metadata(endpoint: str, version: str) -> dict[str, Any]:
        return metadata(endpoint, version)

    def model_ready_(endpoint: str, version: str | None) -> Response:
        try:
            live_ep = server.manager.get(endpoint)
        except UnavailableError:
            return JSONResponse({"name": endpoint, "ready": False}, status_code=400)
        ok = version is None or version == live_ep.primary.version_label
        if not ok:
            raise NotFoundError(
                f"endpoint {endpoint!r} does not serve version {version}", field="version"
            )
        return JSONResponse({"name": endpoint, "ready": True})

    @api.get(
        "/v2/models/{endpoint}/ready", tags=["v2"], dependencies=viewer, summary="Model readiness"
    )
    def model_ready(endpoint: str) -> Response:
        return model_ready_(endpoint, None)

    @api.get(
        "/v2/models/{endpoint}/versions/{version}/ready",
        tags=["v2"],
        dependencies=viewer,
        summary="Model version readiness",
    )
    def model_version_ready(endpoint: str, version: str) -> Response:
        return model_ready_(endpoint, version)

    async def _fallthrough(
        protocol: str, endpoint: str, version: str | None, request: Request
    ) -> Response:
        body = await request.body()
        header = request.headers.get("inference-header-content-length")
        length = int(header) if header and header.isdigit() else None
        status, out, headers = await server.predict(protocol, endpoint, version, body, length)
        return Response(
            out, status_code=status, headers={k.decode(): v.decode() for k, v in headers}
        )

    @api.post(
        "/v1/endpoints/{endpoint}/predict",
        tags=["data plane"],
        dependencies=predictor,
        summary="Predict (native JSON: records or columns)",
    )
    async def predict(endpoint: str, request: Request) -> Response:
        return await _fallthrough("native", endpoint, None, request)

    @api.post(
        "/v2/models/{endpoint}/infer", tags=["v2"], dependencies=predictor, summary="Infer (v2)"
    )
    async def infer(endpoint: str, request: Request) -> Response:
        return await _fallthrough("v2", endpoint, None, request)

    @api.post(
        "/v2/models/{endpoint}/versions/{version}/infer",
        tags=["v2"],
        dependencies=predictor,
        summary="Infer a version (v2)",
    )
    async def infer_version(endpoint: str, version: str, request: Request) -> Response:
        return await _fallthrough("v2", endpoint, version, request)

    @api.get("/metrics", tags=["monitoring"], dependencies=viewer, summary="Prometheus metrics")
    def metrics() -> Response:
        return Response(server.metrics.exposition(), media_type="text/plain; version=0.0.4")

    @api.get(
        "/api/v1/endpoints/{endpoint}/status",
        tags=["endpoints"],
        dependencies=viewer,
        summary="What an endpoint serves right now in this process",
    )
    def endpoint_status(endpoint: str) -> dict[str, Any]:
        status = server.manager.status.get(endpoint)
        if status is None:
            raise NotFoundError(f"no endpoint named {endpoint!r}", field="endpoint")
        doc = status.to_dict()
        live_ep = server.manager.live.get(endpoint)
        if live_ep is not None:
            roles = [(h, "primary") for h in live_ep.handles]
            if live_ep.fallback is not None:  # its breaker and queue matter as much
                roles.append((live_ep.fallback, "fallback"))
            serving: dict[str, Any] = {}
            for h, role in roles:
                serving.setdefault(
                    h.model_id,
                    {
                        "role": role,
                        "runtime": h.runtime.runtime,
                        **h.runtime.info,
                        "breaker": h.breaker_state,
                        "queue_rows": h.batcher.queued_rows,
                    },
                )
            doc["serving"] = serving
        return doc

    from modelplane.serving.api import build_router

    api.include_router(build_router())
    return api


def create_app(
    workspace: Any = None,
    *,
    authorizer: Authorizer | None = None,
    poll_interval: float | None = None,
    drain_seconds: float | None = None,
) -> FastPath:
    """The ASGI application (uvicorn factory). Settings come from the environment when no
    workspace is given: ``MODELPLANE_*`` plus ``MODELPLANE_POLL_INTERVAL`` and
    ``MODELPLANE_DRAIN_SECONDS`` set by ``modelplane serve``."""
    if workspace is None:
        from modelplane.context import Workspace

        workspace = Workspace()
    server = Server(
        workspace,
        authorizer=authorizer,
        poll_interval=poll_interval
        if poll_interval is not None
        else float(os.environ.get("MODELPLANE_POLL_INTERVAL", "1.0")),
        drain_seconds=drain_seconds
        if drain_seconds is not None
        else float(os.environ.get("MODELPLANE_DRAIN_SECONDS", "2.0")),
    )
    return FastPath(server, build_api(server))


__all__ = ["FastPath", "Server", "create_app"]
