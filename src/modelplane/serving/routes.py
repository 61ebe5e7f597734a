"""The data-plane routes, declared once.

Each :class:`DataRoute` names its method, path template, wire protocol, permission and OpenAPI
summary. The ASGI fast path matches request paths against this table (:func:`match`, a split and
a few comparisons: no regular expressions, no routing tree), and the FastAPI app declares the
same routes from it, so the OpenAPI document and the permission check see exactly what the fast
path answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelplane.serving.permissions import Permission
from modelplane.serving.protocols.base import WireProtocol
from modelplane.serving.protocols.native import NATIVE
from modelplane.serving.protocols.v2 import V2_PROTOCOL


@dataclass(frozen=True)
class DataRoute:
    method: str
    template: str
    protocol: WireProtocol
    permission: Permission
    summary: str
    tag: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.template)


NATIVE_PREDICT = DataRoute(
    "POST",
    "/v1/endpoints/{endpoint}/predict",
    NATIVE,
    Permission.PREDICTOR,
    "Predict (native JSON: records or columns)",
    "data plane",
)
V2_INFER = DataRoute(
    "POST", "/v2/models/{endpoint}/infer", V2_PROTOCOL, Permission.PREDICTOR, "Infer (v2)", "v2"
)
V2_INFER_VERSION = DataRoute(
    "POST",
    "/v2/models/{endpoint}/versions/{version}/infer",
    V2_PROTOCOL,
    Permission.PREDICTOR,
    "Infer a version (v2)",
    "v2",
)
DATA_ROUTES: tuple[DataRoute, ...] = (NATIVE_PREDICT, V2_INFER, V2_INFER_VERSION)


def match(method: str, path: str) -> tuple[DataRoute, str, str | None] | None:
    """``(route, endpoint, version)`` for a data-plane request, or None."""
    if method != "POST":
        return None
    parts = path.split("/")
    n = len(parts)
    if n == 5 and parts[1] == "v1" and parts[2] == "endpoints" and parts[4] == "predict":
        return NATIVE_PREDICT, parts[3], None
    if parts[1:3] == ["v2", "models"] and parts[-1] == "infer":
        if n == 5:
            return V2_INFER, parts[3], None
        if n == 7 and parts[4] == "versions":
            return V2_INFER_VERSION, parts[3], parts[5]
    return None


__all__ = ["DATA_ROUTES", "DataRoute", "match"]
