"""Endpoints: deploy (create or replace) an endpoint's configuration, read, list and delete.

Every model URI of a deployed config must resolve when it is deployed, so a typo fails here and
not later on the serving nodes.
"""

from __future__ import annotations

from fastapi.responses import Response

from modelplane.endpoints.config import EndpointConfig
from modelplane.serving.api.common import (
    JSON_BODY_LIMIT,
    Routes,
    WorkspaceDep,
    allow,
    json_response,
)
from modelplane.serving.data_schema import EndpointPath
from modelplane.serving.permissions import Permission

routes = Routes("endpoints")

EndpointName = EndpointPath


@routes.get("/endpoints", summary="List endpoints", dependencies=allow(Permission.VIEWER))
def list_endpoints(ws: WorkspaceDep) -> Response:
    return json_response([e.to_dict() for e in ws.endpoints.list()])


@routes.get(
    "/endpoints/{endpoint}",
    summary="Get an endpoint",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def get_endpoint(endpoint: EndpointName, ws: WorkspaceDep) -> Response:
    return json_response(ws.endpoints.get(endpoint).to_dict())


@routes.put(
    "/endpoints/{endpoint}",
    summary="Deploy an endpoint: create it or replace its configuration",
    dependencies=allow(Permission.OPERATOR),
    max_body_size=JSON_BODY_LIMIT,
    errors=(400, 404, 409, 413, 415),
)
def deploy(endpoint: EndpointName, config: EndpointConfig, ws: WorkspaceDep) -> Response:
    for uri in config.model_uris:
        # 404 for a model, version or alias that does not exist; 409 for stored bytes that no
        # longer match their checksum
        ws.registry.verify(uri)
    return json_response(ws.endpoints.deploy(endpoint, config).to_dict())


@routes.delete(
    "/endpoints/{endpoint}",
    summary="Delete an endpoint",
    status_code=204,
    dependencies=allow(Permission.ADMIN),
    errors=(400, 404, 409),
)
def delete_endpoint(endpoint: EndpointName, ws: WorkspaceDep) -> Response:
    ws.endpoints.delete(endpoint)
    return Response(status_code=204)
