"""Token authentication and authorization on every route: missing, malformed, unknown, wrong,
expired and revoked tokens (401), too low a role and out of scope (403), rate limits and brute
force (429), identities in the audit log, the token store keeping no secret."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

import modelplane as mp
from modelplane.config import ServerSettings
from modelplane.context import Workspace
from modelplane.serving.app import create_app
from modelplane.serving.permissions import OPEN_PATHS, SIGN_IN_PATHS

ROW = {"inputs": [{"a": 1.0, "b": 0.0}]}
V2 = {"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
LOCAL = "http://127.0.0.1"


def _flat(routes: Any) -> Iterator[Any]:
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _flat(inner.routes) if inner is not None else [route]


@pytest.fixture
def secured(sqlite_ws: Workspace) -> Iterator[dict[str, Any]]:
    """A server requiring tokens (MODELPLANE_AUTH=required), two endpoints, a token per role."""
    ws = Workspace(replace(sqlite_ws.settings, auth="required"), actor="owner")
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    ws.registry.register_model("m", model, X)
    ws.registry.register_model("other", model, X)
    ws.endpoints.deploy("a", {"model": "models:/m/1"})
    ws.endpoints.deploy("b", {"model": "models:/other/1"})
    tokens = {
        role: ws.tokens.create(role, role)[1]
        for role in ("viewer", "predictor", "operator", "admin")
    }
    tokens["scoped"] = ws.tokens.create("scoped", "operator", scopes=["endpoint:a", "model:m"])[1]
    # failed authentications are not limited here (many tests send bad tokens on purpose)
    app = create_app(ws, settings=ServerSettings(poll_interval=0.1, auth_failure_limit=0))
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as client:
        yield {"ws": ws, "client": client, "tokens": tokens, "app": app}
    ws.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _every_route(app: Any) -> list[tuple[str, str]]:
    """(method, concrete path) for every declared route (the dashboard's too) but the open
    probes and the dashboard's sign-in and sign-out."""
    out = []
    for route in _flat(app.api.routes):
        if not isinstance(route, APIRoute) or route.path in OPEN_PATHS | SIGN_IN_PATHS:
            continue
        path = re.sub(r"\{path:path\}", "model.joblib", route.path)
        path = re.sub(r"\{version\}", "1", path)
        path = re.sub(r"\{[a-z_]+\}", "a", path)
        out.extend((m, path) for m in sorted(route.methods))
    return out


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-token",
        "Bearer mpt_000000000000_" + "A" * 43,  # well-formed, unknown
        "bearer mpt_zzzzzzzzzzzz_" + "A" * 43,
        "Bearer " + "x" * 10_000,
    ],
)
def test_every_route_but_the_probes_is_401_without_a_valid_token(
    secured: dict[str, Any], authorization: str | None
) -> None:
    client: TestClient = secured["client"]
    headers = {} if authorization is None else {"Authorization": authorization}
    routes = _every_route(secured["app"])
    assert len(routes) >= 60
    assert ("GET", "/ui/models/a") in routes and ("GET", "/ui/static/model.joblib") in routes
    for method, path in routes:
        r = client.request(method, path, headers=headers, json={})
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert "Traceback" not in r.text
        assert r.json()  # a JSON body
    for probe in OPEN_PATHS:
        assert client.get(probe, headers=headers).status_code == 200


def test_a_wrong_secret_for_a_real_token_id_is_401(secured: dict[str, Any]) -> None:
    client: TestClient = secured["client"]
    real = secured["tokens"]["admin"]
    wrong = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    r = client.get("/api/v1/endpoints", headers=bearer(wrong))
    assert r.status_code == 401
    assert client.get("/api/v1/endpoints", headers=bearer(real)).status_code == 200


def test_roles_are_ordered_on_the_data_and_control_planes(secured: dict[str, Any]) -> None:
    client: TestClient = secured["client"]
    t = secured["tokens"]
    predict = "/v1/endpoints/a/predict"
    deploy = ("/api/v1/endpoints/c", {"model": "models:/m/1"})
    # viewer: reads only
    assert client.get("/api/v1/models", headers=bearer(t["viewer"])).status_code == 200
    assert client.get("/metrics", headers=bearer(t["viewer"])).status_code == 200
    r = client.post(predict, json=ROW, headers=bearer(t["viewer"]))
    assert r.status_code == 403 and "predictor" in r.json()["message"]
    # predictor: predicts, changes nothing
    assert client.post(predict, json=ROW, headers=bearer(t["predictor"])).status_code == 200
    r = client.put(deploy[0], json=deploy[1], headers=bearer(t["predictor"]))
    assert r.status_code == 403 and "operator" in r.json()["message"]
    # operator: deploys, but deleting an endpoint is an admin's
    assert client.put(deploy[0], json=deploy[1], headers=bearer(t["operator"])).status_code == 200
    assert client.delete("/api/v1/endpoints/c", headers=bearer(t["operator"])).status_code == 403
    assert client.get("/api/v1/tokens", headers=bearer(t["operator"])).status_code == 403
    # admin: everything
    assert client.delete("/api/v1/endpoints/c", headers=bearer(t["admin"])).status_code == 204
    assert client.get("/api/v1/tokens", headers=bearer(t["admin"])).status_code == 200


def test_a_scoped_token_reaches_its_resources_only(secured: dict[str, Any]) -> None:
    client: TestClient = secured["client"]
    h = bearer(secured["tokens"]["scoped"])
    assert client.post("/v1/endpoints/a/predict", json=ROW, headers=h).status_code == 200
    r = client.post("/v1/endpoints/b/predict", json=ROW, headers=h)
    assert r.status_code == 403 and "scoped" in r.json()["message"]
    assert client.get("/v2/models/a", headers=h).status_code == 200
    assert client.get("/v2/models/b", headers=h).status_code == 403
    assert client.get("/api/v1/models/m", headers=h).status_code == 200
    assert client.get("/api/v1/models/other", headers=h).status_code == 403
    assert client.get("/api/v1/models", headers=h).status_code == 403  # a listing of all
    assert client.get("/api/v1/audit", headers=h).status_code == 403


def test_changes_are_audited_with_the_tokens_name_and_id_never_the_secret(
    secured: dict[str, Any],
) -> None:
    client: TestClient = secured["client"]
    ws: Workspace = secured["ws"]
    secret = secured["tokens"]["operator"]
    token_id = secret.split("_", 2)[1]
    r = client.put("/api/v1/endpoints/c", json={"model": "models:/m/1"}, headers=bearer(secret))
    assert r.status_code == 200
    entry = ws.audit.list(action="endpoint.deploy", limit=1)[0]
    assert entry.actor == f"operator#{token_id}"
    everything = str([e.to_dict() for e in ws.audit.list(limit=1000)])
    for value in secured["tokens"].values():
        assert value.split("_", 2)[2] not in everything


def test_the_store_keeps_a_salted_slow_hash_not_the_secret(secured: dict[str, Any]) -> None:
    ws: Workspace = secured["ws"]
    with ws.meta.read() as conn:
        rows = conn.execute(sa.text("SELECT id, secret_hash FROM api_tokens")).all()
    secrets = {s.split("_", 2)[1]: s.split("_", 2)[2] for s in secured["tokens"].values()}
    hashes = set()
    for token_id, stored in rows:
        assert stored.startswith("scrypt$")
        assert secrets[token_id] not in stored
        hashes.add(stored.split("$")[-1])
    assert len(hashes) == len(rows)


def test_expired_and_revoked_tokens_are_refused(secured: dict[str, Any]) -> None:
    client: TestClient = secured["client"]
    ws: Workspace = secured["ws"]
    _, short = ws.tokens.create("short", "viewer", expires="1s")
    assert client.get("/api/v1/models", headers=bearer(short)).status_code == 200  # now cached
    time.sleep(1.2)
    r = client.get("/api/v1/models", headers=bearer(short))
    assert r.status_code == 401 and "expired" in r.json()["message"]

    _, doomed = ws.tokens.create("doomed", "predictor")
    h = bearer(doomed)
    assert client.post("/v1/endpoints/a/predict", json=ROW, headers=h).status_code == 200
    ws.tokens.revoke("doomed")  # as another process would: straight to the store
    deadline = time.monotonic() + 15
    status = 200
    while time.monotonic() < deadline:
        status = client.post("/v1/endpoints/a/predict", json=ROW, headers=h).status_code
        if status == 401:
            break
        time.sleep(0.05)
    assert status == 401  # the cached verification was dropped by the server's poll
    r = client.get("/api/v1/models", headers=h)
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    assert [e.action for e in ws.audit.list(action="token.revoke", limit=50)].count(
        "token.revoke"
    ) == 1


def test_a_token_over_its_rate_limit_gets_429_with_retry_after(secured: dict[str, Any]) -> None:
    client: TestClient = secured["client"]
    ws: Workspace = secured["ws"]
    _, limited = ws.tokens.create("limited", "predictor", rate_limit=2)
    h = bearer(limited)
    codes = [
        client.post("/v1/endpoints/a/predict", json=ROW, headers=h).status_code for _ in range(8)
    ]
    assert codes[0] == 200 and 429 in codes
    r = client.post("/v1/endpoints/a/predict", json=ROW, headers=h)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # another token is not affected
    assert (
        client.post(
            "/v1/endpoints/a/predict", json=ROW, headers=bearer(secured["tokens"]["predictor"])
        ).status_code
        == 200
    )


def test_a_brute_force_hits_the_failure_limit(secured: dict[str, Any]) -> None:
    app = create_app(secured["ws"], settings=ServerSettings(auth_failure_limit=30))
    client = TestClient(app, base_url=LOCAL)
    statuses = []
    for i in range(40):
        guess = f"mpt_{i:012x}_" + "B" * 43
        statuses.append(client.get("/api/v1/models", headers=bearer(guess)).status_code)
    assert statuses[0] == 401
    assert statuses[-1] == 429 and statuses.count(401) <= 30
    r = client.post("/v1/endpoints/a/predict", json=ROW, headers=bearer("mpt_x"))
    assert r.status_code == 429 and "retry-after" in r.headers
    # a caller without a token is not a guess: 401, not counted
    assert client.get("/api/v1/models").status_code == 429  # the address is still blocked
    other = TestClient(app, base_url=LOCAL, client=("10.9.8.7", 1234))
    assert other.get("/api/v1/models").status_code == 401
    assert (
        other.get("/api/v1/models", headers=bearer(secured["tokens"]["viewer"])).status_code == 200
    )
    # the refusals are counted on /metrics
    text = other.get("/metrics", headers=bearer(secured["tokens"]["viewer"])).text
    assert 'modelplane_auth_denials_total{code="401",reason="unknown"}' in text


def test_auto_mode_on_loopback_honours_tokens_and_admits_anonymous(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    ws.registry.register_model("m", LogisticRegression().fit(X, [0, 0, 1, 1]), X)
    _, viewer = ws.tokens.create("v", "viewer")
    with TestClient(create_app(ws), base_url=LOCAL) as client:
        r = client.put("/api/v1/endpoints/a", json={"model": "models:/m/1"})
        assert r.status_code == 200  # no token on loopback: anonymous, audited as such
        assert ws.audit.list(action="endpoint.deploy", limit=1)[0].actor.startswith("anonymous@")
        r = client.put("/api/v1/endpoints/a", json={"model": "models:/m/1"}, headers=bearer(viewer))
        assert r.status_code == 403  # a token presented is that token's caller
        assert client.get("/api/v1/models", headers=bearer("mpt_bad")).status_code == 401


def test_the_client_and_the_cli_send_the_token(
    secured: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client: TestClient = secured["client"]
    t = secured["tokens"]
    anonymous = mp.Client(LOCAL, http_client=client)
    with pytest.raises(mp.errors.AuthenticationError):
        anonymous.list_models()
    assert [m.name for m in mp.Client(LOCAL, token=t["viewer"], http_client=client).list_models()]
    monkeypatch.setenv("MODELPLANE_TOKEN", t["viewer"])
    assert mp.Client(LOCAL, http_client=client).list_models()
    with pytest.raises(mp.errors.PermissionDeniedError):
        mp.Client(LOCAL, http_client=client).set_alias("m", "champion", 1)


def test_the_cache_of_verified_tokens_is_bounded(
    secured: dict[str, Any],
) -> None:
    """Verified tokens are cached; the cache is bounded and clears itself when full."""
    from modelplane.serving import auth

    client: TestClient = secured["client"]
    ws: Workspace = secured["ws"]
    authorizer = secured["app"].server.authorizer
    old = auth.MAX_CACHED
    auth.MAX_CACHED = 3
    try:
        for i in range(6):
            _, tok = ws.tokens.create(f"many{i}", "predictor")
            r = client.post("/v1/endpoints/a/predict", json=ROW, headers=bearer(tok))
            assert r.status_code == 200
            assert len(authorizer._cache) <= 3
    finally:
        auth.MAX_CACHED = old
