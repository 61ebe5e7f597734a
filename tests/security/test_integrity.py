"""Integrity at the edges: a version whose stored bytes fail their checksum cannot be deployed
(HTTP 409, the SDK and CLI alike) and its download is a 409, never a 500; concurrent promotions
of the same version leave one consistent alias and history."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

import modelplane as mp
from modelplane.context import Workspace
from modelplane.serving.app import create_app

X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})


def _corrupt(ws: Workspace, mv: Any) -> None:
    stored = Path(ws.artifacts.root) / mv.artifact_key / "model.joblib"
    assert stored.is_file()
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))


def test_a_corrupted_version_cannot_be_deployed(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    mv = ws.registry.register_model("m", LogisticRegression().fit(X, [0, 0, 1, 1]), X)
    ws.registry.register_model("m", LogisticRegression().fit(X, [0, 1, 0, 1]), X)
    _corrupt(ws, mv)
    with TestClient(create_app(ws), base_url="http://127.0.0.1") as client:
        r = client.put("/api/v1/endpoints/e", json={"model": "models:/m/1"})
        assert r.status_code == 409 and r.json()["error"] == "integrity_error", r.text
        r = client.get("/api/v1/models/m/versions/1/files/model.joblib")
        assert r.status_code == 409 and "checksum" in r.json()["message"]
        assert client.put("/api/v1/endpoints/e", json={"model": "models:/m/2"}).status_code == 200
    with pytest.raises(mp.errors.IntegrityError):
        mp.deploy("e2", "models:/m/1")
    assert [e.name for e in ws.endpoints.list()] == ["e"]


def test_concurrent_promotions_of_one_version_agree(ws: Workspace) -> None:
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    for _ in range(2):
        ws.registry.register_model("m", model, X)
    ws.registry.set_alias("m", "champion", 1)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def promote(i: int) -> None:
        view = ws.acting_as(f"promoter-{i}")
        barrier.wait()
        try:
            view.registry.set_alias("m", "champion", 2, reason=f"run {i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # a conflict may be reported as a clear, retryable error; never a silent double move
    assert all(isinstance(e, mp.errors.ModelplaneError) for e in errors), errors
    assert ws.registry.resolve("models:/m@champion").version == 2
    history = ws.registry.alias_history("m", "champion")
    assert [(h.old_version, h.new_version) for h in history] == [(None, 1), (1, 2)]
    moves = ws.audit.list(action="alias.set", limit=20)
    assert len(moves) == 2
    assert ws.audit.verify().ok
