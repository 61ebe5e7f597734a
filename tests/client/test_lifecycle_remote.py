"""Lifecycle, typed params, experiment summaries and dataset URIs over HTTP (/api/v1) and through
``mp.Client``, on SQLite and PostgreSQL: the same answers as the local SDK, 4xx bodies naming the
field, audit entries with the caller as actor."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from modelplane.client import Client
from modelplane.context import Workspace
from modelplane.errors import ConflictError, InvalidInputError, NotFoundError

API = "/api/v1"


def _error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body.get("field"), body
    return body


def test_runs_delete_restore_and_typed_params_remotely(client: Client, api: TestClient) -> None:
    with client.start_run("remote") as run:
        run.log_params({"C": 0.5, "n": 3, "conf": {"depth": 3}, "none": None, "np": np.int64(2)})
    with client.start_run("remote") as other:
        pass
    info = client.get_run(run.id)
    assert info.params == {"C": 0.5, "n": 3, "conf": {"depth": 3}, "none": None, "np": 2}
    assert client.search_runs("remote", "params.C > 0.1")["run_id"].tolist() == [run.id]
    assert client.search_runs("remote", "params.C = '0.5'")["run_id"].tolist() == [run.id]

    client.delete_run(run.id)
    assert client.search_runs("remote")["run_id"].tolist() == [other.id]
    assert [r.id for r in client.list_runs("remote", lifecycle="deleted")] == [run.id]
    assert client.get_run(run.id).lifecycle == "deleted"
    with pytest.raises(ConflictError):
        run.log_metric("auc", 0.5)
    assert client.restore_run(run.id).lifecycle == "active"
    entries = client.audit_list(target=f"runs/{run.id}")
    assert [e["action"] for e in entries[:2]] == ["run.restore", "run.delete"]
    assert all(e["actor"].startswith("anonymous@") for e in entries[:2])

    with pytest.raises(NotFoundError, match="no experiment named 'nope'"):
        client.search_runs("nope")
    assert _error(api.get(f"{API}/runs", params={"experiment": "nope"}), 404)["field"] == (
        "experiment"
    )
    assert _error(api.get(f"{API}/runs", params={"lifecycle": "gone"}), 422)["field"] == (
        "lifecycle"
    )
    _error(api.get(f"{API}/runs", params={"filter": "params.C > '1'"}), 400)
    _error(api.delete(f"{API}/runs/{'f' * 32}"), 404)
    _error(api.post(f"{API}/runs/{'f' * 32}/restore"), 404)
    bad_key = api.post(f"{API}/runs/{other.id}/tags", json={"tags": {"../x": "v"}})
    assert bad_key.status_code in (400, 422), bad_key.text
    bad_metric = api.post(
        f"{API}/runs/{other.id}/metrics", json={"points": [{"key": "a//b", "value": 1.0}]}
    )
    assert bad_metric.status_code in (400, 422), bad_metric.text

    experiments = {e["name"]: e for e in api.get(f"{API}/experiments").json()}
    assert experiments["remote"]["runs"] == 2 and experiments["remote"]["last_run_time"]


def test_models_delete_restore_remotely(client: Client, api: TestClient, ws: Workspace) -> None:
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    for _ in range(3):
        ws.registry.register_model("remote-m", model, X)
    client.set_alias("remote-m", "champion", 1)
    client.deploy("remote-ep", "models:/remote-m/2")

    body = _error(api.delete(f"{API}/models/remote-m/versions/1"), 409)
    assert "@champion" in body["message"]
    assert "remote-ep" in _error(api.delete(f"{API}/models/remote-m/versions/2"), 409)["message"]
    assert "remote-ep" in _error(api.delete(f"{API}/models/remote-m"), 409)["message"]

    client.delete_model_version("remote-m", 3)
    assert [v.version for v in client.list_model_versions("remote-m")] == [1, 2]
    assert client.restore_model_version("remote-m", 3).version == 3

    client.delete_alias("remote-m", "champion")
    client.delete_endpoint("remote-ep")
    client.delete_model("remote-m")
    _error(api.get(f"{API}/models/remote-m"), 404)
    assert client.restore_model("remote-m").latest_version == 3
    actions = [e["action"] for e in client.audit_list(target="models/remote-m")]
    assert {"model.delete", "model.restore", "model_version.delete"} <= set(actions)
    with pytest.raises(InvalidInputError):
        client.set_alias("remote-m", "v2", 1)
    assert (
        _error(api.put(f"{API}/models/remote-m/aliases/v2", json={"version": 1}), 400)["field"]
        == "alias"
    )


def test_deleted_models_and_versions_listed_remotely(
    client: Client, api: TestClient, ws: Workspace
) -> None:
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    for _ in range(3):
        ws.registry.register_model("remote-l", model, X)
    ws.registry.register_model("remote-k", model, X)
    client.delete_model_version("remote-l", 1)

    deleted = client.list_model_versions("remote-l", lifecycle="deleted")
    assert [(v.version, v.lifecycle) for v in deleted] == [(1, "deleted")]
    assert deleted[0].deleted_at is not None
    every = client.list_model_versions("remote-l", lifecycle="all")
    assert [(v.version, v.lifecycle) for v in every] == [
        (1, "deleted"),
        (2, "active"),
        (3, "active"),
    ]
    assert [v.version for v in client.list_model_versions("remote-l")] == [2, 3]
    rows = api.get(f"{API}/models/remote-l/versions", params={"lifecycle": "deleted"}).json()
    assert [(r["version"], r["lifecycle"]) for r in rows] == [(1, "deleted")] and rows[0][
        "deleted_at"
    ]

    client.delete_model("remote-l")
    assert [m.name for m in client.list_models()] == ["remote-k"]
    (gone,) = client.list_models(lifecycle="deleted")
    assert (gone.name, gone.lifecycle, gone.latest_version) == ("remote-l", "deleted", 3)
    assert gone.deleted_at is not None
    assert gone == ws.registry.list_models(lifecycle="deleted")[0]  # the same record both ways
    assert [(m.name, m.lifecycle) for m in client.list_models(lifecycle="all")] == [
        ("remote-k", "active"),
        ("remote-l", "deleted"),
    ]
    listed = api.get(f"{API}/models", params={"lifecycle": "deleted"}).json()
    assert [(m["name"], m["lifecycle"]) for m in listed] == [("remote-l", "deleted")]
    assert api.get(f"{API}/models").json()[0]["lifecycle"] == "active"
    assert [v.version for v in client.list_model_versions("remote-l", lifecycle="deleted")] == [
        1,
        2,
        3,
    ]
    with pytest.raises(NotFoundError, match="is deleted"):
        client.list_model_versions("remote-l")

    client.restore_model("remote-l")
    assert client.list_models(lifecycle="deleted") == []
    assert [v.version for v in client.list_model_versions("remote-l", lifecycle="deleted")] == [1]
    client.restore_model_version("remote-l", 1)
    assert [v.lifecycle for v in client.list_model_versions("remote-l", lifecycle="all")] == [
        "active"
    ] * 3

    for path in (f"{API}/models", f"{API}/models/remote-l/versions"):
        assert _error(api.get(path, params={"lifecycle": "gone"}), 422)["field"] == "lifecycle"
    with pytest.raises(InvalidInputError) as err:
        client.list_models(lifecycle="gone")
    assert err.value.field == "lifecycle"
    with pytest.raises(InvalidInputError) as err:
        client.list_model_versions("remote-l", lifecycle="gone")
    assert err.value.field == "lifecycle"


def test_dataset_uris_remotely(client: Client, api: TestClient) -> None:
    X = pd.DataFrame({"a": [1.0, 2.0]})
    client.register_dataset("remote-ds", X)
    client.register_dataset("remote-ds", X * 2)
    assert client.get_dataset("datasets:/remote-ds/1").version == 1
    assert client.get_dataset("datasets:/remote-ds@latest").version == 2
    assert client.load_dataset("datasets:/remote-ds/2")["a"].tolist() == [2.0, 4.0]
    with client.start_run("remote-ds") as run:
        run.log_dataset("datasets:/remote-ds/1")
    assert client.get_run(run.id).datasets[0]["version"] == 1

    answer = api.get(f"{API}/datasets/resolve", params={"uri": "datasets:/remote-ds"})
    assert answer.status_code == 200 and answer.json()["version"] == 2
    assert _error(api.get(f"{API}/datasets/resolve", params={"uri": "datasets:/x/0"}), 400)[
        "field"
    ] == ("uri")
    _error(api.get(f"{API}/datasets/resolve", params={"uri": "datasets:/nope/1"}), 404)
    link = f"{API}/runs/{run.id}/datasets"
    assert _error(api.post(link, json={"dataset": "models:/x/1"}), 400)["field"] == "dataset"
    both = {"dataset": "datasets:/remote-ds/1", "dataset_version_id": 1}
    assert _error(api.post(link, json=both), 400)["field"] == "dataset"
    assert _error(api.post(link, json={}), 400)["field"] == "dataset"
    _error(api.post(link, json={"dataset": "datasets:/nope/3"}), 404)
