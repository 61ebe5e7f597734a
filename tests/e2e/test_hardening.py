"""Request-level hardening of a real ``modelplane serve``: requests trickling in (slowloris) are
answered 408 and their connections closed, idle connections are closed, oversized headers are
431, compressed bodies 415, connections beyond ``--limit-concurrency`` are refused without
stopping the server, TLS (and client certificates) work end to end, and a large CSV upload is
processed in bounded memory."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

import modelplane as mp

from .certs import Pki, make_pki
from .conftest import FEATURES, Served, no_traceback

# short limits, so the tests wait seconds; the bounds the tests assert are generous
SERVER_ARGS = ("--timeout-request", "2", "--timeout-keep-alive", "1")
PATIENCE = 20.0  # seconds a test waits for the server to act before it fails
ROW = dict.fromkeys(FEATURES, 0.5)


def predict(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/endpoints/lr/predict", json={"inputs": [ROW]})


def connect(served: Served) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=PATIENCE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def answer_of(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def trickle(sock: socket.socket, data: bytes, interval: float = 0.2) -> bytes | None:
    """Send ``data`` a byte at a time; the server's answer if it closed the connection before
    everything was sent, else None."""
    for i in range(len(data)):
        try:
            sock.sendall(data[i : i + 1])
        except OSError:  # closed while sending: read what it said first
            return answer_of(sock)
        sock.settimeout(interval)
        try:
            first = sock.recv(65536)
        except TimeoutError:
            continue
        finally:
            sock.settimeout(PATIENCE)
        return first + answer_of(sock)
    return None


def json_error(raw: bytes, status: int, field: str) -> dict[str, Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), raw[:300]
    assert b"content-type: application/json" in head.lower(), head
    doc: dict[str, Any] = orjson.loads(body)
    assert doc["field"] == field, doc
    no_traceback(body.decode())
    return doc


# -- slow and idle clients ----------------------------------------------------------------------


def test_headers_trickling_in_are_cut_off_while_others_are_served(server: Served) -> None:
    request = (
        b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: "
        + b"s" * 300  # 300 bytes at 5 per second: a minute, were it not cut off
        + b"\r\n\r\n"
    )
    with connect(server) as slow, server.client() as client:
        assert predict(client).status_code == 200
        answer = trickle(slow, request)
        assert answer is not None, "the server kept reading the trickled headers"
        json_error(answer, 408, "headers")
        assert predict(client).status_code == 200  # the server answers everyone else


@pytest.mark.parametrize("target", ["predict", "upload"])
def test_bodies_trickling_in_are_408_and_released(server: Served, target: str) -> None:
    if target == "predict":
        path, media = "/v1/endpoints/lr/predict", b"application/json"
        body = orjson.dumps({"inputs": [ROW] * 5})
    else:
        path, media = "/api/v1/datasets/slow/versions", b"text/csv"
        body = b"a,b\n" + b"1,2\n" * 100
    head = (
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
        % (path.encode(), media, len(body))
    )
    with connect(server) as slow:
        slow.sendall(head)
        answer = trickle(slow, body)
    assert answer is not None, "the server kept reading the trickled body"
    json_error(answer, 408, "body")
    with server.client() as client:
        assert predict(client).status_code == 200
        assert client.get("/api/v1/datasets/slow").status_code == 404  # nothing registered
        r = client.post(path, content=body, headers={"content-type": media.decode()})
        assert r.status_code in (200, 201), r.text
    no_traceback(server.stderr())  # a client cut off is not an error of the server's


def test_idle_connections_are_closed(server: Served) -> None:
    with connect(server) as idle:  # connected, never says anything
        assert answer_of(idle) == b""
    with connect(server) as kept, server.client() as client:
        kept.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        # answered, then idle: closed too (the read ends only when the server closes)
        assert answer_of(kept).startswith(b"HTTP/1.1 200")
        assert predict(client).status_code == 200


def test_oversized_headers_are_431(server: Served) -> None:
    with server.client() as client:
        r = client.get("/v2/health/live", headers={"X-Big": "x" * 100_000})
        assert r.status_code == 431 and r.json()["field"] == "headers", r.text
        many = {f"X-H{i}": "1" for i in range(150)}
        r = client.get("/v2/health/live", headers=many)
        assert r.status_code == 431 and r.json()["field"] == "headers", r.text
    with server.client() as client:
        assert predict(client).status_code == 200
    with connect(server) as sock:  # the same headers sent slowly, a read at a time
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        answer = b""
        for _ in range(10):
            try:
                sock.sendall(b"X-Big: " + b"y" * 16_000 + b"\r\n")
            except OSError:
                break
            time.sleep(0.05)
        answer = answer_of(sock)
        json_error(answer, 431, "headers")


# -- compressed bodies --------------------------------------------------------------------------


def gzip_bomb(megabytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


def test_a_gzip_bomb_is_refused_everywhere(server: Served) -> None:
    bomb = gzip_bomb(1024)  # 1 GiB of zeros in about a megabyte
    assert len(bomb) < 2_000_000
    gz = {"content-encoding": "gzip"}
    with server.client() as client:
        for path, media in (
            ("/v1/endpoints/lr/predict", "application/json"),
            ("/v2/models/lr/infer", "application/json"),
            ("/api/v1/datasets/bomb/versions", "text/csv"),
            ("/api/v1/endpoints/bomb", "application/json"),
        ):
            method = "PUT" if path.startswith("/api/v1/endpoints") else "POST"
            r = client.request(method, path, content=bomb, headers={**gz, "content-type": media})
            assert r.status_code == 415, (path, r.text)
            assert r.json()["field"] == "content-encoding"
        assert predict(client).status_code == 200
        assert client.get("/api/v1/datasets/bomb").status_code == 404


# -- connection limit ---------------------------------------------------------------------------


def test_connections_beyond_the_limit_do_not_stop_the_server(
    launch: Callable[..., Served],
) -> None:
    served = launch(args=("--limit-concurrency", "8", "--timeout-keep-alive", "2"))
    held = [connect(served) for _ in range(8)]
    try:
        with connect(served) as extra:  # one more than the limit: 503 at once, closed
            json_error(answer_of(extra), 503, "connection")
    finally:
        for sock in held:
            sock.close()
    with served.client() as client:  # released by the clients: answered again
        r = wait_for_status(lambda: client.get("/v2/health/ready"), 200)
        assert predict(client).status_code == 200
    held = [connect(served) for _ in range(8)]  # held until the server closes them (idle)
    try:
        for sock in held:
            assert answer_of(sock) == b""
        with served.client() as client:
            wait_for_status(lambda: client.get("/v2/health/ready"), 200)
            assert predict(client).status_code == 200
    finally:
        for sock in held:
            sock.close()
    assert r.status_code == 200


def wait_for_status(call: Callable[[], httpx.Response], status: int) -> httpx.Response:
    deadline = time.monotonic() + PATIENCE
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = call()
            if last.status_code == status:
                return last
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.1)
    pytest.fail(f"no {status} within {PATIENCE} s (last: {last!r})")


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_context(pki: Pki, client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if client_cert:
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return context


def launch_tls(launch: Callable[..., Served], pki: Pki, *extra: str) -> str:
    args = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), *extra)
    served = launch(args=args, wait=False)
    url = f"https://127.0.0.1:{served.port}"
    context = tls_context(pki, client_cert=bool(extra))
    with httpx.Client(base_url=url, verify=context, timeout=5) as client:
        wait_for_status(lambda: client.get("/v2/health/ready"), 200)
    return url


def test_https_with_the_servers_ca(
    launch: Callable[..., Served], pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = launch_tls(launch, pki)
    with httpx.Client(base_url=url, verify=tls_context(pki)) as client:
        assert predict(client).status_code == 200
    with pytest.raises(httpx.ConnectError):  # the system's CAs do not know this server
        httpx.get(f"{url}/v2/health/live", verify=ssl.create_default_context())
    with pytest.raises(httpx.TransportError):  # plain HTTP to the TLS port
        httpx.get(url.replace("https://", "http://") + "/v2/health/live", timeout=5)
    with pytest.raises(httpx.ConnectError):  # another CA's word is not enough
        httpx.get(f"{url}/v2/health/live", verify=ssl.create_default_context(cafile=pki.other_ca))
    # mp.Client: the CA file as verify=, or the standard SSL_CERT_FILE
    with mp.Client(url, verify=str(pki.ca)) as remote:
        assert remote.predict("lr", [ROW])["outputs"]
        assert [m.name for m in remote.list_models()] == ["lr", "rf"]
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    with mp.Client(url) as remote:
        assert remote.get_model("lr").name == "lr"
    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises(mp.errors.InvalidInputError, match="verify"):
        mp.Client(url, verify=str(pki.ca.parent / "missing.pem"))


def test_client_certificates_required(launch: Callable[..., Served], pki: Pki) -> None:
    url = launch_tls(launch, pki, "--tls-client-ca", str(pki.ca))
    bare = httpx.Client(base_url=url, verify=tls_context(pki), timeout=5)
    with bare, pytest.raises(httpx.TransportError):  # no certificate: the handshake fails
        bare.get("/v2/health/live")
    with httpx.Client(base_url=url, verify=tls_context(pki, client_cert=True)) as client:
        assert client.get("/v2/health/live").status_code == 200
        assert predict(client).status_code == 200
    with mp.Client(url, verify=tls_context(pki, client_cert=True)) as remote:
        assert remote.predict("lr", [ROW])["outputs"]


# -- uploads in bounded memory ------------------------------------------------------------------


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def write_csv(path: Path, target_bytes: int) -> int:
    """About ``target_bytes`` of CSV: four numeric columns, a near-unique id, a city, a comment
    and a label (text columns are what a whole-table read held as Python objects)."""
    rng = np.random.default_rng(0)
    cities = np.array(["paris", "berlin", "madrid", "rome", "lisbon", "vienna"])
    rows, block = 0, 50_000
    with path.open("w", encoding="utf-8") as out:
        out.write("f0,f1,f2,f3,id,city,comment,label\n")
        while out.tell() < target_bytes:
            table = np.column_stack(
                [
                    rng.normal(size=(block, 4)).round(6).astype(str),
                    np.char.add("user-", rng.integers(0, 10**9, block).astype(str)),
                    cities[rng.integers(0, len(cities), block)],
                    np.char.add("note ", rng.integers(0, 10**6, block).astype(str)),
                    rng.integers(0, 2, block).astype(str),
                ]
            )
            out.write("\n".join(",".join(row) for row in table) + "\n")
            rows += block
    return rows


@pytest.fixture
def big_csv(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    path = tmp_path / "big.csv"
    rows = write_csv(path, 100 * 1024 * 1024)
    yield path, rows
    path.unlink(missing_ok=True)


@pytest.mark.slow
def test_a_100_mb_csv_upload_in_bounded_memory(
    launch: Callable[..., Served], big_csv: tuple[Path, int]
) -> None:
    path, rows = big_csv
    served = launch()
    before = memory_mb(served.proc.pid)
    with served.client(timeout=300) as client, path.open("rb") as data:
        r = client.post(
            "/api/v1/datasets/big/versions", content=data, headers={"content-type": "text/csv"}
        )
    assert r.status_code == 201, r.text
    assert r.json()["num_rows"] == rows
    after = memory_mb(served.proc.pid)
    growth = after["VmHWM"] - before["VmRSS"]
    print(f"server memory: {before} before, {after} after the upload")
    assert growth < 300, (before, after)  # reading it whole took 1.2 GB more
