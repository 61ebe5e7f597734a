"""Alias protection, Host and Origin checks (DNS rebinding, CSRF), the model-trust policy for
pickle-based uploads, and token verbs of the CLI against a real multi-worker server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

import modelplane as mp
from e2e.conftest import free_port, run_cli, server_env
from modelplane.config import ServerSettings
from modelplane.context import Workspace
from modelplane.serving.app import create_app

LOCAL = "http://127.0.0.1"
X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})


def _model() -> LogisticRegression:
    return LogisticRegression().fit(X, [0, 0, 1, 1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def secured(sqlite_ws: Workspace) -> Iterator[dict[str, Any]]:
    ws = Workspace(replace(sqlite_ws.settings, auth="required"), actor="owner")
    for _ in range(3):
        ws.registry.register_model("m", _model(), X)
    tokens = {r: ws.tokens.create(r, r)[1] for r in ("viewer", "operator", "admin")}
    app = create_app(ws, settings=ServerSettings(poll_interval=0.1))
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as client:
        yield {"ws": ws, "client": client, "tokens": tokens}
    ws.close()


# -- alias protection ------------------------------------------------------------------------


def test_a_protected_alias_moves_only_for_the_role_and_refusals_are_audited(
    secured: dict[str, Any],
) -> None:
    client: TestClient = secured["client"]
    ws: Workspace = secured["ws"]
    op, admin = bearer(secured["tokens"]["operator"]), bearer(secured["tokens"]["admin"])
    assert (
        client.put("/api/v1/models/m/aliases/champion", json={"version": 1}, headers=op).status_code
        == 200
    )
    # only admins may protect
    r = client.put("/api/v1/models/m/alias-rules/champion", json={"role": "admin"}, headers=op)
    assert r.status_code == 403
    r = client.put("/api/v1/models/m/alias-rules/champion", json={"role": "admin"}, headers=admin)
    assert r.status_code == 200 and r.json()["min_role"] == "admin"
    # the operator may no longer move or delete it; other aliases are not affected
    r = client.put("/api/v1/models/m/aliases/champion", json={"version": 2}, headers=op)
    assert r.status_code == 403 and "only admin" in r.json()["message"]
    assert client.delete("/api/v1/models/m/aliases/champion", headers=op).status_code == 403
    assert (
        client.put("/api/v1/models/m/aliases/staging", json={"version": 2}, headers=op).status_code
        == 200
    )
    assert ws.registry.resolve("models:/m@champion").version == 1
    refused = ws.audit.list(action="alias.refused", limit=10)
    assert len(refused) == 2 and {e.actor.split("#")[0] for e in refused} == {"operator"}
    assert refused[0].target == "models/m@champion"
    # the admin may
    r = client.put("/api/v1/models/m/aliases/champion", json={"version": 2}, headers=admin)
    assert r.status_code == 200
    rules = client.get("/api/v1/models/m/alias-rules", headers=op).json()
    assert [(x["alias"], x["min_role"]) for x in rules] == [("champion", "admin")]


def test_a_gated_alias_needs_a_version_that_passed_the_gate(secured: dict[str, Any]) -> None:
    client: TestClient = secured["client"]
    ws: Workspace = secured["ws"]
    op, admin = bearer(secured["tokens"]["operator"]), bearer(secured["tokens"]["admin"])
    ws.registry.alias_rules.protect("*", "champion", role="operator", require_gate=True)
    r = client.put("/api/v1/models/m/aliases/champion", json={"version": 3}, headers=op)
    assert r.status_code == 403 and "validation gate" in r.json()["message"]
    # an operator cannot mark a version as having passed: the tag is reserved
    r = client.patch(
        "/api/v1/models/m/versions/3", json={"tags": {"modelplane.gate": "passed"}}, headers=op
    )
    assert r.status_code == 403 and r.json()["field"] == "tags"
    r = client.patch(
        "/api/v1/models/m/versions/3", json={"tags": {"modelplane.gate": "passed"}}, headers=admin
    )
    assert r.status_code == 200
    r = client.put("/api/v1/models/m/aliases/champion", json={"version": 3}, headers=op)
    assert r.status_code == 200, r.text


def test_the_cli_manages_alias_rules(sqlite_ws: Workspace) -> None:
    from typer.testing import CliRunner

    from modelplane.cli.app import app

    sqlite_ws.registry.register_model("m", _model(), X)
    runner = CliRunner()
    home = ["--home", str(sqlite_ws.settings.home)]
    done = runner.invoke(app, [*home, "models", "protect", "m", "champion", "--role", "admin"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, [*home, "models", "rules", "--json"])
    assert json.loads(done.stdout)[0]["min_role"] == "admin"
    done = runner.invoke(app, [*home, "models", "protect", "m", "champion", "--role", "king"])
    assert done.exit_code == 2 and "unknown role" in done.output
    done = runner.invoke(app, [*home, "models", "unprotect", "m", "champion"])
    assert done.exit_code == 0
    done = runner.invoke(app, [*home, "models", "unprotect", "m", "champion"])
    assert done.exit_code == 2


# -- Host and Origin -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["attacker.example", "attacker.example:8000", "127.0.0.1.nip.io", "localhost.evil"]
)
def test_a_loopback_server_refuses_foreign_host_names(sqlite_ws: Workspace, host: str) -> None:
    """DNS rebinding: a browser on attacker.example re-pointed at 127.0.0.1."""
    client = TestClient(create_app(sqlite_ws), base_url=LOCAL)
    for method, path in [
        ("GET", "/api/v1/models"),
        ("DELETE", "/api/v1/endpoints/e"),
        ("POST", "/v1/endpoints/e/predict"),
        ("GET", "/v2/health/ready"),
        ("GET", "/docs"),
    ]:
        r = client.request(method, path, headers={"Host": host})
        assert r.status_code == 403 and r.json()["field"] == "host", (method, path, r.text)
    for ok in ("localhost:8000", "127.0.0.1", "[::1]:9000"):
        assert client.get("/api/v1/models", headers={"Host": ok}).status_code == 200


def test_allowed_hosts_and_any_host_beyond_loopback(sqlite_ws: Workspace) -> None:
    settings = ServerSettings(allowed_hosts=("mp.internal",))
    client = TestClient(create_app(sqlite_ws, settings=settings), base_url="http://mp.internal")
    assert client.get("/api/v1/models").status_code == 200
    assert client.get("/api/v1/models", headers={"Host": "localhost"}).status_code == 403
    # bound beyond loopback (tokens required), any Host is answered: 401, not 403
    wide = create_app(sqlite_ws, settings=ServerSettings(host="0.0.0.0"))
    r = TestClient(wide, base_url="http://mp.example.com").get("/api/v1/models")
    assert r.status_code == 401


def test_cross_origin_state_changes_are_refused(sqlite_ws: Workspace) -> None:
    """CSRF through "simple" requests: a form post, text/plain, a multipart upload."""
    sqlite_ws.registry.register_model("m", _model(), X)
    settings = ServerSettings(allowed_origins=("https://ui.example",))
    client = TestClient(create_app(sqlite_ws, settings=settings), base_url=LOCAL)
    evil = {"Origin": "https://evil.example"}
    attempts = [
        client.put("/api/v1/models/m/aliases/champion", json={"version": 1}, headers=evil),
        client.delete("/api/v1/models/m/versions/1", headers=evil),
        client.post(
            "/v1/endpoints/e/predict",
            content=b'{"inputs": [{"a": 1}]}',
            headers={**evil, "Content-Type": "text/plain"},
        ),
        client.post(
            "/api/v1/datasets/d/versions",
            content=b"a,b\n1,2\n",
            headers={**evil, "Content-Type": "text/csv"},
        ),
        client.post(
            "/api/v1/models/m/versions", files={"files": ("model.pkl", b"x")}, headers=evil
        ),
        client.put(
            "/api/v1/endpoints/e", json={"model": "models:/m/1"}, headers={"Origin": "null"}
        ),
    ]
    for r in attempts:
        assert r.status_code == 403 and r.json()["field"] == "origin", r.text
    assert sqlite_ws.registry.get_model("m").aliases == {}
    # reads are not state changes; the server's own pages and allowed origins may change state
    assert client.get("/api/v1/models", headers=evil).status_code == 200
    same = {"Origin": "http://127.0.0.1"}
    r = client.put("/api/v1/models/m/aliases/champion", json={"version": 1}, headers=same)
    assert r.status_code == 200
    r = client.put(
        "/api/v1/models/m/aliases/champion",
        json={"version": 1},
        headers={"Origin": "https://ui.example"},
    )
    assert r.status_code == 200


# -- the model-trust policy ------------------------------------------------------------------


def test_pickle_models_are_refused_beyond_loopback_unless_allowed(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    _, admin = ws.tokens.create("admin", "admin")
    marker = Path(ws.settings.home) / "pwned"

    class Evil:
        def __reduce__(self) -> Any:
            return (os.system, (f"touch {marker}",))

        def predict(self, X: Any) -> Any:
            return [0] * len(X)

    wide = create_app(ws, settings=ServerSettings(host="0.0.0.0"))
    with TestClient(wide, base_url=LOCAL) as http:
        client = mp.Client(LOCAL, token=admin, http_client=http)
        for model in (_model(), Evil()):
            with pytest.raises(mp.errors.InvalidInputError) as err:
                client.register_model("evil", model, X)
            assert "pickle" in str(err.value)
    assert not marker.exists()
    assert ws.registry.list_models() == []
    allowed = create_app(ws, settings=ServerSettings(host="0.0.0.0", allow_pickle_models=True))
    with TestClient(allowed, base_url=LOCAL) as http:
        client = mp.Client(LOCAL, token=admin, http_client=http)
        assert client.register_model("fine", _model(), X).version == 1
    assert not marker.exists()  # registering never deserialises


# -- the CLI's token verbs against a real server with two workers --------------------------


def test_revocation_reaches_every_worker_within_seconds(tmp_path: Path) -> None:
    home = tmp_path / "home"
    admin = run_cli(home, "token", "create", "--role", "admin", "--name", "root")
    assert admin.returncode == 0, admin.stderr
    root = admin.stdout.strip()
    port = free_port()
    env = {**server_env(), "MODELPLANE_AUTH": "required"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelplane",
            "--home",
            str(home),
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--poll-interval",
            "0.2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        # an admin creates a viewer token remotely
        made = run_cli(
            home,
            "token",
            "create",
            "--role",
            "viewer",
            "--name",
            "dash",
            "--url",
            url,
            "--json",
            env={"MODELPLANE_TOKEN": root},
        )
        assert made.returncode == 0, made.stderr
        viewer = json.loads(made.stdout)["token"]
        listed = run_cli(
            home, "token", "list", "--url", url, "--json", env={"MODELPLANE_TOKEN": root}
        )
        assert {t["name"] for t in json.loads(listed.stdout)} == {"root", "dash"}
        # without the admin token the remote verbs are refused, in one line
        refused = run_cli(home, "token", "list", "--url", url)
        assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
        with httpx.Client(base_url=url, headers=bearer(viewer)) as http:
            # warm both workers' caches (connections are spread over the workers)
            for _ in range(20):
                assert httpx.get(f"{url}/api/v1/models", headers=bearer(viewer)).status_code == 200
            revoked = run_cli(home, "token", "revoke", "dash")
            assert revoked.returncode == 0, revoked.stderr
            time.sleep(1.5)  # a few poll intervals
            codes = {
                httpx.get(f"{url}/api/v1/models", headers=bearer(viewer)).status_code
                for _ in range(20)
            }
            assert codes == {401}
            assert http.get("/v2/health/live").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_token_verbs_refuse_bad_input_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for args in (
        ("token", "create", "--role", "root"),
        ("token", "create", "--role", "viewer", "--scope", "cluster:x"),
        ("token", "create", "--role", "viewer", "--scope", "endpoint:../x"),
        ("token", "create", "--role", "viewer", "--expires", "forever"),
        ("token", "revoke", "nope"),
    ):
        done = run_cli(home, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
