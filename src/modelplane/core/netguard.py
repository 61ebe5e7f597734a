"""Outgoing HTTP requests that cannot be turned against the server's own network (SSRF).

Whenever the server (or the SDK acting for a request) fetches a URL someone else chose, it goes
through :func:`fetch`, never through a bare ``httpx`` call:

* only ``http`` and ``https``; no credentials in the URL (``user:pass@``); a port in range;
* the host name is resolved once (:func:`socket.getaddrinfo`) and **every** address it resolves
  to must be public: loopback, private (RFC 1918, IPv6 ULA), shared (100.64/10), link-local
  (incl. the cloud metadata address 169.254.169.254), multicast, unspecified, broadcast,
  documentation and reserved ranges are refused, also when written as IPv6 (IPv4-mapped
  ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``);
* hosts spelled as IPv4 numbers other than a dotted quad (``2130706433``, ``0x7f.1``,
  ``017700000001``, ``127.1``) are refused outright, whatever they stand for;
* the connection goes to the address that was checked (DNS rebinding): the request is sent to
  the IP literal with the ``Host`` header set to the name and, for https, the TLS server name
  (SNI, certificate check) set to the name through httpcore's ``sni_hostname`` extension;
  environment proxies are ignored (``trust_env=False``), since a proxy would resolve again;
* redirects are followed here, at most :data:`MAX_REDIRECTS`, each hop checked like the first;
  ``Authorization`` and ``Cookie`` headers are dropped when a redirect leaves the origin;
* the (decoded) response body is capped at ``max_bytes``.

``allow_private=True`` (``MODELPLANE_ALLOW_PRIVATE_URLS`` for a deployment inside a private
network) lets loopback, private, link-local and reserved addresses through; unspecified,
multicast and broadcast addresses and the cloud metadata addresses stay refused.

Refusals raise :class:`~modelplane.errors.UnsafeInputError` (HTTP 422) with ``field="url"``; a
malformed URL or a name that does not resolve raises :class:`InvalidInputError`; a target that
cannot be reached raises :class:`~modelplane.errors.BackendError` (503).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any, Final

import httpx

from modelplane.errors import BackendError, InvalidInputError, UnsafeInputError

MAX_REDIRECTS: Final = 5
SCHEMES: Final = ("http", "https")
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
METADATA_ADDRESSES: Final = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
"""Cloud instance metadata services: refused even with ``allow_private``."""
REQUEST_KWARGS: Final = frozenset(
    {"params", "headers", "cookies", "content", "data", "files", "json"}
)
CLIENT_KWARGS: Final = frozenset({"verify", "cert"})
MAX_ADDRESSES: Final = 32

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]*)(\.[A-Za-z0-9_]([A-Za-z0-9_-]*))*\.?")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SENSITIVE = ("authorization", "cookie", "proxy-authorization")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _refuse(url: str, why: str) -> UnsafeInputError:
    return UnsafeInputError(f"refusing URL {_show(url)}: {why}", field="url")


def _show(url: str) -> str:
    text = repr(url)
    return text if len(text) <= 120 else text[:117] + "..."


# -- classifying addresses ------------------------------------------------------------------------


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def address_refusal(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why a connection to ``ip`` is refused (``"10.0.0.1 is a private address"``), or None."""
    kind = _refused_kind(ip, allow_private)
    return None if kind is None else f"{ip} is {kind}"


def _refused_kind(ip: IPAddress, allow_private: bool) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(ip.compressed.partition("%")[0])
        inner = _embedded_ipv4(ip)
        if inner is not None:
            kind = _refused_kind(inner, allow_private)
            return None if kind is None else f"{kind} ({inner} written as IPv6)"
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    if allow_private:
        return None
    for test, kind in (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "a site-local address"),
        (not ip.is_global, "not a public address"),
    ):
        if test:
            return kind
    return None


# -- parsing and resolving ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """A checked URL: the URL as given, its host name and the addresses it was resolved to."""

    url: httpx.URL
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    addresses: tuple[IPAddress, ...]
    named: bool  # the host is a name (not an IP literal): Host header and SNI carry it

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.url.scheme, self.host.lower(), self.port)


def _parse(url: str) -> httpx.URL:
    if not isinstance(url, str) or not url:
        raise InvalidInputError("a URL must be a non-empty string", field="url")
    if len(url) > 8192:
        raise InvalidInputError("the URL is longer than 8192 characters", field="url")
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in url):
        raise _refuse(url, "it contains control characters")
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise InvalidInputError(f"invalid URL {_show(url)}: {exc}", field="url") from None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _check_name(url: str, host: str) -> None:
    try:
        socket.inet_aton(host)
    except OSError:
        pass
    else:  # a number the C library reads as an IPv4 address, yet not a dotted quad
        raise _refuse(url, f"host {host!r} is an IPv4 address in a non-standard spelling")
    if not _HOST_NAME.fullmatch(host) or len(host) > 253:
        raise _refuse(url, f"host {host[:80]!r} is not a valid host name")


def _resolve(url: str, host: str, port: int) -> tuple[IPAddress, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise InvalidInputError(
            f"cannot resolve the host of {_show(url)}: {exc}", field="url"
        ) from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if ip not in found:
            found.append(ip)
    if not found:
        raise InvalidInputError(f"the host of {_show(url)} has no address", field="url")
    return tuple(found[:MAX_ADDRESSES])


def _target(url: str, allow_private: bool) -> _Target:
    parsed = _parse(url)
    if parsed.scheme not in SCHEMES:
        raise _refuse(
            url, f"scheme {parsed.scheme or '(none)'!r} is not allowed; use http or https"
        )
    if parsed.userinfo:
        raise _refuse(url, "credentials in URLs are not allowed")
    host = parsed.raw_host.decode("ascii", "replace")
    if not host:
        raise _refuse(url, "it has no host")
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise _refuse(url, f"port {port} is out of range")
    literal = _literal(host)
    if literal is None:
        _check_name(url, host)
        addresses = _resolve(url, host, port)
    else:
        addresses = (literal,)
    for ip in addresses:
        why = address_refusal(ip, allow_private=allow_private)
        if why is not None:
            if literal is None:
                why = f"host {host!r} resolves to {why.replace(' is ', ', ', 1)}"
            raise _refuse(url, why)
    return _Target(parsed, host, port, addresses, literal is None)


def check_url(url: str, *, allow_private: bool = False) -> None:
    """Raise unless ``url`` is an http(s) URL whose host resolves to allowed addresses only."""
    _target(url, allow_private)


# -- fetching -------------------------------------------------------------------------------------


def _split_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    unknown = sorted(set(kwargs) - REQUEST_KWARGS - CLIENT_KWARGS)
    if unknown:
        raise TypeError(f"fetch() got unsupported keyword arguments: {', '.join(unknown)}")
    request = {k: v for k, v in kwargs.items() if k in REQUEST_KWARGS}
    client = {k: v for k, v in kwargs.items() if k in CLIENT_KWARGS}
    return request, client


def _send(
    client: httpx.Client, method: str, target: _Target, kwargs: dict[str, Any]
) -> httpx.Response:
    """Send the request to the checked addresses in turn (the first that accepts a connection)."""
    failure: Exception | None = None
    for ip in target.addresses:
        request = client.build_request(method, target.url.copy_with(host=str(ip)), **kwargs)
        if target.named:
            request.headers["Host"] = target.url.netloc.decode("ascii")
            if target.url.scheme == "https":
                request.extensions["sni_hostname"] = target.host
        try:
            return client.send(request, stream=True)
        except httpx.ConnectError as exc:
            failure = exc
        except httpx.TransportError as exc:
            raise _unreachable(target, exc) from None
    assert failure is not None
    raise _unreachable(target, failure) from None


def _unreachable(target: _Target, exc: Exception) -> BackendError:
    return BackendError(
        f"cannot reach {_show(str(target.url))}: {type(exc).__name__}: {exc}", field="url"
    )


def _read_capped(response: httpx.Response, target: _Target, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _refuse(str(target.url), f"the response is larger than {max_bytes} bytes")
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise _refuse(str(target.url), f"the response is larger than {max_bytes} bytes")
    except httpx.TransportError as exc:
        raise _unreachable(target, exc) from None
    except httpx.DecodingError as exc:
        raise InvalidInputError(
            f"cannot decode the response of {_show(str(target.url))}: {exc}", field="url"
        ) from None
    return bytes(body)


def _finished(
    response: httpx.Response, body: bytes, method: str, target: _Target
) -> httpx.Response:
    """A complete response: the body as read (decoded), the request as the caller named it."""
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=httpx.Request(method, target.url),
        extensions={"http_version": response.extensions.get("http_version", b"HTTP/1.1")},
    )


def _next_request(status: int, method: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What a redirect with ``status`` asks for: 303 (and 301/302 after a POST) become a GET
    without a body; 307 and 308 repeat the request."""
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET", {
            k: v for k, v in kwargs.items() if k not in ("content", "data", "files", "json")
        }
    return method, kwargs


def _without_credentials(kwargs: dict[str, Any]) -> dict[str, Any]:
    headers = httpx.Headers(kwargs.get("headers"))
    for name in _SENSITIVE:
        headers.pop(name, None)
    return {**kwargs, "headers": headers, "cookies": None}


def fetch(
    method: str,
    url: str,
    *,
    allow_private: bool = False,
    timeout: float = 10.0,
    max_bytes: int = 100 * 2**20,
    **httpx_kwargs: Any,
) -> httpx.Response:
    """``method url`` under the rules of this module; the complete response (any status).

    ``httpx_kwargs`` are the request's ``params``, ``headers``, ``cookies``, ``content``,
    ``data``, ``files`` and ``json`` (``params`` apply to the first URL only; a redirect's
    location is complete), and the client's ``verify`` and ``cert``.
    Redirects are followed (at most :data:`MAX_REDIRECTS`); the answer's ``request.url`` is the
    URL of the last hop as named, not the address connected to.
    """
    verb = method.upper() if isinstance(method, str) else ""
    if verb not in METHODS:
        raise InvalidInputError(f"unsupported HTTP method {method!r}", field="method")
    if max_bytes < 0 or timeout <= 0:
        raise InvalidInputError("max_bytes and timeout must be positive", field="max_bytes")
    request_kwargs, client_kwargs = _split_kwargs(httpx_kwargs)
    target = _target(url, allow_private)
    with httpx.Client(
        timeout=timeout, trust_env=False, follow_redirects=False, **client_kwargs
    ) as client:
        for hop in range(MAX_REDIRECTS + 1):
            response = _send(client, verb, target, request_kwargs)
            try:
                location = response.headers.get("location")
                if response.status_code not in _REDIRECTS or location is None:
                    body = _read_capped(response, target, max_bytes)
                    return _finished(response, body, verb, target)
            finally:
                response.close()
                client.cookies.clear()
            if hop == MAX_REDIRECTS:
                raise _refuse(url, f"more than {MAX_REDIRECTS} redirects")
            try:
                following = str(target.url.join(location))
            except (httpx.InvalidURL, ValueError, TypeError) as exc:
                raise InvalidInputError(
                    f"{_show(str(target.url))} redirects to an invalid URL: {exc}", field="url"
                ) from None
            verb, request_kwargs = _next_request(response.status_code, verb, request_kwargs)
            request_kwargs.pop("params", None)
            previous = target
            try:
                target = _target(following, allow_private)
            except InvalidInputError as exc:
                exc.message = f"{exc.message} (a redirect from {_show(str(previous.url))})"
                exc.args = (exc.message,)
                raise
            if target.origin != previous.origin:
                request_kwargs = _without_credentials(request_kwargs)
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["MAX_REDIRECTS", "address_refusal", "check_url", "fetch"]
