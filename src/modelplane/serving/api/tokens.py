"""API tokens over HTTP (admins only): create (the secret is in this one answer), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from fastapi.responses import Response
from pydantic import Field, StrictFloat

from modelplane.core.names import MAX_NAME_LEN, NAME_PATTERN
from modelplane.serving.api.common import JSON_BODY_LIMIT, Body, Name, Routes, WorkspaceDep, allow
from modelplane.serving.api.common import json_response as _json
from modelplane.serving.permissions import Permission

routes = Routes("tokens")

TokenRef = Annotated[
    str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]


REVOKE_LINK = {
    "operationRef": "#/paths/~1api~1v1~1tokens~1{token}/delete",
    "parameters": {"token": "$response.body#/id"},
}


# endpoint:NAME or model:NAME, the name as check_name has it (its length without the prefix)
Scope = Annotated[
    str,
    Field(
        max_length=210,
        json_schema_extra={
            "anyOf": [
                {
                    "pattern": f"^{kind}:{NAME_PATTERN[1:]}",
                    "maxLength": len(kind) + 1 + MAX_NAME_LEN,
                }
                for kind in ("endpoint", "model")
            ]
        },
    ),
]


class TokenIn(Body):
    name: Name = "token"
    role: Annotated[str, Field(pattern="^(viewer|predictor|operator|admin)$")]
    scopes: Annotated[list[Scope], Field(max_length=100)] = []
    # a positive count of seconds, minutes, hours, days or weeks (0d is no duration)
    expires: Annotated[
        str | None,
        Field(
            max_length=12,
            pattern=r"^[0-9]{1,6}[smhdw]$",
            json_schema_extra={"not": {"type": "string", "pattern": "^0+[smhdw]$"}},
        ),
    ] = None
    rate_limit: Annotated[StrictFloat | None, Field(gt=0, le=1_000_000)] = None


@routes.get(
    "/tokens", summary="List API tokens (never their secrets)", dependencies=allow(Permission.ADMIN)
)
def list_tokens(ws: WorkspaceDep, include_revoked: bool = False) -> Response:
    return _json([t.to_dict() for t in ws.tokens.list(include_revoked=include_revoked)])


@routes.post(
    "/tokens",
    summary="Create an API token; the answer is the only place its secret appears",
    status_code=201,
    dependencies=allow(Permission.ADMIN),
    max_body_size=JSON_BODY_LIMIT,
    errors=(400, 409, 413),
    # the answer's "token" is the secret; a token is revoked by its id
    openapi_extra={"responses": {"201": {"links": {"revoke": REVOKE_LINK}}}},
)
def create_token(body: TokenIn, ws: WorkspaceDep) -> Response:
    token, secret = ws.tokens.create(
        body.name, body.role, scopes=body.scopes, expires=body.expires, rate_limit=body.rate_limit
    )
    return _json({**token.to_dict(), "token": secret}, 201)


@routes.delete(
    "/tokens/{token}",
    summary="Revoke a token (by id, or by name when one active token has it)",
    dependencies=allow(Permission.ADMIN),
    errors=(400, 404, 409),
)
def revoke_token(token: TokenRef, ws: WorkspaceDep) -> Response:
    return _json(ws.tokens.revoke(token).to_dict())
