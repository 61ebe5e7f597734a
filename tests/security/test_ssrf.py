"""Outgoing requests to URLs someone else chose (``modelplane.core.netguard``): private and
internal addresses refused in every spelling, the connection pinned to the checked address (DNS
rebinding), redirects checked hop by hop, responses capped — against real HTTP(S) servers on
loopback; and the server's own routes never open a location a request names."""

from __future__ import annotations

import datetime as dt
import gzip
import http.server
import io
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from modelplane.config import load_settings
from modelplane.core.netguard import MAX_REDIRECTS, check_url, fetch
from modelplane.errors import BackendError, InvalidInputError, UnsafeInputError
from modelplane.serving.app import create_app

UPLOAD = {"X-Modelplane-Upload": "1"}  # what mp.Client sends with uploads
REFUSED = [
    "http://127.0.0.1/",
    "http://127.8.9.10:8080/admin",
    "http://[::1]/",
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f.1/",  # hex and a short form
    "http://0x7f000001/",
    "http://017700000001/",  # octal
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://3232235777/",  # 192.168.1.1
    "http://0/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",  # shared address space (carrier NAT)
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://169.254.1.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd00:ec2::254]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",  # reserved
    "http://192.0.2.1/",  # documentation
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
    "http://[2002:7f00:1::1]/",  # 6to4 of 127.0.0.1
    "http://localhost/",
    "http://LocalHost:80/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "ftp://example.com/",
    "dict://127.0.0.1:11211/",
    "http://user:secret@example.com/",
    "http://example.com@127.0.0.1/",
    "https://:@example.com/",
    "http:///etc/passwd",
    "http://example.com:99999/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_internal_and_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        check_url(url)
    assert err.value.field == "url"
    assert err.value.http_status in (400, 422)
    assert "refusing" in err.value.message or "invalid" in err.value.message


def test_refusals_say_why() -> None:
    cases = {
        "http://169.254.169.254/": "cloud metadata",
        "http://2130706433/": "non-standard spelling",
        "http://[::ffff:127.0.0.1]/": "written as IPv6",
        "http://localhost/": "resolves to 127.0.0.1, a loopback address",
        "file:///etc/passwd": "scheme 'file' is not allowed",
        "http://u:p@example.com/": "credentials",
    }
    for url, why in cases.items():
        with pytest.raises(UnsafeInputError, match=why) as err:
            check_url(url)
        assert err.value.http_status == 422 and err.value.code == "unsafe_input"


def test_allow_private_lets_private_networks_through_but_never_metadata() -> None:
    for url in (
        "http://127.0.0.1:8080/",
        "http://10.1.2.3/",
        "http://[fd12::1]/",
        "http://localhost/",
    ):
        check_url(url, allow_private=True)
    for url in (
        "http://169.254.169.254/",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://2130706433/",
        "file:///etc/passwd",
    ):
        with pytest.raises(UnsafeInputError):
            check_url(url, allow_private=True)


# -- a resolver under the test's control ----------------------------------------------------------


@dataclass
class Dns:
    """Answers for some names (a list per name: one answer per lookup, the last one repeated);
    every other lookup goes to the real resolver. Counts the lookups of each name."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Dns:
    real = socket.getaddrinfo
    state = Dns()

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in state.answers:
            return real(host, port, *args, **kwargs)
        seen = state.lookups.get(name, 0)
        state.lookups[name] = seen + 1
        options = state.answers[name]
        out = []
        for address in options[min(seen, len(options) - 1)]:
            ip = ipaddress.ip_address(address)
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            sockaddr = (
                (address, int(port or 0)) if ip.version == 4 else (address, int(port or 0), 0, 0)
            )
            out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return state


def test_every_resolved_address_must_be_public(dns: Dns) -> None:
    dns.answers["public.example"] = [["93.184.216.34"]]
    dns.answers["internal.example"] = [["10.20.30.40"]]
    dns.answers["mixed.example"] = [["93.184.216.34", "127.0.0.1"]]
    dns.answers["meta.example"] = [["2600:1f18::1", "::ffff:169.254.169.254"]]
    check_url("https://public.example/anchor")
    for name, why in (
        ("internal.example", "private"),
        ("mixed.example", "loopback"),
        ("meta.example", "metadata"),
    ):
        with pytest.raises(UnsafeInputError, match=why):
            check_url(f"https://{name}/anchor")


# -- real servers on loopback -------------------------------------------------------------------


@dataclass
class Seen:
    path: str
    method: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    url: str
    port: int
    seen: list[Seen]
    sni: list[str | None]
    routes: dict[str, Callable[[http.server.BaseHTTPRequestHandler], None]]


def _handler(
    seen: list[Seen], routes: dict[str, Callable[[http.server.BaseHTTPRequestHandler], None]]
) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            seen.append(Seen(self.path, self.command, dict(self.headers.items()), body))
            route = routes.get(self.path.split("?")[0])
            if route is not None:
                route(self)
                return
            reply(self, 200, f"hello from {self.path}".encode())

        do_GET = do_POST = do_PUT = do_HEAD = _any

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def reply(
    handler: http.server.BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def redirect(
    location: str, status: int = 302
) -> Callable[[http.server.BaseHTTPRequestHandler], None]:
    return lambda h: reply(h, status, b"", {"Location": location})


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    started: list[http.server.ThreadingHTTPServer] = []

    def start(host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None) -> Server:
        seen: list[Seen] = []
        sni: list[str | None] = []
        routes: dict[str, Callable[[http.server.BaseHTTPRequestHandler], None]] = {}
        srv = http.server.ThreadingHTTPServer((host, port), _handler(seen, routes))
        scheme = "http"
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: sni.append(name)
            srv.socket = tls.wrap_socket(srv.socket, server_side=True)
            scheme = "https"
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
        bound = srv.server_address[1]
        return Server(f"{scheme}://{host}:{bound}", int(bound), seen, sni, routes)

    yield start
    for srv in started:
        srv.shutdown()
        srv.server_close()


def test_a_fetch_reaches_loopback_only_when_private_targets_are_allowed(
    serve: Callable[..., Server],
) -> None:
    srv = serve()
    with pytest.raises(UnsafeInputError, match="loopback"):
        fetch("GET", f"{srv.url}/x")
    assert srv.seen == []  # refused before connecting

    r = fetch("POST", f"{srv.url}/anchor", allow_private=True, json={"head": "abc"})
    assert r.status_code == 200 and r.text == "hello from /anchor"
    assert str(r.url) == f"{srv.url}/anchor"
    assert json.loads(srv.seen[0].body) == {"head": "abc"}
    assert srv.seen[0].headers["Host"] == f"127.0.0.1:{srv.port}"


def test_the_connection_goes_to_the_address_that_was_checked(
    serve: Callable[..., Server], dns: Dns
) -> None:
    """DNS rebinding: the name answers 127.0.0.1 when checked and 127.0.0.2 afterwards. The
    request must reach the first (the checked one) and the name is looked up once."""
    checked = serve("127.0.0.1")
    rebound = serve("127.0.0.2", port=checked.port)
    dns.answers["rebind.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    r = fetch("GET", f"http://rebind.test:{checked.port}/secret", allow_private=True)
    assert r.status_code == 200
    assert [s.path for s in checked.seen] == ["/secret"]
    assert rebound.seen == []
    assert dns.lookups["rebind.test"] == 1
    assert checked.seen[0].headers["Host"] == f"rebind.test:{checked.port}"  # the name, not the IP


def test_redirects_are_checked_hop_by_hop(serve: Callable[..., Server], dns: Dns) -> None:
    srv = serve()
    other = serve()
    dns.answers["metadata.example"] = [["169.254.169.254"]]
    dns.answers["cdn.example"] = [["127.0.0.1"]]  # a public-looking name, served on loopback
    srv.routes["/to-metadata"] = redirect("http://169.254.169.254/latest/meta-data/")
    srv.routes["/to-mapped"] = redirect("http://[::ffff:a9fe:a9fe]/")
    srv.routes["/to-name"] = redirect("http://metadata.example/latest")
    srv.routes["/to-file"] = redirect("file:///etc/passwd")
    srv.routes["/to-creds"] = redirect(f"http://u:p@127.0.0.1:{other.port}/")
    srv.routes["/to-decimal"] = redirect(f"http://2130706433:{other.port}/")
    for path, why in (
        ("/to-metadata", "metadata"),
        ("/to-mapped", "metadata"),
        ("/to-name", "metadata"),
        ("/to-file", "scheme 'file'"),
        ("/to-creds", "credentials"),
        ("/to-decimal", "non-standard spelling"),
    ):
        with pytest.raises(UnsafeInputError, match=why) as err:
            fetch("GET", f"http://cdn.example:{srv.port}{path}", allow_private=True)
        assert "a redirect from" in err.value.message and err.value.field == "url"
    assert other.seen == []
    # without allow_private the first hop on loopback is refused already
    with pytest.raises(UnsafeInputError, match="loopback"):
        fetch("GET", f"http://cdn.example:{srv.port}/to-metadata")


def test_redirects_are_followed_at_most_five_times(serve: Callable[..., Server]) -> None:
    srv = serve()
    for i in range(MAX_REDIRECTS + 1):
        srv.routes[f"/r{i}"] = redirect(f"/r{i + 1}", 307)
    srv.routes[f"/r{MAX_REDIRECTS}"] = redirect("/done", 301)
    r = fetch("GET", f"{srv.url}/r1", allow_private=True)
    assert r.status_code == 200 and r.text == "hello from /done"
    assert str(r.url) == f"{srv.url}/done"
    srv.routes["/loop"] = redirect("/loop")
    with pytest.raises(UnsafeInputError, match=f"more than {MAX_REDIRECTS} redirects"):
        fetch("GET", f"{srv.url}/loop", allow_private=True)
    assert sum(s.path == "/loop" for s in srv.seen) == MAX_REDIRECTS + 1


def test_redirect_methods_and_credentials(serve: Callable[..., Server]) -> None:
    srv = serve()
    other = serve()
    srv.routes["/see-other"] = redirect("/landing", 303)
    srv.routes["/keep"] = redirect("/landing", 308)
    srv.routes["/away"] = redirect(f"{other.url}/landing", 307)
    auth = {"Authorization": "Bearer s3cret"}
    fetch("POST", f"{srv.url}/see-other", allow_private=True, json={"a": 1}, headers=auth)
    landing = srv.seen[-1]
    assert landing.method == "GET" and landing.body == b""
    assert landing.headers["Authorization"] == "Bearer s3cret"  # same origin: kept
    fetch("POST", f"{srv.url}/keep", allow_private=True, json={"a": 1})
    assert srv.seen[-1].method == "POST" and json.loads(srv.seen[-1].body) == {"a": 1}
    fetch("PUT", f"{srv.url}/away", allow_private=True, content=b"x", headers=auth)
    assert other.seen[-1].method == "PUT" and other.seen[-1].body == b"x"
    assert "Authorization" not in other.seen[-1].headers  # another origin: dropped


def test_responses_are_capped_also_when_compressed(serve: Callable[..., Server]) -> None:
    srv = serve()
    srv.routes["/big"] = lambda h: reply(h, 200, b"x" * 50_000)
    bomb = gzip.compress(b"\0" * 5_000_000)
    srv.routes["/bomb"] = lambda h: reply(h, 200, bomb, {"Content-Encoding": "gzip"})
    assert len(fetch("GET", f"{srv.url}/big", allow_private=True).content) == 50_000
    with pytest.raises(UnsafeInputError, match="larger than 10000 bytes"):
        fetch("GET", f"{srv.url}/big", allow_private=True, max_bytes=10_000)
    assert len(bomb) < 100_000
    with pytest.raises(UnsafeInputError, match="larger than 100000 bytes"):
        fetch("GET", f"{srv.url}/bomb", allow_private=True, max_bytes=100_000)


def test_unreachable_targets_are_a_backend_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(BackendError) as err:
        fetch("GET", f"http://127.0.0.1:{free}/", allow_private=True)
    assert err.value.field == "url" and err.value.http_status == 503


# -- https: the name goes into SNI and the certificate check -----------------------------------


def _certificates(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context for ``name``, client context trusting its CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file, ca_file = tmp_path / "leaf.pem", tmp_path / "leaf.key", tmp_path / "ca.pem"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(ca_file))
    return server, client


def test_https_to_a_pinned_address_checks_the_certificate_of_the_name(
    serve: Callable[..., Server], dns: Dns, tmp_path: Path
) -> None:
    server_tls, client_tls = _certificates(tmp_path, "secure.test")
    srv = serve(tls=server_tls)
    dns.answers["secure.test"] = [["127.0.0.1"]]
    dns.answers["impostor.test"] = [["127.0.0.1"]]
    r = fetch(
        "GET", f"https://secure.test:{srv.port}/anchor", allow_private=True, verify=client_tls
    )
    assert r.status_code == 200 and r.text == "hello from /anchor"
    assert srv.sni[-1] == "secure.test"
    assert srv.seen[-1].headers["Host"] == f"secure.test:{srv.port}"
    # the same address under another name: the certificate does not match it
    with pytest.raises(BackendError, match="certificate"):
        fetch("GET", f"https://impostor.test:{srv.port}/", allow_private=True, verify=client_tls)
    assert dns.lookups == {"secure.test": 1, "impostor.test": 1}


# -- settings -----------------------------------------------------------------------------------


def test_the_private_urls_setting(tmp_path: Path) -> None:
    assert load_settings(env={}, cwd=tmp_path).allow_private_urls is False
    on = load_settings(env={"MODELPLANE_ALLOW_PRIVATE_URLS": "true"}, cwd=tmp_path)
    assert on.allow_private_urls is True
    (tmp_path / "modelplane.toml").write_text("[modelplane]\nallow_private_urls = true\n")
    assert load_settings(env={}, cwd=tmp_path).allow_private_urls is True
    with pytest.raises(InvalidInputError) as err:
        load_settings(env={"MODELPLANE_ALLOW_PRIVATE_URLS": "maybe"}, cwd=tmp_path)
    assert err.value.field == "allow_private_urls"


# -- the server's own routes never open a location a request names -------------------------------


LOCATIONS = [
    "file:///etc/passwd",
    "/etc/passwd",
    "../../etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:5432/",
    "s3://bucket/key",
    "runs:/0123456789abcdef/model",
    "models:/../../etc/passwd",
]


@pytest.fixture
def api(sqlite_ws: Any) -> Iterator[TestClient]:
    from sklearn.linear_model import LogisticRegression

    import modelplane as mp

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    mp.register_model("m", LogisticRegression().fit(X, [0, 0, 1, 1]), X)
    with TestClient(create_app(sqlite_ws, poll_interval=0.2), base_url="http://127.0.0.1") as c:
        yield c


@pytest.mark.parametrize("location", LOCATIONS)
def test_model_locations_in_requests_must_be_registry_uris(api: TestClient, location: str) -> None:
    docs = {
        "model": {"model": location},
        "graph.models.0.uri": {"graph": {"models": [{"uri": location}]}},
        "fallback.model": {"model": "models:/m/1", "fallback": {"model": location}},
    }
    for where, doc in docs.items():
        r = api.put("/api/v1/endpoints/e", json=doc)
        assert r.status_code in (400, 422), (where, r.text)
        assert r.json().get("field"), r.text
    r = api.get("/api/v1/models/resolve", params={"uri": location})
    assert r.status_code == 400 and r.json()["field"] == "model_uri", r.text
    assert api.get("/api/v1/endpoints/e").status_code == 404


def test_upload_metadata_cannot_point_at_server_files(api: TestClient) -> None:
    for info in (
        {"files": ["/etc/passwd"]},
        {"files": ["../../etc/passwd"]},
        {"files": ["model.onnx"], "input_example": "/etc/passwd"},
    ):
        meta = {"flavor": "onnx", "flavor_info": info, "signature": {}}
        r = api.post(
            "/api/v1/models/up/versions",
            data={"meta": json.dumps(meta)},
            headers=UPLOAD,
            files=[("files", ("model.onnx", b"x", "application/octet-stream"))],
        )
        assert r.status_code == 400, r.text
        assert r.json()["field"].startswith("flavor_info"), r.text


def test_a_dataset_source_is_a_label_the_server_never_opens(api: TestClient) -> None:
    body = b"a,b\n1,2\n"
    r = api.post(
        "/api/v1/datasets/d/versions",
        params={"source": "/etc/passwd"},
        content=body,
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "/etc/passwd" and r.json()["num_rows"] == 1
    data = api.get("/api/v1/datasets/d/versions/1/data").content
    assert pd.read_parquet(io.BytesIO(data)).to_dict("list") == {"a": [1], "b": [2]}
