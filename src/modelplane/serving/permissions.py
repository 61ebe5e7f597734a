"""Route-level permissions: every route declares the permission it needs.

Roles are ordered ``viewer < predictor < operator < admin`` (:class:`modelplane.core.roles.Role`);
a route needing ``operator`` admits operators and admins. Control-plane routes declare it with the
FastAPI dependency :func:`require`; data-plane routes in their table
(:data:`modelplane.serving.routes.DATA_ROUTES`), from which FastAPI declares them too. Only the
probes (:data:`OPEN_PATHS`) and the dashboard's sign-in (:data:`SIGN_IN_PATHS`) declare none: a
test walks every route and fails on any other.

Who the caller is comes from the server's :class:`Authorizer` (tokens:
:class:`modelplane.serving.auth.TokenAuthorizer`; ``AllowAll`` with ``MODELPLANE_AUTH=off``);
whether they may do this to that resource is :func:`check`, the same for every route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from fastapi import Request

from modelplane.core.roles import Role
from modelplane.errors import PermissionDeniedError

Permission = Role
"""The permission a route needs is the least role that may call it."""

ResourceKind = Literal["endpoint", "model"]

OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})
"""The only routes anyone may call: liveness and readiness probes."""
SIGN_IN_PATHS = frozenset({"/ui/login", "/ui/logout"})
"""The dashboard's sign-in form and sign-out: open too (they take or drop a token and show no
data); every other ``/ui`` route needs a viewer."""


@dataclass(frozen=True)
class Principal:
    name: str
    role: Permission
    endpoints: frozenset[str] | None = None  # None: every endpoint
    models: frozenset[str] | None = None  # None: every model
    #: nobody authenticated (open access): changes are audited as "anonymous@<address>"
    anonymous: bool = False
    token_id: str | None = None
    rate_limit: float | None = None  # requests per second, None: the server's default

    @property
    def scoped(self) -> bool:
        return self.endpoints is not None or self.models is not None


class Authorizer(Protocol):
    def authenticate(self, authorization: str | None, client: str | None) -> Principal:
        """The caller presenting ``authorization`` (the ``Authorization`` header, if any) from
        ``client`` (their address); AuthenticationError (401) or RateLimitedError (429)."""
        ...


ANONYMOUS = Principal("anonymous", Permission.ADMIN, anonymous=True)


class AllowAll:
    """Every caller is an anonymous admin: ``MODELPLANE_AUTH=off`` (loopback, or ``--insecure``)."""

    def authenticate(self, authorization: str | None, client: str | None) -> Principal:
        return ANONYMOUS


def check(
    principal: Principal,
    permission: Permission,
    kind: ResourceKind | None = None,
    name: str | None = None,
) -> None:
    """PermissionDeniedError (403) unless ``principal`` may do what needs ``permission`` to the
    resource ``kind``/``name`` (None: a route about no one resource, e.g. a listing)."""
    if principal.role < permission:
        raise PermissionDeniedError(
            f"{principal.name} ({principal.role.label}) may not do this: it needs "
            f"{permission.label}"
        )
    if not principal.scoped:
        return
    allowed = principal.endpoints if kind == "endpoint" else principal.models
    if kind is None or name is None or allowed is None or name not in allowed:
        what = f"{kind} {name[:200]!r}" if kind and name else "this route"
        raise PermissionDeniedError(
            f"{principal.name} is scoped to {_scopes(principal)}; it may not access {what}"
        )


def _scopes(principal: Principal) -> str:
    parts = [f"endpoint:{e}" for e in sorted(principal.endpoints or ())]
    parts += [f"model:{m}" for m in sorted(principal.models or ())]
    return ", ".join(parts) or "nothing"


def resource_of(request: Request) -> tuple[ResourceKind | None, str | None]:
    """The endpoint or model a control-plane request is about, from its path parameters."""
    params = request.path_params
    if "endpoint" in params:
        return "endpoint", str(params["endpoint"])
    if "name" in params and request.url.path.startswith("/api/v1/models/"):
        return "model", str(params["name"])
    return None, None


def client_address(scope: Any) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


PERMISSION_ATTR = "modelplane_permission"


def require(permission: Permission) -> Callable[..., Any]:
    """A FastAPI dependency: ``dependencies=[Depends(require(Permission.OPERATOR))]``.

    The returned callable carries the permission (``modelplane_permission``), so a test can check
    that every route declares one.
    """

    def dependency(request: Request) -> Principal:
        server = request.app.state.server
        principal: Principal = server.authenticate(
            request.headers.get("authorization"), client_address(request.scope)
        )
        kind, name = resource_of(request)
        server.authorize(principal, permission, kind, name)
        request.state.principal = principal
        return principal

    setattr(dependency, PERMISSION_ATTR, permission)
    return dependency
