"""The remote client's HTTP transport: one ``httpx.Client``, the bearer token, JSON encoding,
and the translation of answers back into modelplane errors.

An error answer's JSON body (``{"error": code, "message": ..., "field": ...}``) becomes the
modelplane error class with that ``code`` (``not_found`` → :class:`NotFoundError`, ...); a body
without a known code is mapped by HTTP status. Network failures (connection refused, timeouts,
broken connections) become :class:`BackendError`.
"""

from __future__ import annotations

import json
import math
import os
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from modelplane.errors import (
    AuthenticationError,
    BackendError,
    ConflictError,
    InvalidInputError,
    ModelplaneError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    TimeoutError_,
    UnavailableError,
)

_BY_STATUS: dict[int, type[ModelplaneError]] = {
    400: InvalidInputError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: InvalidInputError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: InvalidInputError,
    422: InvalidInputError,
    429: UnavailableError,
    503: UnavailableError,
    504: TimeoutError_,
}


def _classes_by_code() -> dict[str, type[ModelplaneError]]:
    found: dict[str, type[ModelplaneError]] = {}
    pending: list[type[ModelplaneError]] = [ModelplaneError]
    while pending:
        cls = pending.pop(0)
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def error_from_response(response: httpx.Response) -> ModelplaneError:
    """The modelplane error an error answer stands for (the server's message kept)."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    code = body.get("error")
    cls = _classes_by_code().get(code) if isinstance(code, str) else None
    if cls is None:
        cls = _BY_STATUS.get(status, BackendError if status >= 500 else InvalidInputError)
    message = body.get("message")
    if not isinstance(message, str) or not message:
        text = response.text[:200].strip() if body == {} else ""
        message = f"HTTP {status} from {response.request.method} {response.request.url.path}"
        if text:
            message += f": {text}"
    field = body.get("field")
    details = body.get("details")
    extra = (
        {k: v for k, v in details.items() if isinstance(k, str) and k not in ("field", "message")}
        if isinstance(details, dict)
        else {}
    )
    return cls(message, field=field if isinstance(field, str) else None, **extra)


def plain_json(value: Any) -> Any:
    """``value`` with numpy scalars and arrays made plain, NaN as ``None`` (JSON has no NaN)."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return plain_json(value.tolist())
    return value


class Transport:
    """Requests against one server; errors come back as modelplane errors.

    ``timeout`` and ``verify`` (:func:`tls_verify`) configure the ``httpx.Client`` created
    here; an injected ``http_client`` keeps its own settings.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        http_client: httpx.Client | None = None,
        verify: bool | str | ssl.SSLContext = True,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"server URL must start with http:// or https://, got {str(url)[:100]!r}",
                field="url",
            )
        self.base = url.rstrip("/")
        self._owned = http_client is None
        self.http = (
            http_client
            if http_client is not None
            else httpx.Client(timeout=timeout, verify=tls_verify(verify))
        )
        self.headers: dict[str, str] = {"Accept": "application/json"}
        if token is None:
            token = os.environ.get("MODELPLANE_TOKEN") or None
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        if self._owned:
            self.http.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        return {**self.headers, **(extra or {})}

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; a 4xx/5xx answer raises the matching modelplane error."""
        extra = dict(headers or {})
        if json_body is not None:
            content = json.dumps(plain_json(json_body), separators=(",", ":"))
            extra["Content-Type"] = "application/json"
        try:
            response = self.http.request(
                method,
                self.base + path,
                params=_params(params),
                content=content,
                data=data,
                files=files,
                headers=self._headers(extra),
            )
        except httpx.TransportError as exc:
            raise BackendError(f"{method} {self.base}{path} failed: {exc}") from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer (``None`` for 204 No Content)."""
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise BackendError(f"{method} {path}: the server answered something not JSON") from exc

    @contextmanager
    def stream(self, method: str, path: str) -> Iterator[httpx.Response]:
        """A streamed answer (for downloads); errors are raised before the body is read."""
        try:
            with self.http.stream(
                method, self.base + path, headers=self._headers(None)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                yield response
        except httpx.TransportError as exc:
            raise BackendError(f"{method} {self.base}{path} failed: {exc}") from exc


def tls_verify(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """How to check an https server's certificate: ``True`` — the system's CAs (httpx honours
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), a path — the CA certificates in that PEM file or
    folder (a private CA), an ``ssl.SSLContext`` — as it is (e.g. with a client certificate
    loaded for a server that requires one), ``False`` — not at all."""
    if isinstance(verify, bool | ssl.SSLContext):
        return verify
    path = Path(str(verify)).expanduser()
    try:
        if path.is_dir():
            return ssl.create_default_context(capath=str(path))
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInputError(
            f"verify: cannot load CA certificates from {str(verify)[:200]}: {exc}", field="verify"
        ) from None


def _params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return out
