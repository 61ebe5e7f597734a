"""The prediction log and feedback through the server's HTTP interface, the CLI and the stores:
one record per answered prediction on both backends (segments with SQLite metadata, the
``predictions`` table with PostgreSQL), PII hashed, labels idempotent with history, unknown ids
named, export with labels joined, retention, and the settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import modelplane as mp
from modelplane.cli.app import app as cli
from modelplane.config import load_settings
from modelplane.errors import InvalidInputError
from modelplane.serving.app import create_app
from modelplane.stores.predictions.base import split_id
from modelplane.stores.predictions.segments import SegmentLog

COLS = [f"f{i}" for i in range(4)]


@pytest.fixture
def served(ws: Any) -> dict[str, Any]:
    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=COLS)
    model = LogisticRegression().fit(frame, y)
    mp.register_model("m", model, frame.head(10), pii=["f0"])
    ws.endpoints.deploy("e", {"model": "models:/m/1"})
    ws.endpoints.deploy("other", {"model": "models:/m/1"})
    return {"ws": ws, "frame": frame, "model": model}


def _client(ws: Any) -> TestClient:
    return TestClient(create_app(ws, poll_interval=0.2), base_url="http://127.0.0.1")


def _predict(client: TestClient, frame: pd.DataFrame, endpoint: str = "e") -> list[str]:
    r = client.post(
        f"/v1/endpoints/{endpoint}/predict", json={"inputs": frame.to_dict(orient="records")}
    )
    assert r.status_code == 200, r.text
    ids: list[str] = r.json()["prediction_ids"]
    return ids


def test_every_answer_is_logged_once_with_inputs_outputs_and_pii_hashed(
    served: dict[str, Any],
) -> None:
    ws, frame, model = served["ws"], served["frame"], served["model"]
    with _client(ws) as client:
        ids = _predict(client, frame.head(3)) + _predict(client, frame.iloc[3:8])
        v2 = client.post(
            "/v2/models/e/infer",
            json={
                "inputs": [
                    {
                        "name": "input-0",
                        "shape": [2, 4],
                        "datatype": "FP64",
                        "data": frame.iloc[8:10].to_numpy().tolist(),
                    }
                ]
            },
        ).json()
        ids += v2["parameters"]["prediction_ids"]
        bad = client.post("/v1/endpoints/e/predict", json={"inputs": [{"f0": "x"}]})
        assert bad.status_code == 422
    log = ws.predictions.read(endpoint="e")
    assert log["prediction_id"].tolist() == ids  # refused requests are not logged
    assert set(log["model"]) == {"m/1"} and set(log["variant"]) == {"default"}
    assert set(log["version"]) == {"1"} and (log["latency"] > 0).all()
    expected = model.predict(frame.head(10))
    assert log["prediction"].tolist() == expected.tolist()
    proba = model.predict_proba(frame.head(10))
    assert np.allclose(np.array(log["probabilities"].tolist()), proba, atol=1e-6)
    assert log["classes"].iloc[0] == [0, 1]
    assert np.allclose(log["f1"], frame["f1"].head(10))
    # f0 is PII: a keyed hash (64 hex digits), never the value; one value, one hash
    assert all(isinstance(v, str) and len(v) == 64 for v in log["f0"])
    raw = {repr(float(v)) for v in frame["f0"].head(10)}
    assert not raw & {str(v) for v in log["f0"]}
    assert ws.predictions.read(endpoint="other").empty


def test_feedback_is_idempotent_keeps_history_and_names_unknown_ids(
    served: dict[str, Any],
) -> None:
    ws, frame = served["ws"], served["frame"]
    with _client(ws) as client:
        ids = _predict(client, frame.head(4))
        other = _predict(client, frame.head(1), endpoint="other")
        post = lambda body: client.post("/v1/endpoints/e/feedback", json=body)  # noqa: E731
        assert post({"prediction_id": ids[0], "label": 1}).json()["status"] == "stored"
        assert post({"prediction_id": ids[0], "label": 1}).json()["status"] == "unchanged"
        assert post({"prediction_id": ids[0], "label": 0}).json()["status"] == "updated"
        unknown = post({"prediction_id": "0123abcd-1", "label": 1})
        assert unknown.status_code == 404 and "0123abcd-1" in unknown.json()["message"]
        foreign = post({"prediction_id": other[0], "label": 1})
        assert foreign.status_code == 400 and "other" in foreign.json()["message"]
        many = post(
            [
                {"prediction_id": ids[1], "label": "yes"},
                {"prediction_id": "ffff-99", "label": 0},
                {"prediction_id": ids[2], "label": 2.5},
            ]
        )
        assert many.status_code == 200
        doc = many.json()
        assert (doc["stored"], doc["errors"]) == (2, 1)
        assert [i["status"] for i in doc["items"]] == ["stored", "error", "stored"]
        assert "ffff-99" in doc["items"][1]["error"]
        for body, where in (
            ({"prediction_id": ids[3]}, "label"),
            ({"prediction_id": ids[3], "label": None}, "label"),
            ({"prediction_id": ids[3], "label": {"a": 1}}, "label"),
            ({"prediction_id": ids[3], "label": "x" * 1001}, "label"),
            ({"prediction_id": "not an id", "label": 1}, "prediction_id"),
            ({"prediction_id": ids[3], "label": 1, "extra": 1}, "extra"),
            ([], ""),
        ):
            r = post(body)
            assert r.status_code == 422, (body, r.text)
            assert where in r.json().get("field", "") + r.json()["message"]
        huge = client.post(
            "/v1/endpoints/e/feedback",
            content=b'[{"prediction_id": "a-1", "label": 1}' + b", 1" * 3_000_000 + b"]",
            headers={"content-type": "application/json"},
        )
        assert huge.status_code == 413
    assert [h["label"] for h in ws.feedback.history(ids[0])] == [1, 0]
    assert ws.feedback.history(ids[0])[1]["previous"] == 1
    labels = ws.feedback.labels(ids)
    assert {p: v[0] for p, v in labels.items()} == {ids[0]: 0, ids[1]: "yes", ids[2]: 2.5}
    entries = [e for e in ws.audit.list() if e.action == "feedback.record"]
    assert entries and entries[0].actor.startswith("anonymous@")


def test_export_joins_labels_one_row_per_id_and_cli_loads_feedback(
    served: dict[str, Any], tmp_path: Path
) -> None:
    ws, frame = served["ws"], served["frame"]
    with _client(ws) as client:
        ids = _predict(client, frame.head(6))
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"prediction_id": [*ids[:4], "abc-7"], "label": [1, 0, 1, 1, 0]}).to_csv(
        labels, index=False
    )
    # the CLI works on the same installation (its database: SQLite or PostgreSQL)
    runner = CliRunner(env={"MODELPLANE_DB_URL": ws.settings.db_url})
    loaded = runner.invoke(cli, ["feedback", "load", "e", str(labels), "--json"])
    assert loaded.exit_code == 1, loaded.output  # one unknown id: named, the rest stored
    doc = json.loads(loaded.output)
    assert (doc["stored"], doc["errors"]) == (4, 1), doc
    assert "abc-7" in doc["error_items"][0]["error"]
    again = runner.invoke(cli, ["feedback", "load", "e", str(labels), "--json"])
    assert json.loads(again.output)["unchanged"] == 4
    for suffix in ("parquet", "csv"):
        out = tmp_path / f"log.{suffix}"
        result = runner.invoke(cli, ["log", "export", "e", "-o", str(out), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["rows"] == 6, result.output
        got = pd.read_parquet(out) if suffix == "parquet" else pd.read_csv(out)
        assert got["prediction_id"].tolist() == ids
        assert got["label"].head(4).astype(int).tolist() == [1, 0, 1, 1]
        assert got["label"].iloc[4:].isna().all()
    future = runner.invoke(
        cli,
        ["log", "export", "e", "-o", str(tmp_path / "f.csv"), "--since", "2999-01-01", "--json"],
    )
    assert json.loads(future.output)["rows"] == 0, future.output
    recent = runner.invoke(
        cli, ["log", "export", "e", "-o", str(tmp_path / "r.csv"), "--since", "1h", "--json"]
    )
    assert json.loads(recent.output)["rows"] == 6
    for args, words in (
        (["log", "export", "e", "-o", str(tmp_path / "x.json")], ".parquet or .csv"),
        (["log", "export", "e", "-o", str(tmp_path / "no" / "x.csv")], "does not exist"),
        (["log", "export", "e", "-o", str(tmp_path / "x.csv"), "--since", "soon"], "--since"),
        (["feedback", "load", "e", str(tmp_path / "none.csv")], "no such file"),
        (["feedback", "load", "e", str(labels), "--label-column", "y"], "no column 'y'"),
    ):
        bad = runner.invoke(cli, args)
        assert bad.exit_code == 2, (args, bad.output)
        assert words in bad.output and "Traceback" not in bad.output


@dataclass
class _Record:
    ids: list[str]
    time: float
    endpoint: str = "e"
    variant: str = "default"
    model: str = "m/1"
    version: str = "1"
    inputs: Any = None
    columns: tuple[str, ...] = ("a", "b")
    outputs: Any = None
    probabilities: Any = None
    latency: float = 0.001
    caller: str | None = None
    fallback: bool = False
    pii: tuple[str, ...] = ()
    classes: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def _records(prefix: str, start: int, count: int, t: float, rows: int = 2) -> list[_Record]:
    out = []
    for k in range(count):
        first = start + k * rows
        out.append(
            _Record(
                ids=[f"{prefix}-{i:x}" for i in range(first, first + rows)],
                time=t + k,
                inputs=np.arange(rows * 2, dtype=float).reshape(rows, 2),
                outputs=np.zeros(rows),
            )
        )
    return out


def test_segments_roll_find_every_id_and_retention_drops_old_segments(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path / "p", segment_bytes=1, segment_idle=0)  # a segment per batch
    for batch in range(5):
        log.append(_records("aa11", 1 + batch * 20, 10, t=1000.0 + batch * 100))
    log.append(_records("bb22", 1, 3, t=2000.0))
    assert len(log.segments()) == 6
    ids = [f"aa11-{i:x}" for i in range(1, 101)] + ["bb22-1", "bb22-6"]
    found = log.find([*ids, "aa11-65", "cc33-1", "bb22-7", "nonsense"])
    assert set(found) == set(ids) and set(found.values()) == {"e"}
    assert len(log.read()) == 106
    assert len(log.read(since=1100.0, until=1300.0)) == 40
    # age: the three segments whose newest row is before 1250 go; the others stay
    result = log.prune(max_age=800.0, max_bytes=None, now=2050.0)
    assert result.removed_requests == 30
    assert len(log.read()) == 46 and log.find(["aa11-3c"]) == {}
    log.close()
    reopened = SegmentLog(tmp_path / "p")
    sizes = reopened.size_bytes()
    # size: the oldest go first; a writer's newest segment written in the last hour stays
    result = reopened.prune(max_age=None, max_bytes=sizes // 2, now=2050.0)
    assert result.removed_requests == 10 and set(reopened.find(["aa11-51", "bb22-1"])) == {
        "aa11-51",
        "bb22-1",
    }
    result = reopened.prune(max_age=None, max_bytes=sizes // 2, now=9000.0)
    assert result.remaining_bytes <= sizes // 2 and reopened.find(["bb22-1"])


def test_ids_and_settings_are_checked(tmp_path: Path) -> None:
    assert split_id("3f9a1c0d5e7b2a41-1f") == ("3f9a1c0d5e7b2a41", 31)
    for bad in ("", "-1", "abc-", "x y-1", "abc-zz", "a" * 70 + "-1"):
        assert split_id(bad) is None
    env = {"MODELPLANE_HOME": str(tmp_path)}
    s = load_settings(
        env={
            **env,
            "MODELPLANE_PREDICTION_LOG_RETENTION": "7d",
            "MODELPLANE_PREDICTION_LOG_MAX_SIZE": "2GB",
        },
        cwd=tmp_path,
    )
    assert s.log_retention == 7 * 86400 and s.log_max_size == 2 << 30
    assert load_settings(env=env, cwd=tmp_path).log_retention == 30 * 86400
    for key, value in (
        ("MODELPLANE_PREDICTION_LOG", "kafka"),
        ("MODELPLANE_PREDICTION_LOG_RETENTION", "soon"),
        ("MODELPLANE_PREDICTION_LOG_MAX_SIZE", "-1GB"),
        ("MODELPLANE_PREDICTION_LOG_FSYNC", "nan"),
    ):
        with pytest.raises(InvalidInputError, match=key):
            load_settings(env={**env, key: value}, cwd=tmp_path)
    from modelplane.context import Workspace

    db = load_settings(env={**env, "MODELPLANE_PREDICTION_LOG": "database"}, cwd=tmp_path)
    with pytest.raises(InvalidInputError, match="PostgreSQL"):
        Workspace(db).predictions  # noqa: B018
    off = load_settings(env={**env, "MODELPLANE_PREDICTION_LOG": "off"}, cwd=tmp_path)
    assert Workspace(off).predictions is None
