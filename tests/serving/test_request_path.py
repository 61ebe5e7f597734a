"""The request path's seams, through the HTTP interface of an in-process server: variants named
in every answer, the v2 version route resolving against variants, prediction sinks (memory and
durable), adding a pipeline stage, the caller's identity reaching the audit log, and the bind
rule where the server is built."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import modelplane as mp
from modelplane.config import ServerSettings
from modelplane.context import Workspace
from modelplane.errors import InvalidInputError, PermissionDeniedError
from modelplane.inference.request import InferenceRequest
from modelplane.inference.sinks import MemorySink, PredictionRecord, PredictionSink
from modelplane.serving.app import create_app
from modelplane.serving.permissions import Permission, Principal

COLS = [f"f{i}" for i in range(4)]


@pytest.fixture
def models(sqlite_ws: Any) -> dict[str, Any]:
    X, y = make_classification(
        n_samples=300, n_features=4, n_informative=3, n_redundant=1, random_state=1
    )
    frame = pd.DataFrame(X, columns=COLS)
    m1 = LogisticRegression(C=1.0).fit(frame, y)
    m2 = LogisticRegression(C=0.01).fit(frame, y)
    mp.register_model("m", m1, frame.head(20))
    mp.register_model("m", m2, frame.head(20))
    return {"ws": sqlite_ws, "X": X, "m1": m1, "m2": m2}


def _client(ws: Any, **kwargs: Any) -> TestClient:
    return TestClient(create_app(ws, poll_interval=0.2, **kwargs), base_url="http://127.0.0.1")


def _records(X: np.ndarray) -> dict[str, Any]:
    return {"inputs": [dict(zip(COLS, map(float, row), strict=True)) for row in X]}


def _v2(X: np.ndarray) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "input-0", "shape": list(X.shape), "datatype": "FP64", "data": X.tolist()}
        ]
    }


def test_plain_endpoint_answers_name_the_default_variant(models: dict[str, Any]) -> None:
    ws, X = models["ws"], models["X"]
    ws.endpoints.deploy("e", {"model": "models:/m/1"})
    with _client(ws) as client:
        native = client.post("/v1/endpoints/e/predict", json=_records(X[:3])).json()
        assert native["variant"] == "default" and native["model"] == "m/1"
        assert native["outputs"] == models["m1"].predict(pd.DataFrame(X[:3], columns=COLS)).tolist()
        answer = client.post("/v2/models/e/infer", json=_v2(X[:3])).json()
        assert answer["model_version"] == "1"
        assert answer["parameters"]["variant"] == "default"
        assert answer["parameters"]["model"] == "m/1"
        assert len(answer["parameters"]["prediction_ids"]) == 3


def test_named_variant_and_the_version_route(models: dict[str, Any]) -> None:
    ws, X = models["ws"], models["X"]
    ws.endpoints.deploy(
        "e",
        {"traffic": {"policy": "single", "variants": [{"name": "blue", "model": "models:/m/2"}]}},
    )
    with _client(ws) as client:
        native = client.post("/v1/endpoints/e/predict", json=_records(X[:2])).json()
        assert native["variant"] == "blue" and native["model"] == "m/2"
        ok = client.post("/v2/models/e/versions/2/infer", json=_v2(X[:2]))
        assert ok.status_code == 200, ok.text
        assert ok.json()["parameters"]["variant"] == "blue"
        missing = client.post("/v2/models/e/versions/1/infer", json=_v2(X[:2]))
        assert missing.status_code == 404
        assert (
            missing.json()["field"] == "version" and "serves version 2" in missing.json()["error"]
        )
        meta = client.get("/v2/models/e").json()
        assert meta["versions"] == ["2"] and meta["parameters"]["variant"] == "blue"
        assert client.get("/v2/models/e/versions/2/ready").status_code == 200
        assert client.get("/v2/models/e/versions/1/ready").status_code == 404
        status = client.get("/api/v1/endpoints/e/status").json()
        assert status["variants"] == {"blue": {"version": "2", "model": "m/2", "weight": 100.0}}
        assert status["serving"]["m/2"]["variants"] == ["blue"]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (
            {"traffic": {"variants": [{"name": "a", "model": "models:/m/1"}] * 2}},
            "traffic",
        ),
        ({"traffic": {"variants": [{"name": "a b", "model": "models:/m/1"}]}}, "name"),
        ({"traffic": {"variants": [{"name": "a"}]}}, "traffic.variants.0"),
        ({"traffic": {"policy": "canary-ish", "variants": [{"model": "models:/m/1"}]}}, "policy"),
        ({"model": "models:/m/1", "traffic": {"variants": [{"model": "models:/m/1"}]}}, "body"),
    ],
)
def test_bad_traffic_configs_are_refused_naming_the_field(
    models: dict[str, Any], config: dict[str, Any], field: str
) -> None:
    with _client(models["ws"]) as client:
        r = client.put("/api/v1/endpoints/e", json=config)
        assert r.status_code == 422, r.text
        body = r.json()
        assert field in body["field"] or field in body["message"], body
        assert "Traceback" not in r.text


def test_memory_sink_gets_every_answered_prediction(models: dict[str, Any]) -> None:
    ws, X = models["ws"], models["X"]
    ws.endpoints.deploy("e", {"model": "models:/m/1"})
    sink = MemorySink()
    with _client(ws, sinks=[sink]) as client:
        answers = [
            client.post("/v1/endpoints/e/predict", json=_records(X[i : i + 3])).json()
            for i in range(0, 12, 3)
        ]
        answers.append(client.post("/v2/models/e/infer", json=_v2(X[:5])).json())
        bad = client.post("/v1/endpoints/e/predict", json={"inputs": [{"f0": "x"}]})
        assert bad.status_code == 422
        ids = [i for a in answers[:-1] for i in a["prediction_ids"]]
        ids += answers[-1]["parameters"]["prediction_ids"]
        deadline = time.monotonic() + 5
        while len(sink.prediction_ids()) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = client.get("/api/v1/endpoints/e/status").json()["sinks"]
        assert stats["memory"] == {"queued": 0, "dropped": 0, "failed": 0}
        assert stats["prediction-log"] == {"queued": 0, "dropped": 0, "failed": 0}
    assert sorted(sink.prediction_ids()) == sorted(ids)  # every answered id once, no error's
    assert sink.counts[("e", "default", "1")] == 17
    first = sink.snapshot()[0]
    np.testing.assert_allclose(np.asarray(first.inputs), X[:3])
    assert first.columns == tuple(COLS) and first.model == "m/1"
    assert first.outputs.tolist() == answers[0]["outputs"]
    assert first.probabilities is not None and first.probabilities.shape == (3, 2)
    assert first.latency > 0 and not first.fallback
    rows = list(first.rows())
    assert [r["prediction_id"] for r in rows] == answers[0]["prediction_ids"]
    assert rows[0]["inputs"] == dict(zip(COLS, X[0].tolist(), strict=True))


class _GatedSink(PredictionSink):
    """A durable sink whose writes wait for a gate (or fail when told to)."""

    durable = True
    name = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.fail = False
        self.written: list[str] = []

    def write(self, records: Sequence[PredictionRecord]) -> None:
        self.gate.wait(10)
        if self.fail:
            raise OSError("disk full")
        self.written.extend(i for r in records for i in r.ids)


def test_a_durable_sink_holds_the_answer_until_written(models: dict[str, Any]) -> None:
    ws, X = models["ws"], models["X"]
    ws.endpoints.deploy("e", {"model": "models:/m/1"})
    sink = _GatedSink()
    with _client(ws, sinks=[sink]) as client:
        done: dict[str, Any] = {}

        def call() -> None:
            done["r"] = client.post("/v1/endpoints/e/predict", json=_records(X[:2]))

        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.5)
        assert "r" not in done  # not answered while the record is not written
        sink.gate.set()
        t.join(10)
        assert done["r"].status_code == 200
        assert sink.written == done["r"].json()["prediction_ids"]
        sink.fail = True
        r = client.post("/v1/endpoints/e/predict", json=_records(X[:2]))
        assert r.status_code == 503, r.text  # not recorded: not acknowledged
        assert r.headers["retry-after"] == "1" and "gated" in r.json()["message"]


def test_a_failing_plain_sink_never_touches_answers(models: dict[str, Any]) -> None:
    class Broken(PredictionSink):
        name = "broken"

        def write(self, records: Sequence[PredictionRecord]) -> None:
            raise RuntimeError("boom")

    ws, X = models["ws"], models["X"]
    ws.endpoints.deploy("e", {"model": "models:/m/1"})
    with _client(ws, sinks=[Broken()]) as client:
        for _ in range(5):
            assert client.post("/v1/endpoints/e/predict", json=_records(X[:2])).status_code == 200


def test_a_stage_added_before_predict(models: dict[str, Any]) -> None:
    ws, X = models["ws"], models["X"]
    ws.endpoints.deploy("e", {"model": "models:/m/1"})
    app = create_app(ws, poll_interval=0.2)
    seen: list[tuple[str, str, int]] = []

    def quota(req: InferenceRequest) -> None:
        assert req.variant is not None
        seen.append((req.endpoint, req.variant.name, req.rows))
        if req.rows > 3:
            raise PermissionDeniedError("at most 3 rows per request", field="inputs")

    app.server.pipeline.add("quota", quota, before="predict")
    assert app.server.pipeline.names == [
        "authenticate",
        "resolve",
        "receive",
        "choose",
        "validate",
        "quota",
        "predict",
        "record",
    ]
    with pytest.raises(InvalidInputError):
        app.server.pipeline.add("quota", quota)
    with pytest.raises(InvalidInputError):
        app.server.pipeline.add("x", quota, after="nope")
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.post("/v1/endpoints/e/predict", json=_records(X[:2])).status_code == 200
        r = client.post("/v2/models/e/infer", json=_v2(X[:5]))
        assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    assert seen == [("e", "default", 2), ("e", "default", 5)]


class _Alice:
    def authenticate(self, authorization: str | None, client: str | None) -> Principal:
        return Principal((authorization or "Bearer alice").split()[-1], Permission.ADMIN)


def test_changes_over_the_api_are_audited_as_the_caller(models: dict[str, Any]) -> None:
    ws = models["ws"]
    with TestClient(
        create_app(ws, authorizer=_Alice(), poll_interval=0.2), base_url="http://127.0.0.1"
    ) as client:
        r = client.put("/api/v1/endpoints/e", json={"model": "models:/m/1"})
        assert r.status_code == 200, r.text
        assert r.json()["updated_by"] == "alice"
        r = client.put(
            "/api/v1/models/m/aliases/champion",
            json={"version": 2},
            headers={"authorization": "Bearer bob"},
        )
        assert r.status_code == 200, r.text
    entries = {e.action: e.actor for e in ws.audit.list(limit=20)}
    assert entries["endpoint.deploy"] == "alice"
    assert entries["alias.set"] == "bob"
    # open access (no token, on loopback): the caller's address, never the server's own user
    with _client(ws) as client:
        assert client.delete("/api/v1/endpoints/e").status_code == 204
    assert ws.audit.list(action="endpoint.delete", limit=1)[0].actor == "anonymous@testclient"


def test_the_bind_rule_is_enforced_where_the_server_is_built(
    sqlite_ws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelplane.serving.auth import TokenAuthorizer
    from modelplane.serving.permissions import AllowAll

    # auto (the default): tokens required beyond loopback, optional on it
    for host in ("0.0.0.0", "10.1.2.3", "::"):
        app = create_app(sqlite_ws, settings=ServerSettings(host=host))
        assert isinstance(app.server.authorizer, TokenAuthorizer)
        assert app.server.authorizer.required
    app = create_app(sqlite_ws, settings=ServerSettings(host="::1"))
    assert isinstance(app.server.authorizer, TokenAuthorizer)
    assert not app.server.authorizer.required
    # off: refused beyond loopback unless --insecure
    off = Workspace(replace(sqlite_ws.settings, auth="off"))
    for host in ("0.0.0.0", "10.1.2.3", "::"):
        with pytest.raises(InvalidInputError) as err:
            create_app(off, settings=ServerSettings(host=host))
        assert err.value.field == "host" and "--insecure" in err.value.message
    app = create_app(off, settings=ServerSettings(host="0.0.0.0", insecure=True))
    assert isinstance(app.server.authorizer, AllowAll)
    # required: tokens even on loopback
    required = Workspace(replace(sqlite_ws.settings, auth="required"))
    app = create_app(required, settings=ServerSettings(host="127.0.0.1"))
    assert isinstance(app.server.authorizer, TokenAuthorizer) and app.server.authorizer.required


def test_server_settings_travel_to_workers_in_one_variable(
    sqlite_ws: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from modelplane.config import SERVER_ENV

    settings = ServerSettings(host="127.0.0.1", port=9, workers=3, poll_interval=0.3)
    monkeypatch.setenv(SERVER_ENV, settings.to_env())
    assert ServerSettings.from_env() == settings
    app = create_app(sqlite_ws)
    assert app.server.settings == settings and app.server.manager.poll_interval == 0.3
    monkeypatch.setenv(SERVER_ENV, "{not json")
    with pytest.raises(InvalidInputError):
        ServerSettings.from_env()
