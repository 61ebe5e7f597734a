"""Run artifacts through the SDK: every log_* round-trips, listing, downloads, hostile paths,
immutability, encryption at rest — over SQLite and PostgreSQL."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import modelplane as mp
from modelplane.context import Workspace
from modelplane.errors import ConflictError, InvalidInputError, NotFoundError

HOSTILE = [
    "../escape.txt",
    "a/../../b.txt",
    "/etc/passwd",
    "a\\b.txt",
    "nul\x00.txt",
    "%2e%2e/x.txt",
    "C:/x.txt",
    "s3://bucket/x",
]


def _read(run: Any, path: str, tmp_path: Path) -> bytes:
    data: bytes = run.download_artifacts(path, tmp_path / "dl").read_bytes()
    return data


def test_every_log_call_round_trips(ws: Workspace, tmp_path: Path) -> None:
    local = tmp_path / "data.bin"
    local.write_bytes(b"\x00\x01binary")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("A")
    (folder / "sub" / "b.txt").write_text("B")
    conf = {"lr": 0.1, "layers": [1, 2], "name": "x", "flag": True}
    with mp.start_run("art") as run:
        run.log_artifact(local)
        run.log_artifact(local, artifact_path="raw/inputs")
        run.log_artifacts(folder, artifact_path="tree")
        run.log_text("hello — ünïcode\n", "notes.txt")
        run.log_dict(conf, "conf.json")
        run.log_dict(conf, "conf.yaml")
        run.log_table(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), "table.json")
        run.log_table({"a": [1.5, 2.5]}, "cols.csv")
        run.log_table({"a": [1, 2]}, "cols.parquet")

    paths = [e.path for e in run.list_artifacts()]
    assert paths == sorted(paths)
    assert set(paths) == {
        "data.bin",
        "raw/inputs/data.bin",
        "tree/a.txt",
        "tree/sub/b.txt",
        "notes.txt",
        "conf.json",
        "conf.yaml",
        "table.json",
        "cols.csv",
        "cols.parquet",
    }
    assert [e.path for e in run.list_artifacts("tree")] == ["tree/a.txt", "tree/sub/b.txt"]
    assert [e.path for e in run.list_artifacts("notes.txt")] == ["notes.txt"]
    sizes = {e.path: e.size for e in run.list_artifacts()}
    assert sizes["data.bin"] == len(b"\x00\x01binary")

    assert _read(run, "data.bin", tmp_path) == b"\x00\x01binary"
    assert _read(run, "raw/inputs/data.bin", tmp_path) == b"\x00\x01binary"
    assert _read(run, "notes.txt", tmp_path).decode() == "hello — ünïcode\n"
    assert json.loads(_read(run, "conf.json", tmp_path)) == conf
    assert yaml.safe_load(_read(run, "conf.yaml", tmp_path)) == conf
    assert json.loads(_read(run, "table.json", tmp_path)) == {
        "columns": ["a", "b"],
        "data": [[1, "x"], [2, "y"]],
    }
    assert pd.read_csv(run.download_artifacts("cols.csv", tmp_path / "c"))["a"].tolist() == [
        1.5,
        2.5,
    ]
    assert pd.read_parquet(run.download_artifacts("cols.parquet", tmp_path / "p"))[
        "a"
    ].tolist() == [1, 2]

    tree = run.download_artifacts("tree", tmp_path / "t")
    assert tree == tmp_path / "t" / "tree"
    assert (tree / "a.txt").read_text() == "A" and (tree / "sub" / "b.txt").read_text() == "B"
    everything = run.download_artifacts(dst=tmp_path / "all")
    assert (everything / "tree" / "sub" / "b.txt").read_text() == "B"
    assert (everything / "conf.yaml").is_file()

    # every upload is audited with the actor
    entries = mp.audit_list(target=f"runs/{run.id}", action="run.artifact.log", limit=100)
    assert len(entries) == 10
    assert {e["actor"] for e in entries} == {"tester"}


def test_figures(sqlite_ws: Workspace, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    pfig = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))
    with mp.start_run("figs") as run:
        run.log_figure(fig, "roc.png")
        run.log_figure(fig, "plots/roc.svg")
        run.log_figure(fig, "roc.pdf")
        run.log_figure(pfig, "curve.html")
        with pytest.raises(InvalidInputError) as exc:
            run.log_figure(fig, "roc.txt")
        assert exc.value.field == "artifact_file"
        with pytest.raises(InvalidInputError) as exc:
            run.log_figure("not a figure", "x.png")
        assert exc.value.field == "figure"
        try:
            import kaleido  # noqa: F401
        except ImportError:
            with pytest.raises(InvalidInputError, match="kaleido"):
                run.log_figure(pfig, "curve.png")
    plt.close(fig)
    assert _read(run, "roc.png", tmp_path).startswith(b"\x89PNG")
    assert b"<svg" in _read(run, "plots/roc.svg", tmp_path)
    assert _read(run, "roc.pdf", tmp_path).startswith(b"%PDF")
    assert b"plotly" in _read(run, "curve.html", tmp_path).lower()
    assert "curve.png" not in {e.path for e in run.list_artifacts()}


@pytest.mark.parametrize("bad", HOSTILE)
def test_hostile_paths_are_refused(sqlite_ws: Workspace, tmp_path: Path, bad: str) -> None:
    local = tmp_path / "f.txt"
    local.write_text("x")
    with mp.start_run("hostile") as run:
        with pytest.raises(InvalidInputError) as exc:
            run.log_text("x", bad)
        assert exc.value.field == "artifact_file"
        with pytest.raises(InvalidInputError) as exc:
            run.log_artifact(local, artifact_path=bad)
        assert exc.value.field == "artifact_path"
        with pytest.raises(InvalidInputError) as exc:
            run.download_artifacts(bad, tmp_path / "out")
        assert exc.value.field == "path"
    assert run.list_artifacts() == []
    assert not (tmp_path / "escape.txt").exists()


def test_immutability_errors_and_missing(sqlite_ws: Workspace, tmp_path: Path) -> None:
    with mp.start_run("imm") as run:
        run.log_text("one", "a.txt")
        run.log_text("one", "a.txt")  # same bytes: a no-op
        with pytest.raises(ConflictError) as conflict:
            run.log_text("two", "a.txt")
        assert "immutable" in conflict.value.message
        with pytest.raises(InvalidInputError) as exc:
            run.log_artifact(tmp_path / "nope.txt")
        assert exc.value.field == "local_path"
        with pytest.raises(InvalidInputError):
            run.log_dict({"x": object()}, "bad.json")
        with pytest.raises(InvalidInputError) as exc:
            run.log_table([1, 2], "t.json")
        assert exc.value.field == "data"
        with pytest.raises(InvalidInputError) as exc:
            run.log_table({"a": [1]}, "t.xlsx")
        assert exc.value.field == "artifact_file"
    assert [e.path for e in run.list_artifacts()] == ["a.txt"]
    with pytest.raises(NotFoundError) as nf:
        run.download_artifacts("missing.txt", tmp_path)
    assert nf.value.field == "path"


def test_artifacts_are_encrypted_at_rest(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPLANE_ENCRYPTION_KEY", secrets.token_hex(32))
    ws = mp.configure(home=home, actor="tester")
    try:
        with mp.start_run("enc") as run:
            run.log_text("top secret text", "secret.txt")
        key = f"runs/{run.id}/artifacts/secret.txt"
        stored = home / "artifacts" / key
        assert stored.is_file()
        assert b"top secret text" not in stored.read_bytes()
        assert ws.artifacts.key_id(key) is not None
        assert _read(run, "secret.txt", tmp_path) == b"top secret text"
    finally:
        ws.close()
