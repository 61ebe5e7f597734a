"""mp.Client against the control-plane API (FastAPI's TestClient as its HTTP client): the whole
lifecycle over SQLite and PostgreSQL, error translation, checksum verification on the client,
and a light import."""

from __future__ import annotations

import json
import pickle
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import modelplane as mp
from modelplane.client import Client, RemoteRun
from modelplane.context import Workspace
from modelplane.errors import (
    BackendError,
    ConflictError,
    FlavorError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    UnavailableError,
)

from .conftest import make_app


def _data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"tenure": rng.normal(size=200), "spend": rng.normal(size=200)})
    return X, (X.tenure + X.spend > 0).astype(int)


def test_full_lifecycle(ws: Workspace, client: Client) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = _data()
    table = X.assign(churned=y)
    ds = client.register_dataset("churn-train", table)
    assert ds.id > 0 and ds.num_rows == 200 and ds.uri == "datasets:/churn-train/1"
    assert client.register_dataset("churn-train", table).version == 1  # same content
    pd.testing.assert_frame_equal(client.load_dataset("churn-train"), table)
    assert [d.version for d in client.list_datasets("churn-train")] == [1]

    model = LogisticRegression(C=1.0).fit(X, y)
    with client.start_run("churn", "lr", tags={"team": "growth"}) as run:
        assert isinstance(run, RemoteRun)
        run.log_params({"C": 1.0})
        run.log_param("solver", "lbfgs")
        run.log_metric("auc", 0.93)
        run.log_metrics({"acc": np.float64(0.9), "f1": 0.8}, step=0)
        assert run.log_series("loss", [1.0 / (i + 1) for i in range(5000)]) == 5000
        run.set_tag("stage", "dev")
        mv = client.register_model(
            "churn", model, X.head(), run=run, datasets=[ds], metrics={"auc": 0.93}
        )
    info = client.get_run(run.id)
    assert info.status == "FINISHED" and info.end_time is not None
    assert info.params == {"C": 1.0, "solver": "lbfgs"}
    assert info.metrics["auc"] == 0.93 and info.metrics["loss"] == 1.0 / 5000
    assert info.tags == {"team": "growth", "stage": "dev"}
    assert [d["name"] for d in info.datasets] == ["churn-train"]
    assert len(run.metric_history("loss")) == 5000

    assert (mv.name, mv.version, mv.flavor, mv.run_id) == ("churn", 1, "sklearn", run.id)
    assert mv.params == {"C": 1.0, "solver": "lbfgs"} and mv.metrics == {"auc": 0.93}
    assert [d["name"] for d in mv.datasets] == ["churn-train"]
    assert set(mv.files) == {"model.joblib", "input_example.parquet"}
    assert mv.flavor_info["input_example"] == "input_example.parquet"
    assert [c["name"] for c in mv.signature["inputs"]] == ["tenure", "spend"]

    assert client.set_alias("churn", "champion", 1, reason="best").aliases == ["champion"]
    assert client.get_model("churn").aliases == {"champion": 1}
    assert [m.name for m in client.list_models()] == ["churn"]
    assert client.get_model_version("churn", 1).model_card
    loaded = client.load_model("models:/churn@champion")
    assert loaded.uri == "models:/churn/1"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    local = mp.load_model("models:/churn@champion")  # the same version through the SDK
    np.testing.assert_array_equal(local.predict(X), loaded.predict(X))

    query = "metrics.auc > 0.9 and params.C = '1.0'"
    frame = client.search_runs("churn", query)
    pd.testing.assert_frame_equal(frame, mp.search_runs("churn", query))
    assert frame.run_id.tolist() == [run.id]
    assert client.search_runs("churn", "metrics.auc > 0.99").empty
    assert [r.id for r in client.list_runs(["churn"], order_by=["metrics.auc DESC"])] == [run.id]
    with pytest.raises(NotFoundError, match="no experiment named 'other'"):
        client.list_runs(["churn", "other"])

    endpoint = client.deploy("churn-api", "models:/churn@champion")
    assert endpoint["config"]["model"] == "models:/churn@champion"
    assert [e["name"] for e in client.list_endpoints()] == ["churn-api"]
    answer = client.predict("churn-api", X.head(3))
    assert answer["outputs"] == model.predict(X.head(3)).tolist()

    assert client.audit_verify()["ok"] is True
    actions = {e["action"] for e in client.audit_list(limit=1000)}
    assert {"dataset.register", "model.register", "alias.set", "endpoint.deploy"} <= actions
    assert client.audit_list(target="models/churn", action="alias.set")[0]["after"]["version"] == 1


def test_remote_errors_are_modelplane_errors(sqlite_ws: Workspace) -> None:
    from sklearn.dummy import DummyClassifier

    client = Client("http://testserver", http_client=TestClient(make_app(sqlite_ws)))
    with pytest.raises(NotFoundError, match="no model named 'nosuch'") as err:
        client.get_model("nosuch")
    assert err.value.field == "model"
    with pytest.raises(InvalidInputError):
        client.get_model_version("file:///etc/passwd")
    with pytest.raises(FlavorError):
        client.register_model("m", object())
    with pytest.raises(FlavorError):
        client.register_model("m", "/some/mlflow/dir")
    model = DummyClassifier().fit([[0.0], [1.0]], [0, 1])
    mv = client.register_model("m", model, np.array([[0.0], [1.0]]))
    with pytest.raises(NotFoundError):
        client.set_alias("m", "champion", 7)
    client.set_alias("m", "champion", mv.version)
    with pytest.raises(ConflictError):
        client.delete_model_version("m", mv.version)
    client.delete_alias("m", "champion")
    assert client.update_model_version("m", 1, tags={"t": "x"}).tags == {"t": "x"}
    client.delete_model_version("m", 1)
    with pytest.raises(NotFoundError):
        client.get_model_version("m", 1)
    run = client.start_run("exp")
    run.log_param("a", 1)
    with pytest.raises(ConflictError):
        run.log_param("a", 2)
    with pytest.raises(InvalidInputError):
        run.log_metric("m", "not a number")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        run.log_batch([("m", 1.0)])  # type: ignore[list-item]
    with pytest.raises(NotFoundError):
        client.get_run("0" * 32)
    with pytest.raises(NotFoundError):
        client.get_dataset("nosuch")
    with pytest.raises(InvalidInputError):
        client.register_dataset("ds", "s3://bucket/key.csv")


def test_large_batches_are_split_and_acknowledged(sqlite_ws: Workspace) -> None:
    client = Client("http://testserver", http_client=TestClient(make_app(sqlite_ws)))
    with client.start_run("big") as run:
        assert run.log_batch(("m", float(i), i, None) for i in range(100_001)) == 100_001
    assert client.get_run(run.id).metrics["m"] == 100_000.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mock(handler: Callable[[httpx.Request], httpx.Response], token: str | None = None) -> Client:
    return Client(
        "http://server", token, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )


def test_transport_errors_status_codes_and_token() -> None:
    with pytest.raises(BackendError):
        Client(f"http://127.0.0.1:{_free_port()}", timeout=2).list_models()
    with pytest.raises(InvalidInputError):
        Client("ftp://server")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path.endswith("/busy"):
            body = {"error": "unavailable", "message": "draining", "details": {"retry_after": 2}}
            return httpx.Response(503, json=body)
        if path.endswith("/big"):
            return httpx.Response(413, text="Content Too Large")
        return httpx.Response(502, text="<html>bad gateway</html>")

    client = _mock(answer, token="s3cret")
    with pytest.raises(UnavailableError) as busy:
        client.get_endpoint("busy")
    assert busy.value.details == {"retry_after": 2}
    with pytest.raises(PayloadTooLargeError):
        client.get_endpoint("big")
    with pytest.raises(BackendError, match="502"):
        client.list_models()
    assert seen[0].headers["authorization"] == "Bearer s3cret"
    with pytest.raises(BackendError):
        _mock(answer).list_models()  # no token: no header
    assert "authorization" not in seen[-1].headers


class _Marker:
    """Unpickling this creates the marker file: proof that something was deserialised."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def _tampering(api: TestClient, replace: Callable[[str], bytes | None]) -> Client:
    """A client whose server answers are forwarded, except bodies ``replace`` substitutes."""

    def forward(request: httpx.Request) -> httpx.Response:
        swapped = replace(request.url.path)
        if swapped is not None:
            return httpx.Response(200, content=swapped)
        r = api.request(
            request.method, str(request.url), headers=request.headers, content=request.read()
        )
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)

    return _mock(forward)


def test_client_verifies_downloads_before_use(sqlite_ws: Workspace, tmp_path: Path) -> None:
    from sklearn.dummy import DummyClassifier

    api = TestClient(make_app(sqlite_ws))
    honest = Client("http://testserver", http_client=api)
    honest.register_model("m", DummyClassifier().fit([[0.0], [1.0]], [0, 1]))
    honest.register_dataset("ds", pd.DataFrame({"a": [1, 2]}))
    marker = tmp_path / "unpickled"
    evil = pickle.dumps(_Marker(marker))

    client = _tampering(api, lambda path: evil if path.endswith("/model.joblib") else None)
    with pytest.raises(IntegrityError, match="checksum"):
        client.load_model("models:/m/1")
    assert not marker.exists()
    client = _tampering(api, lambda path: b"PAR1junk" if path.endswith("/data") else None)
    with pytest.raises(IntegrityError):
        client.load_dataset("ds")

    version = honest.get_model_version("m", 1).to_dict()
    version["files"] = {"../../evil": version["files"]["model.joblib"]}
    client = _tampering(
        api, lambda path: json.dumps(version).encode() if path.endswith("/resolve") else None
    )
    with pytest.raises(InvalidInputError):
        client.load_model("models:/m/1")
    assert not (tmp_path.parent / "evil").exists()


def test_import_is_light() -> None:
    code = (
        "import sys, json, modelplane as mp, modelplane.client; mp.Client; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'starlette', 'sklearn', 'uvicorn') or m.startswith('modelplane.serving'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
