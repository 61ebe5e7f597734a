"""``modelplane serve`` options: bad values exit 2 with one line before anything starts; good
ones reach the workers' ServerSettings and uvicorn (TLS files, client certificates, the
connection limit and timeouts, the connection-guarding protocol)."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from e2e.certs import Pki, make_pki  # noqa: E402


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What ``modelplane serve`` handed to uvicorn (binding and starting replaced: nothing
    listens)."""
    import socket

    from modelplane.cli import serve as serve_module
    from modelplane.config import SERVER_ENV, ServerSettings

    seen: dict[str, Any] = {}

    def start(options: dict[str, Any], sock: Any) -> None:
        seen.update(options, settings=ServerSettings.from_env())

    for var in ("MODELPLANE_HOME", "MODELPLANE_DB_URL", "MODELPLANE_ARTIFACTS", SERVER_ENV):
        monkeypatch.delenv(var, raising=False)  # serve sets them for its workers: restored after
    monkeypatch.setattr(serve_module, "_bind", lambda settings: socket.socket())
    monkeypatch.setattr(serve_module, "_start", start)
    return seen


def bad(cli: Any, *args: str) -> str:
    result = cli("serve", *args)
    assert result.exit_code == 2, result.output
    return cli.one_error_line(result.stderr)


def test_bad_tls_options_exit_2_with_one_line(cli: Any, pki: Pki, tmp_path: Path) -> None:
    cert, key, ca = str(pki.server_cert), str(pki.server_key), str(pki.ca)
    assert "--tls-key is missing" in bad(cli, "--tls-cert", cert)
    assert "--tls-cert is missing" in bad(cli, "--tls-key", key)
    assert "--tls-client-ca needs" in bad(cli, "--tls-client-ca", ca)
    missing = str(tmp_path / "nope.pem")
    assert "not a file" in bad(cli, "--tls-cert", missing, "--tls-key", key)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate", encoding="utf-8")
    assert "cannot load" in bad(cli, "--tls-cert", str(junk), "--tls-key", key)
    # a key that is not the certificate's
    assert "cannot load" in bad(cli, "--tls-cert", cert, "--tls-key", str(pki.client_key))
    line = bad(cli, "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", str(junk))
    assert "--tls-client-ca" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--allowed-hosts", "a/b"], "--allowed-hosts"),
        (["--allowed-hosts", ","], "--allowed-hosts"),
        (["--allowed-origins", "ui.example.com"], "--allowed-origins"),
        (["--allowed-origins", "https://ui.example.com/path"], "--allowed-origins"),
        (["--rate-limit", "0"], "--rate-limit"),
        (["--rate-limit", "fast"], "--rate-limit"),
        (["--limit-concurrency", "0"], "--limit-concurrency"),
        (["--timeout-request", "0"], "--timeout-request"),
        (["--timeout-keep-alive", "-1"], "--timeout-keep-alive"),
    ],
)
def test_bad_limits_exit_2_with_one_line(cli: Any, args: list[str], expected: str) -> None:
    assert expected in bad(cli, *args)


def test_options_reach_the_workers_and_uvicorn(cli: Any, pki: Pki, started: dict[str, Any]) -> None:
    from modelplane.serving.connection import GuardedHttpToolsProtocol

    result = cli(
        "serve",
        "--allowed-hosts",
        "mp.internal, 10.0.0.5",
        "--allowed-origins",
        "https://ui.example.com",
        "--no-allow-pickle-models",
        "--rate-limit",
        "12.5",
        "--tls-cert",
        str(pki.server_cert),
        "--tls-key",
        str(pki.server_key),
        "--tls-client-ca",
        str(pki.ca),
        "--limit-concurrency",
        "50",
        "--timeout-keep-alive",
        "3",
        "--timeout-request",
        "7.5",
    )
    assert result.exit_code == 0, result.output
    assert "https://127.0.0.1:8000" in result.stderr
    settings = started["settings"]
    assert settings.allowed_hosts == ("mp.internal", "10.0.0.5")
    assert settings.allowed_origins == ("https://ui.example.com",)
    assert settings.allow_pickle_models is False and not settings.pickle_models_allowed
    assert settings.rate_limit == 12.5
    assert settings.tls_cert == str(pki.server_cert)
    assert (settings.limit_concurrency, settings.timeout_keep_alive) == (50, 3.0)
    assert settings.timeout_request == 7.5
    assert started["ssl_certfile"] == str(pki.server_cert)
    assert started["ssl_keyfile"] == str(pki.server_key)
    assert started["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert started["ssl_ca_certs"] == str(pki.ca)
    assert started["limit_concurrency"] == 50 and started["timeout_keep_alive"] == 3.0
    assert started["http"] is GuardedHttpToolsProtocol


def test_defaults(cli: Any, started: dict[str, Any]) -> None:
    result = cli("serve")
    assert result.exit_code == 0, result.output
    settings = started["settings"]
    assert settings.allowed_hosts is None and settings.allowed_origins == ()
    assert settings.allow_pickle_models is None and settings.pickle_models_allowed  # loopback
    assert settings.rate_limit is None and settings.tls_cert is None
    assert (settings.limit_concurrency, settings.timeout_request) == (1000, 30.0)
    assert "ssl_certfile" not in started
    assert "http://127.0.0.1:8000" in result.stderr
