"""Route-level permissions: every route declares the permission it needs.

Roles are ordered ``viewer < predictor < operator < admin``; a route needing ``operator`` admits
operators and admins. Control-plane routes declare it with the FastAPI dependency
:func:`require`; data-plane routes in their table
(:data:`modelplane.serving.routes.DATA_ROUTES`), from which FastAPI declares them too. Who the caller
is and what they may do is decided by the server's :class:`Authorizer` (``AllowAll`` until token
authentication is configured), so adding authentication changes no route.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Request

from modelplane.errors import PermissionDeniedError


class Permission(enum.IntEnum):
    VIEWER = 1
    PREDICTOR = 2
    OPERATOR = 3
    ADMIN = 4


@dataclass(frozen=True)
class Principal:
    name: str
    role: Permission
    endpoints: frozenset[str] | None = None  # None: every endpoint
    models: frozenset[str] | None = None  # None: every model
    #: nobody authenticated (open access): changes are made as the server's own identity
    anonymous: bool = False


class Authorizer(Protocol):
    def authorize(
        self, headers: Mapping[str, str], permission: Permission, resource: str | None
    ) -> Principal:
        """Return the caller, or raise AuthenticationError (401) / PermissionDeniedError (403)."""
        ...


ANONYMOUS = Principal("anonymous", Permission.ADMIN, anonymous=True)


class AllowAll:
    """Every caller is an anonymous admin: the embedded default on loopback with auth off."""

    def authorize(
        self, headers: Mapping[str, str], permission: Permission, resource: str | None
    ) -> Principal:
        return ANONYMOUS


def check(principal: Principal, permission: Permission) -> None:
    if principal.role < permission:
        raise PermissionDeniedError(
            f"{principal.name} ({principal.role.name.lower()}) may not do this: it needs "
            f"{permission.name.lower()}"
        )


PERMISSION_ATTR = "modelplane_permission"


def require(permission: Permission) -> Callable[..., Any]:
    """A FastAPI dependency: ``dependencies=[Depends(require(Permission.OPERATOR))]``.

    The returned callable carries the permission (``modelplane_permission``), so a test can check
    that every route declares one.
    """

    def dependency(request: Request) -> Principal:
        authorizer: Authorizer = request.app.state.authorizer
        resource = request.path_params.get("endpoint") or request.path_params.get("name")
        principal = authorizer.authorize(request.headers, permission, resource)
        check(principal, permission)
        request.state.principal = principal
        return principal

    setattr(dependency, PERMISSION_ATTR, permission)
    return dependency
