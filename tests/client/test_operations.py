"""The same scenarios through both sides of the SDK: the module-level functions (``import
modelplane as mp``, over the default workspace) and ``mp.Client`` against the in-process server
over that same workspace. Both must behave alike and answer in the same shapes."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient

import modelplane as mp
from modelplane.client import Client
from modelplane.context import Workspace
from modelplane.errors import ConflictError, FlavorError, InvalidInputError, NotFoundError
from modelplane.sdk.base import DATASET_SUFFIXES

from .conftest import make_app


@pytest.fixture
def remote(sqlite_ws: Workspace) -> Client:
    return Client("http://testserver", http_client=TestClient(make_app(sqlite_ws)))


@pytest.fixture(params=["mp", "client"])
def ops(request: pytest.FixtureRequest, sqlite_ws: Workspace) -> Any:
    """``mp`` itself, or an ``mp.Client``: both offer every operation."""
    if request.param == "mp":
        return mp
    return request.getfixturevalue("remote")


def _data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    return X, (X.a > X.b).astype(int)


def _mlflow_dir(root: Path) -> Path:
    """A scikit-learn model as ``mlflow.sklearn.save_model`` lays it out."""
    from sklearn.linear_model import LogisticRegression

    X, y = _data()
    root.mkdir()
    (root / "model.pkl").write_bytes(pickle.dumps(LogisticRegression().fit(X.to_numpy(), y)))
    mlmodel = {
        "mlflow_version": "2.14.1",
        "flavors": {"sklearn": {"pickled_model": "model.pkl", "serialization_format": "pickle"}},
    }
    (root / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return root


def test_versions_and_aliases(ops: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = _data()
    model = LogisticRegression().fit(X, y)
    ds = ops.register_dataset("train", X.assign(y=y))
    with ops.start_run("exp", "first") as run:
        run.log_params({"C": 1.0})
        run.log_metric("auc", 0.8)
        v1 = ops.register_model("m", model, X.head(), run=run, datasets=[ds])
    assert v1.params == {"C": 1.0} and v1.run_id == run.id
    assert [d["name"] for d in ops.get_run(run.id).datasets] == ["train"]
    ops.register_model("m", model, tags={"stage": "dev"})
    assert [v.version for v in ops.list_model_versions("m")] == [1, 2]

    v2 = ops.update_model_version("m", 2, description="second", tags={"owner": "me"})
    assert v2.tags == {"stage": "dev", "owner": "me"} and v2.description == "second"
    assert ops.get_model_version("models:/m/2").description == "second"
    assert ops.get_model_version("m", 2).model_card

    ops.set_alias("m", "champion", 1, reason="first")
    ops.set_alias("m", "champion", 2, reason="better")
    ops.delete_alias("m", "champion", reason="retired")
    ops.set_alias("m", "other", 1)
    history = ops.alias_history("m", "champion")
    assert [(h["old_version"], h["new_version"], h["reason"]) for h in history] == [
        (None, 1, "first"),
        (1, 2, "better"),
        (2, None, "retired"),
    ]
    # remote changes without a token are the caller's address's, never the server's own user
    expected = {"tester"} if ops is mp else {"anonymous@testclient"}
    assert {h["actor"] for h in history} == expected
    assert [h["alias"] for h in ops.alias_history("m")] == ["champion"] * 3 + ["other"]

    with pytest.raises(ConflictError):
        ops.delete_model_version("m", 1)  # still @other
    ops.delete_model_version("m", 2)
    assert [v.version for v in ops.list_model_versions("m")] == [1]
    with pytest.raises(NotFoundError):
        ops.get_model_version("m", 2)


def test_runs(ops: Any) -> None:
    with ops.start_run("exp", tags={"team": "a"}) as low:
        low.log_metric("auc", 0.7)
    with ops.start_run("other") as high:
        high.log_metric("auc", 0.9)
    found = ops.list_runs(["exp", "other"], order_by=["metrics.auc DESC"])
    assert [r.id for r in found] == [high.id, low.id]
    assert [r.id for r in ops.list_runs("exp", "metrics.auc > 0.5")] == [low.id]
    for unknown in ("nosuch", ["exp", "nosuch"]):  # an error naming it, on both sides
        with pytest.raises(NotFoundError, match="nosuch"):
            ops.list_runs(unknown)
    assert ops.get_run(low.id).tags == {"team": "a"}


def test_endpoints_and_audit(ops: Any) -> None:
    from sklearn.dummy import DummyClassifier

    ops.register_model("m", DummyClassifier().fit([[0.0], [1.0]], [0, 1]))
    ops.set_alias("m", "champion", 1)
    created = ops.deploy("api", "models:/m@champion")
    assert created["config"]["model"] == "models:/m@champion" and created["generation"] == 1
    assert ops.deploy("api", {"model": "models:/m/1"})["generation"] == 2
    assert ops.get_endpoint("api") == ops.list_endpoints()[0]
    with pytest.raises(NotFoundError):
        ops.deploy("typo", "models:/nosuch@champion")  # checked before it is stored
    with pytest.raises(InvalidInputError):
        ops.deploy("bad", 42)
    assert [e["name"] for e in ops.list_endpoints()] == ["api"]
    ops.delete_endpoint("api")
    with pytest.raises(NotFoundError):
        ops.get_endpoint("api")

    entries = ops.audit_list(target="endpoints/api")
    assert [e["action"] for e in entries] == ["endpoint.delete", *["endpoint.deploy"] * 2]
    assert ops.audit_list(action="alias.set", limit=1)[0]["target"] == "models/m@champion"
    verdict = ops.audit_verify()
    assert verdict["ok"] is True and verdict["checked"] >= 5


def test_import_mlflow_directory(ops: Any, tmp_path: Path) -> None:
    path = _mlflow_dir(tmp_path / "mlflow-model")
    mv = ops.import_model(path, "imported", description="from mlflow")
    assert (mv.version, mv.flavor, mv.description) == (1, "sklearn", "from mlflow")
    assert mv.tags == {"source": "mlflow"}
    assert mv.flavor_info["imported_from"]["format"] == "mlflow"
    assert ops.register_model("imported", str(path), tags={"k": "v"}).tags == {
        "source": "mlflow",
        "k": "v",
    }
    X, _ = _data()
    loaded = ops.load_model("models:/imported/2")
    assert loaded.predict(X.to_numpy()).shape == (60,)
    with pytest.raises(FlavorError):
        ops.import_model(tmp_path / "nosuch", "imported")
    with pytest.raises(TypeError, match="run"):
        ops.import_model(path, "imported", run="0" * 32)  # register_model's keyword, not this


def test_argument_checks_are_shared(ops: Any, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a,b\n1,2\n")
    cases: list[tuple[Any, str]] = [
        ("s3://bucket/key.csv", "data"),
        (tmp_path / "notes.txt", "path"),
        (tmp_path / "missing.csv", "path"),
        ({"a": [1]}, "data"),
    ]
    for data, field in cases:
        with pytest.raises(InvalidInputError) as err:
            ops.register_dataset("ds", data)
        assert err.value.field == field
    with pytest.raises(InvalidInputError) as err:
        ops.register_dataset("bad name!", pd.DataFrame({"a": [1]}))
    assert err.value.field == "dataset name"
    with pytest.raises(InvalidInputError):
        ops.get_model_version("file:///etc/passwd")
    csv = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(csv, index=False)
    assert ops.register_dataset("ds", csv).source == str(csv.resolve())
    for suffix in DATASET_SUFFIXES[1:]:  # every accepted suffix is readable on both sides
        path = tmp_path / f"t{suffix}"
        pd.DataFrame({"a": [1, 2]}).to_parquet(path, index=False)
        assert ops.register_dataset("ds", path).num_rows == 2


def test_both_sides_answer_in_the_same_shapes(sqlite_ws: Workspace, remote: Client) -> None:
    from sklearn.dummy import DummyClassifier

    mp.register_model("m", DummyClassifier().fit([[0.0], [1.0]], [0, 1]))
    remote.set_alias("m", "champion", 1, reason="go")
    mp.deploy("api", "models:/m@champion")
    with mp.start_run("exp") as run:
        run.log_metric("auc", 0.5)

    assert remote.alias_history("m") == mp.alias_history("m")
    assert remote.get_endpoint("api") == mp.get_endpoint("api")
    assert remote.list_endpoints() == mp.list_endpoints()
    assert remote.audit_list(limit=1000) == mp.audit_list(limit=1000)
    assert remote.audit_verify() == mp.audit_verify()
    assert remote.list_runs("exp") == mp.list_runs("exp")
    assert remote.get_model("m") == mp.get_model("m")
    local_versions = [v.to_dict() for v in mp.list_model_versions("m")]
    assert [v.to_dict() for v in remote.list_model_versions("m")] == local_versions
