"""Run artifacts over the control-plane API and ``mp.Client``'s ``RemoteRun``: uploads,
listings and verified downloads; hostile paths (400 naming the field), oversized uploads (413),
the upload's media rules, and permissions (a viewer token cannot upload)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from modelplane.client import Client, RemoteRun
from modelplane.config import ServerSettings
from modelplane.context import Workspace
from modelplane.errors import InvalidInputError, ModelplaneError, NotFoundError
from modelplane.serving.app import create_app

API = "/api/v1"
UPLOAD = {"X-Modelplane-Upload": "1"}


def test_remote_run_round_trips_every_log_call(
    client: Client, ws: Workspace, tmp_path: Path
) -> None:
    local = tmp_path / "w.bin"
    local.write_bytes(bytes(range(256)))
    folder = tmp_path / "dir"
    (folder / "x").mkdir(parents=True)
    (folder / "x" / "deep.txt").write_text("deep")
    with client.start_run("remote-art") as run:
        run.log_artifact(local, "weights")
        run.log_artifacts(folder, "tree")
        run.log_text("remote notes", "notes.txt")
        run.log_dict({"a": 1, "b": [1, 2]}, "conf.json")
        run.log_dict({"a": 1}, "conf.yml")
        run.log_table(pd.DataFrame({"c": [1, 2]}), "t.json")
    listed = {e.path: e for e in run.list_artifacts()}
    assert set(listed) == {
        "weights/w.bin",
        "tree/x/deep.txt",
        "notes.txt",
        "conf.json",
        "conf.yml",
        "t.json",
    }
    assert listed["weights/w.bin"].size == 256
    assert [e.path for e in run.list_artifacts("tree")] == ["tree/x/deep.txt"]

    out = run.download_artifacts(dst=tmp_path / "out")
    assert (out / "weights" / "w.bin").read_bytes() == bytes(range(256))
    assert (out / "tree" / "x" / "deep.txt").read_text() == "deep"
    assert (out / "notes.txt").read_text() == "remote notes"
    assert json.loads((out / "conf.json").read_text()) == {"a": 1, "b": [1, 2]}
    assert json.loads((out / "t.json").read_text()) == {"columns": ["c"], "data": [[1], [2]]}

    # the same files, seen locally
    local_run = ws.run_artifacts.list(run.id)
    assert [e.path for e in local_run] == sorted(listed)

    with pytest.raises(InvalidInputError) as exc:
        run.log_text("x", "../x.txt")
    assert exc.value.field == "artifact_file"
    with pytest.raises(NotFoundError):
        run.download_artifacts("nope.txt", tmp_path / "n")


def _put(api: TestClient, run_id: str, path: str, data: bytes, **kw: Any) -> Any:
    headers = kw.pop("headers", UPLOAD)
    return api.put(
        f"{API}/runs/{run_id}/artifacts/{path}",
        files={"file": ("f", data, "application/octet-stream")},
        headers=headers,
        **kw,
    )


@pytest.fixture
def run_id(api: TestClient) -> str:
    r = api.post(f"{API}/runs", json={"experiment": "exp", "name": "r1"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_http_upload_list_download(api: TestClient, run_id: str, ws: Workspace) -> None:
    r = _put(api, run_id, "plots/a.txt", b"hello")
    assert r.status_code == 200, r.text
    assert r.json()["path"] == "plots/a.txt" and r.json()["size"] == 5
    listed = api.get(f"{API}/runs/{run_id}/artifacts").json()
    assert [e["path"] for e in listed] == ["plots/a.txt"]
    assert api.get(f"{API}/runs/{run_id}/artifacts", params={"path": "plots"}).json() == listed
    got = api.get(f"{API}/runs/{run_id}/artifacts/plots/a.txt")
    assert got.status_code == 200 and got.content == b"hello"
    assert got.headers["X-Checksum-SHA256"] == listed[0]["sha256"]
    # the same bytes again: fine; other bytes: 409
    assert _put(api, run_id, "plots/a.txt", b"hello").status_code == 200
    assert _put(api, run_id, "plots/a.txt", b"other").status_code == 409
    assert api.get(f"{API}/runs/{run_id}/artifacts/missing.txt").status_code == 404
    assert api.get(f"{API}/runs/{'0' * 32}/artifacts").status_code == 404
    assert _put(api, "0" * 32, "x.txt", b"x").status_code == 404
    entries = ws.audit.list(target=f"runs/{run_id}", action="run.artifact.log", limit=10)
    assert entries and all(e.actor.startswith("anonymous@") for e in entries)


@pytest.mark.parametrize(
    "bad", ["%2e%2e/x.txt", "a/%2e%2e/%2e%2e/x.txt", "a%5Cb.txt", "x%00.txt", "a%2F..%2Fb"]
)
def test_http_hostile_paths_are_400_naming_the_field(
    api: TestClient, run_id: str, bad: str
) -> None:
    for r in (
        _put(api, run_id, bad, b"x"),
        api.get(f"{API}/runs/{run_id}/artifacts/{bad}"),
    ):
        assert r.status_code == 400, (bad, r.text)
        body = r.json()
        assert body["field"] == "artifact_path" and isinstance(body["message"], str)
    r = api.get(f"{API}/runs/{run_id}/artifacts", params={"path": "../x"})
    assert r.status_code == 400 and r.json()["field"] == "path"
    assert api.get(f"{API}/runs/{run_id}/artifacts").json() == []


def test_http_upload_rules_and_size_limit(api: TestClient, run_id: str) -> None:
    # no marker header: a browser form could send this
    r = _put(api, run_id, "a.txt", b"x", headers={})
    assert r.status_code == 415 and r.json()["field"] == "x-modelplane-upload"
    r = api.put(
        f"{API}/runs/{run_id}/artifacts/a.txt",
        content=b"x",
        headers={**UPLOAD, "Content-Type": "text/plain"},
    )
    assert r.status_code == 415 and r.json()["field"] == "content-type"
    r = api.put(
        f"{API}/runs/{run_id}/artifacts/a.txt",
        data={"other": "1"},
        files={"file": ("f", b"x", "application/octet-stream")},
        headers=UPLOAD,
    )
    assert r.status_code in (400, 422), r.text
    api.app.state.max_upload_bytes = 1000  # type: ignore[attr-defined]
    r = _put(api, run_id, "big.bin", b"x" * 5000)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert api.get(f"{API}/runs/{run_id}/artifacts").json() == []


@pytest.fixture
def secured(sqlite_ws: Workspace) -> Iterator[dict[str, Any]]:
    ws = Workspace(replace(sqlite_ws.settings, auth="required"), actor="owner")
    tokens = {role: ws.tokens.create(role, role)[1] for role in ("viewer", "operator")}
    app = create_app(ws, settings=ServerSettings(poll_interval=0.1, auth_failure_limit=0))
    with TestClient(app, base_url="http://127.0.0.1") as http:
        yield {"ws": ws, "http": http, "tokens": tokens}
    ws.close()


def test_viewer_cannot_upload_operator_can(secured: dict[str, Any], tmp_path: Path) -> None:
    http, tokens = secured["http"], secured["tokens"]
    operator = Client("http://127.0.0.1", token=tokens["operator"], http_client=http)
    viewer = Client("http://127.0.0.1", token=tokens["viewer"], http_client=http)
    with operator.start_run("perm") as run:
        run.log_text("by the operator", "op.txt")
    seen = viewer.get_run(run.id)
    remote = RemoteRun(viewer._http, seen)
    with pytest.raises(ModelplaneError) as exc:
        remote.log_text("by the viewer", "viewer.txt")
    assert exc.value.http_status == 403
    assert [e.path for e in remote.list_artifacts()] == ["op.txt"]  # a viewer may read
    assert remote.download_artifacts("op.txt", tmp_path).read_text() == "by the operator"
    entries = secured["ws"].audit.list(target=f"runs/{run.id}", action="run.artifact.log")
    assert len(entries) == 1 and entries[0].actor.startswith("operator#")
