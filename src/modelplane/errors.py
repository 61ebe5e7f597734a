"""The one exception tree of modelplane.

Every error modelplane raises on purpose derives from :class:`ModelplaneError`; each class knows
the HTTP status the server answers with and the exit status the CLI ends with, so both boundaries
map errors in a single place.

    ModelplaneError                      500 / exit 1
    ├── InvalidInputError                400 / exit 2   malformed or hostile input (names, URIs, filters)
    │   ├── SchemaValidationError        422 / exit 2   input does not match a model signature
    │   ├── UnsafeInputError             422 / exit 2   well-formed but refused: an internal URL, a
    │   │                                               python step outside the allowed modules
    │   ├── PayloadTooLargeError         413 / exit 2
    │   └── UnsupportedMediaError        415 / exit 2   pickle, form or compressed bodies
    ├── NotFoundError                    404 / exit 2   unknown model, version, alias, run, dataset
    ├── ConflictError                    409 / exit 1   state conflicts (duplicate, wrong status)
    ├── AuthenticationError              401 / exit 1   no or unknown credentials
    ├── PermissionDeniedError            403 / exit 1
    ├── RateLimitedError                 429 / exit 1   too many requests (``details.retry_after``)
    ├── UnavailableError                 503 / exit 1   overloaded, draining or a database outage;
    │   │                                               retry later (``details.retry_after``)
    │   └── NotLoadedError               503 / exit 1   an endpoint's model version could not load
    ├── TimeoutError_                    504 / exit 1   a model exceeded its time limit
    ├── IntegrityError                   409 / exit 1   stored bytes do not match their recorded checksum
    ├── AuditChainError                  500 / exit 1   the audit log's hash chain is broken
    ├── PredictError                     500 / exit 1   the model raised while predicting
    ├── StepError                        500 / exit 1   a python step of an inference graph failed
    ├── FlavorError                      400 / exit 2   a model object or directory no flavor can handle
    ├── MissingDependencyError           503 / exit 2   an optional library is not installed; the
    │                                                   message names the extra to install
    └── BackendError                     503 / exit 1   a backend (database, object store) failed,
                                                        e.g. the metadata store cannot be migrated

Third-party errors are translated at the boundary with ``raise ... from exc``; database errors
at the metadata store's (``modelplane.stores.metadata.translate``): connection lost → Unavailable,
an integrity violation no service handled → Conflict (``details`` name the constraint).
"""

from __future__ import annotations

from typing import Any


class ModelplaneError(Exception):
    """Root of all modelplane errors."""

    http_status: int = 500
    exit_code: int = 1
    code: str = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON body an HTTP boundary answers with."""
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class InvalidInputError(ModelplaneError):
    """Malformed or hostile input: a bad name, URI, filter or value (``field`` names it)."""

    http_status = 400
    exit_code = 2
    code = "invalid_input"


class SchemaValidationError(InvalidInputError):
    http_status = 422
    code = "schema_mismatch"


class UnsafeInputError(InvalidInputError):
    """Well-formed input refused by policy: a URL that leads to a private or internal address, a
    python step naming a function outside the modules an admin allowed."""

    http_status = 422
    code = "unsafe_input"


class PayloadTooLargeError(InvalidInputError):
    http_status = 413
    code = "payload_too_large"


class NotFoundError(ModelplaneError):
    """An unknown model, version, alias, run, dataset, endpoint or token."""

    http_status = 404
    exit_code = 2
    code = "not_found"


class ConflictError(ModelplaneError):
    """The request conflicts with the current state: a duplicate, or the wrong status."""

    http_status = 409
    code = "conflict"


class AuthenticationError(ModelplaneError):
    http_status = 401
    code = "unauthenticated"


class TimeoutError_(ModelplaneError):
    """A model did not answer within its time limit (HTTP 504)."""

    http_status = 504
    code = "timeout"


class PermissionDeniedError(ModelplaneError):
    http_status = 403
    code = "permission_denied"


class UnsupportedMediaError(InvalidInputError):
    """A body in a format this route never accepts (pickle, form posts where JSON is due,
    compressed bodies)."""

    http_status = 415
    code = "unsupported_media_type"


class RateLimitedError(ModelplaneError):
    """Too many requests (per token, or failed authentications per client); ``details.retry_after``
    says when to try again."""

    http_status = 429
    code = "rate_limited"


class UnavailableError(ModelplaneError):
    http_status = 503
    code = "unavailable"


class IntegrityError(ModelplaneError):
    """Stored bytes do not match their recorded checksum: the stored state is in conflict with
    its record (409), nothing the caller can fix by retrying."""

    http_status = 409
    code = "integrity_error"


class AuditChainError(ModelplaneError):
    http_status = 500
    code = "audit_chain_broken"


class PredictError(ModelplaneError):
    """The model raised while predicting (counted as a model failure)."""

    http_status = 500
    code = "predict_failed"


class StepError(ModelplaneError):
    """A python step of an inference graph raised (or returned something unusable)."""

    http_status = 500
    code = "step_failed"


class NotLoadedError(UnavailableError):
    """The model version behind an endpoint could not be loaded."""

    code = "not_loaded"


class FlavorError(InvalidInputError):
    code = "unsupported_model"


class MissingDependencyError(ModelplaneError):
    """A configured backend or a model's flavor needs an optional library that is not
    installed: the server cannot serve it (503); the CLI user fixes it by installing the extra
    the message names (exit 2)."""

    http_status = 503
    exit_code = 2
    code = "missing_dependency"


def needs_extra(
    what: str, package: str, extra: str, *, field: str | None = None
) -> MissingDependencyError:
    """The error for ``what`` needing ``package``, installed by ``modelplane[extra]``."""
    return MissingDependencyError(
        f"{what} needs {package}, which is not installed; install it with: "
        f"pip install 'modelplane[{extra}]'",
        field=field,
        package=package,
        extra=extra,
    )


class BackendError(ModelplaneError):
    http_status = 503
    code = "backend_error"


__all__ = [
    "AuditChainError",
    "AuthenticationError",
    "BackendError",
    "ConflictError",
    "FlavorError",
    "IntegrityError",
    "InvalidInputError",
    "MissingDependencyError",
    "ModelplaneError",
    "NotFoundError",
    "NotLoadedError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PredictError",
    "RateLimitedError",
    "SchemaValidationError",
    "StepError",
    "TimeoutError_",
    "UnavailableError",
    "UnsafeInputError",
    "UnsupportedMediaError",
    "needs_extra",
]
