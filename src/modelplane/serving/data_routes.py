"""The FastAPI declarations of what the fast path serves, and the server's own routes.

The data-plane routes come from :data:`modelplane.serving.routes.DATA_ROUTES` (one declaration
each, for OpenAPI and the permission check; a request FastAPI receives anyway — the test client,
a path the fast path did not match — runs the same :meth:`Server.handle`). Beside them: health
and readiness, v2 server and model metadata, ``/metrics`` and an endpoint's live status.
"""

from __future__ import annotations

from typing import Any

# Depends, Request, Response and the path types are module globals: FastAPI resolves the
# routes' (string, postponed) annotations here; imported locally, /openapi.json failed with 500.
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from modelplane import __version__
from modelplane.errors import NotFoundError, UnavailableError
from modelplane.inference.live import ModelHandle
from modelplane.serving.data_schema import (
    AUTH_ERRORS,
    ENDPOINT_PARAM,
    HEADER_LENGTH_PARAM,
    METRICS_RESPONSES,
    NATIVE_REQUEST,
    V2_REQUEST,
    VERSION_PARAM,
    EndpointPath,
    Liveness,
    ModelReadiness,
    Readiness,
    V2ModelMetadata,
    V2ServerMetadata,
    VersionPath,
    health_responses,
    prediction_responses,
    ready_responses,
    request_body,
)
from modelplane.serving.http_errors import error_responses
from modelplane.serving.permissions import Permission, require
from modelplane.serving.protocols import v2
from modelplane.serving.routes import DATA_ROUTES, DataRoute
from modelplane.serving.server import Server

METADATA_ERRORS = error_responses(*AUTH_ERRORS, 404, 422, 503, v2=True)


def build_data_router(server: Server) -> APIRouter:
    router = APIRouter()
    viewer = [Depends(require(Permission.VIEWER))]
    for route in DATA_ROUTES:
        v2_route = route.protocol.v2_errors
        params = [ENDPOINT_PARAM]
        if "{version}" in route.template:
            params.append(VERSION_PARAM)
        if v2_route:
            params.append(HEADER_LENGTH_PARAM)
        router.add_api_route(
            route.template,
            _data_endpoint(server, route),
            methods=[route.method],
            tags=[route.tag],
            summary=route.summary,
            dependencies=[Depends(require(route.permission))],
            responses=prediction_responses(v2_route),
            openapi_extra={
                "parameters": params,
                **request_body(V2_REQUEST if v2_route else NATIVE_REQUEST, binary=v2_route),
            },
        )
    _health(router, server, viewer)
    _v2_metadata(router, server, viewer)

    @router.get(
        "/metrics",
        tags=["monitoring"],
        dependencies=viewer,
        summary="Prometheus metrics",
        response_class=Response,
        responses=METRICS_RESPONSES,
    )
    def metrics() -> Response:
        return Response(server.metrics.exposition(), media_type="text/plain; version=0.0.4")

    @router.get(
        "/api/v1/endpoints/{endpoint}/status",
        tags=["endpoints"],
        dependencies=viewer,
        summary="What an endpoint serves right now in this process",
        responses=error_responses(*AUTH_ERRORS, 404, 422),
    )
    def endpoint_status(endpoint: EndpointPath) -> dict[str, Any]:
        return _status(server, endpoint)

    return router


def _data_endpoint(server: Server, route: DataRoute) -> Any:
    async def handler(request: Request) -> Response:
        body = await request.body()
        header = request.headers.get("inference-header-content-length")
        length = int(header) if header and header.isdigit() else None
        params = request.path_params
        status, out, headers = await server.handle(
            route,
            params["endpoint"],
            params.get("version"),
            request.scope["headers"],
            body=body,
            header_length=length,
        )
        return Response(
            out, status_code=status, headers={k.decode(): v.decode() for k, v in headers}
        )

    # OpenAPI shows the path parameters the template names
    handler.__name__ = route.template.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    return handler


def _health(router: APIRouter, server: Server, viewer: list[Any]) -> None:
    # The probes are open (OPEN_PATHS): the fast path answers them before any check.
    @router.get(
        "/v2/health/live",
        tags=["v2"],
        summary="Liveness",
        response_model=None,
        responses=health_responses(Liveness, not_ready=False),
    )
    def live() -> dict[str, bool]:
        return {"live": True}

    @router.get(
        "/v2/health/ready",
        tags=["v2"],
        summary="Readiness",
        responses=health_responses(Readiness, not_ready=True),
    )
    def ready() -> Response:
        doc = server.readiness()
        return JSONResponse(doc, status_code=200 if doc["ready"] else 503)

    @router.get(
        "/v2",
        tags=["v2"],
        dependencies=viewer,
        summary="Server metadata",
        response_model=None,
        responses={200: {"model": V2ServerMetadata}, **error_responses(*AUTH_ERRORS, v2=True)},
    )
    def server_metadata() -> dict[str, Any]:
        return {"name": "modelplane", "version": __version__, "extensions": ["binary_tensor_data"]}


def _v2_metadata(router: APIRouter, server: Server, viewer: list[Any]) -> None:
    def metadata(endpoint: str, version: str | None) -> dict[str, Any]:
        live_ep = server.manager.get(endpoint)
        variant = live_ep.variant_for_version(version)
        lead = variant.lead
        doc = v2.model_metadata(
            endpoint,
            list(dict.fromkeys(v.version_label for v in live_ep.variants)),
            lead.runtime.runtime,
            lead.runtime.spec,
            lead.version.signature,
        )
        doc["parameters"] = {
            "model": variant.model_label,
            "variant": variant.name,
            "variants": {v.name: v.version_label for v in live_ep.variants},
            "runtime": {h.model_id: h.runtime.info for h in variant.handles},
        }
        return doc

    def readiness(endpoint: str, version: str | None) -> Response:
        try:
            live_ep = server.manager.get(endpoint)
        except UnavailableError:
            return JSONResponse({"name": endpoint, "ready": False}, status_code=400)
        live_ep.variant_for_version(version)  # 404 for a version no variant serves
        return JSONResponse({"name": endpoint, "ready": True})

    described: dict[int | str, dict[str, Any]] = {
        200: {"model": V2ModelMetadata},
        **METADATA_ERRORS,
    }
    ready: dict[int | str, dict[str, Any]] = {200: {"model": ModelReadiness}, **ready_responses()}

    @router.get(
        "/v2/models/{endpoint}",
        tags=["v2"],
        dependencies=viewer,
        summary="Model metadata",
        response_model=None,
        responses=described,
    )
    def model_metadata(endpoint: EndpointPath) -> dict[str, Any]:
        return metadata(endpoint, None)

    @router.get(
        "/v2/models/{endpoint}/versions/{version}",
        tags=["v2"],
        dependencies=viewer,
        summary="Model version metadata",
        response_model=None,
        responses=described,
    )
    def model_version_metadata(endpoint: EndpointPath, version: VersionPath) -> dict[str, Any]:
        return metadata(endpoint, version)

    @router.get(
        "/v2/models/{endpoint}/ready",
        tags=["v2"],
        dependencies=viewer,
        summary="Model readiness",
        responses=ready,
    )
    def model_ready(endpoint: EndpointPath) -> Response:
        return readiness(endpoint, None)

    @router.get(
        "/v2/models/{endpoint}/versions/{version}/ready",
        tags=["v2"],
        dependencies=viewer,
        summary="Model version readiness",
        responses=ready,
    )
    def model_version_ready(endpoint: EndpointPath, version: VersionPath) -> Response:
        return readiness(endpoint, version)


def _status(server: Server, endpoint: str) -> dict[str, Any]:
    status = server.manager.status.get(endpoint)
    if status is None:
        raise NotFoundError(f"no endpoint named {endpoint!r}", field="endpoint")
    doc = status.to_dict()
    live_ep = server.manager.live.get(endpoint)
    if live_ep is None:
        return doc
    serving: dict[str, Any] = {}
    for variant in live_ep.variants:
        for h in variant.handles:
            entry = serving.setdefault(h.model_id, _handle_doc(h, "primary"))
            if variant.name not in entry["variants"]:
                entry["variants"].append(variant.name)
    if live_ep.fallback is not None:  # its breaker and queue matter as much
        serving.setdefault(live_ep.fallback.model_id, _handle_doc(live_ep.fallback, "fallback"))
    doc["serving"] = serving
    doc["variants"] = {
        v.name: {"version": v.version_label, "model": v.model_label, "weight": v.weight}
        for v in live_ep.variants
    }
    doc["policy"] = live_ep.config.policy.policy
    doc["sinks"] = server.sinks.stats()  # this process's, shared by every endpoint
    return doc


def _handle_doc(h: ModelHandle, role: str) -> dict[str, Any]:
    return {
        "role": role,
        "variants": [],
        "runtime": h.runtime.runtime,
        **h.runtime.info,
        "breaker": h.breaker_state,
        "queue_rows": h.batcher.queued_rows,
    }


__all__ = ["build_data_router"]
