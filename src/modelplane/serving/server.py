"""The state of one serving process and its request path.

:class:`Server` owns what a process serves (the endpoint manager), who may call it (the
authorizer), where answered predictions go (the sink dispatcher), the metrics, and the pipeline
of stages every prediction request runs through (:mod:`modelplane.serving.stages`).
:meth:`Server.handle` runs one request through the pipeline and the route's wire protocol and
never raises: every outcome is a status, a body and headers.

:func:`check_bind` is the rule on where a server may listen, enforced where a server is built.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelplane.config import ServerSettings, is_loopback
from modelplane.errors import (
    AuthenticationError,
    InvalidInputError,
    ModelplaneError,
    PermissionDeniedError,
    RateLimitedError,
    TimeoutError_,
    UnavailableError,
)
from modelplane.inference.ids import IdSource
from modelplane.inference.manager import EndpointManager
from modelplane.inference.metrics import ServingMetrics
from modelplane.inference.request import InferenceRequest, InferenceResult
from modelplane.inference.sinks import PredictionLogSink, PredictionSink, SinkDispatcher
from modelplane.serving.auth import DenialLog, FailureLimiter, RateLimiter
from modelplane.serving.body import ClientDisconnected
from modelplane.serving.permissions import (
    AllowAll,
    Authorizer,
    Permission,
    Principal,
    ResourceKind,
    check,
)
from modelplane.serving.protocols.base import JSON, Headers
from modelplane.serving.stages import default_pipeline

if TYPE_CHECKING:
    from modelplane.context import Workspace
    from modelplane.serving.routes import DataRoute

log = logging.getLogger("modelplane.serving")

DEFAULT_MAX_BODY = 10 * 1024 * 1024


def tokens_required(host: str, auth: str, insecure: bool) -> bool | None:
    """How ``MODELPLANE_AUTH`` applies to a server bound to ``host``: True (every request needs
    a token), False (tokens are honoured, requests without one are anonymous) or None (auth
    ``off``: tokens are not looked at). Raises when the combination is refused."""
    loopback = is_loopback(host)
    if auth == "required":
        return True
    if auth == "off":
        if not loopback and not insecure:
            raise InvalidInputError(
                f"refusing to serve on {host} with MODELPLANE_AUTH=off: bind to 127.0.0.1, use "
                "tokens (MODELPLANE_AUTH=auto or required), or pass --insecure to accept "
                "unauthenticated requests from the network",
                field="host",
            )
        return None
    return not loopback and not insecure


def check_bind(host: str, auth: str, insecure: bool) -> None:
    """Refuse the bind address / auth mode combinations :func:`tokens_required` refuses."""
    tokens_required(host, auth, insecure)


class Server:
    """The state of one serving process."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        authorizer: Authorizer | None = None,
        settings: ServerSettings | None = None,
        sinks: Sequence[PredictionSink] = (),
    ) -> None:
        self.ws = workspace
        self.settings = settings if settings is not None else ServerSettings()
        self.authorizer: Authorizer = authorizer or AllowAll()
        self.open_access = isinstance(self.authorizer, AllowAll)
        self.peek = getattr(self.authorizer, "peek", None)
        self.rates = RateLimiter()
        self.failures = FailureLimiter(self.settings.auth_failure_limit)
        self.denials = DenialLog()
        self._refresher: asyncio.Task[None] | None = None
        self.metrics = ServingMetrics()
        self.manager = EndpointManager(
            workspace,
            self.metrics,
            poll_interval=self.settings.poll_interval,
            model_uri=self.settings.model_uri,
        )
        self.ids = IdSource()
        self.prediction_log = workspace.predictions
        if self.prediction_log is not None:
            sinks = [PredictionLogSink(self.prediction_log), *sinks]
        self.sinks = SinkDispatcher(sinks)
        self._pruner: asyncio.Task[None] | None = None
        self.drain_seconds = self.settings.drain_seconds
        self.draining = False
        self._counters: dict[tuple[str, str, str, int], Any] = {}
        self.pipeline = default_pipeline(self)

    async def start(self) -> None:
        self.sinks.start()
        await self.manager.start()
        if hasattr(self.authorizer, "refresh"):
            self._refresher = asyncio.create_task(self._refresh_tokens())
        if self.prediction_log is not None:
            self._pruner = asyncio.create_task(self._prune_log())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        if self._pruner is not None:
            self._pruner.cancel()
        await self.manager.stop()
        await self.sinks.close()

    async def _prune_log(self, every: float = 600.0) -> None:
        """Retention of the prediction log: at start, then every ``every`` seconds (several
        workers may prune at once: dropping what is already gone is a no-op)."""
        log_ = self.prediction_log
        assert log_ is not None
        settings = self.ws.settings
        while True:
            try:
                await asyncio.to_thread(
                    log_.prune, max_age=settings.log_retention, max_bytes=settings.log_max_size
                )
            except Exception as exc:
                log.warning("could not apply the prediction log's retention: %s", exc)
            await asyncio.sleep(every)

    async def _refresh_tokens(self) -> None:
        """Revocations reach this process within one poll interval."""
        refresh = self.authorizer.refresh  # type: ignore[attr-defined]
        while True:
            await asyncio.sleep(self.settings.poll_interval)
            try:
                await asyncio.to_thread(refresh)
            except Exception as exc:  # the store is down: cached tokens stay; retried next poll
                log.warning("could not check for revoked tokens: %s", exc)

    # -- who is calling, and may they -------------------------------------------------------

    def authenticate(self, authorization: str | None, client: str | None) -> Principal:
        """The caller (may block on the token store: call it off the event loop); refusals are
        counted, logged at a bounded rate, and failed attempts counted per client address."""
        known: Principal | None = self.peek(authorization) if self.peek is not None else None
        if known is not None:  # verified before: a known caller is not a guess
            self.limit(known, client)
            return known
        try:
            self.failures.check(client)
            principal = self.authorizer.authenticate(authorization, client)
        except AuthenticationError as exc:
            if authorization is not None:  # a guess, not a caller who forgot their token
                self.failures.failed(client)
            self.refused(exc, client)
            raise
        except RateLimitedError as exc:
            self.refused(exc, client)
            raise
        self.limit(principal, client)
        return principal

    def limit(self, principal: Principal, client: str | None) -> None:
        """429 when the caller's token is over its rate (its own limit, else the server's)."""
        rate = principal.rate_limit or self.settings.rate_limit
        if rate is None or principal.anonymous:
            return
        try:
            self.rates.take(principal.token_id or principal.name, rate)
        except RateLimitedError as exc:
            self.refused(exc, client)
            raise

    def authorize(
        self,
        principal: Principal,
        permission: Permission,
        kind: ResourceKind | None,
        name: str | None,
        client: str | None = None,
    ) -> None:
        try:
            check(principal, permission, kind, name)
        except PermissionDeniedError as exc:
            self.refused(exc, client)
            raise

    def refused(self, exc: ModelplaneError, client: str | None) -> None:
        reason = str(exc.details.get("reason") or exc.code)
        self.metrics.denials.labels(str(exc.http_status), reason).inc()
        self.denials.write(exc.http_status, reason, client, exc.message)

    @property
    def ready(self) -> bool:
        """Ready for traffic: every endpoint was loaded once, none has nothing to serve (a
        degraded one, answered by its fallback, counts as ready), and not draining."""
        return self.manager.synced.is_set() and not self.draining and not self.manager.failed()

    def readiness(self) -> dict[str, Any]:
        """The body of ``GET /v2/health/ready``: ``ready``, and when not, the endpoints that
        failed (``failed``), ``loading`` or ``draining``."""
        if self.ready:
            return {"ready": True}
        doc: dict[str, Any] = {"ready": False}
        failed = self.manager.failed()
        if failed:
            doc["failed"] = failed
        if not self.manager.synced.is_set():
            doc["loading"] = True
        if self.draining:
            doc["draining"] = True
        return doc

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

    async def handle(
        self,
        route: DataRoute,
        endpoint: str,
        version: str | None,
        headers: Any,
        *,
        body: bytes | None = None,
        reader: Any = None,
        header_length: int | None = None,
        client: str | None = None,
    ) -> tuple[int, bytes, Headers]:
        """Answer one prediction request: (status, body, headers). Never raises, except
        :class:`ClientDisconnected` when the client left before its body arrived."""
        protocol = route.protocol
        req = InferenceRequest(
            endpoint, body, time.perf_counter(), version, headers, header_length, reader, route
        )
        req.client = client
        try:
            for stage in self.pipeline.stages:  # inline, not a coroutine of its own
                pending = stage(req)
                if pending is not None:
                    await pending
            result: InferenceResult = req.result  # type: ignore[assignment]
            out, answer_headers = protocol.encode(req, result)
            self.count(endpoint, result.version, protocol.name, 200)
            return 200, out, answer_headers
        except ModelplaneError as exc:
            self.count_error(endpoint, _version_label(req), protocol.name, exc)
            out, answer_headers = protocol.error(exc)
            return exc.http_status, out, answer_headers
        except ClientDisconnected:
            raise
        except Exception as exc:  # a bug, never the caller's fault: 500 without a traceback
            log.exception("prediction failed on endpoint %s", endpoint)
            label = endpoint if endpoint in self.manager.status else "(unknown)"
            version_label = _version_label(req)
            self.metrics.errors.labels(label, version_label, "internal").inc()
            self.count(label, version_label, protocol.name, 500)
            out, _ = protocol.error(ModelplaneError(f"internal error ({type(exc).__name__})"))
            return 500, out, JSON


def _version_label(req: InferenceRequest) -> str:
    """The version label errors are counted under: the variant's once chosen; the endpoint's
    once the body was read; "-" before (refused at the door: 401, 403, 404, 413)."""
    if req.variant is not None:
        return req.variant.version_label
    if req.live is not None and req.body is not None:
        return req.live.version_label
    return "-"


__all__ = ["ClientDisconnected", "Server", "check_bind", "is_loopback", "tokens_required"]
