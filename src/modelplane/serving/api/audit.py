"""The audit trail: list entries (by target, action) and verify the hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from modelplane.serving.api.common import Routes, WorkspaceDep, allow, json_response
from modelplane.serving.permissions import Permission

routes = Routes("audit")


@routes.get(
    "/audit", summary="List audit entries, newest first", dependencies=allow(Permission.VIEWER)
)
def list_entries(
    ws: WorkspaceDep,
    target: Annotated[
        str | None, Query(max_length=500, description="e.g. models/churn (and below)")
    ] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. alias.set")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
) -> Response:
    entries = ws.audit.list(target=target, action=action, limit=limit)
    return json_response([e.to_dict() for e in entries])


@routes.get(
    "/audit/verify",
    summary="Verify the audit log's hash chain; names the first bad entry",
    dependencies=allow(Permission.VIEWER),
)
def verify(ws: WorkspaceDep) -> Response:
    return json_response(ws.audit.verify().to_dict())
