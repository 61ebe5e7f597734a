"""``modelplane runs artifacts RUN_ID`` and ``modelplane runs download RUN_ID [PATH] -o DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import modelplane as mp


@pytest.fixture
def logged(sqlite_ws: Any) -> str:
    with mp.start_run("cli-art") as run:
        run.log_text("hello", "notes.txt")
        run.log_dict({"a": 1}, "conf/params.json")
        run.log_text("deep", "conf/sub/deep.txt")
    return run.id


def test_artifacts_table_and_json(cli: Any, logged: str) -> None:
    result = cli("runs", "artifacts", logged)
    assert result.exit_code == 0, result.output
    for path in ("notes.txt", "conf/params.json", "conf/sub/deep.txt"):
        assert path in result.stdout
    rows = cli.json("runs", "artifacts", logged)
    assert [r["path"] for r in rows] == ["conf/params.json", "conf/sub/deep.txt", "notes.txt"]
    assert rows[2]["size"] == 5 and len(rows[2]["sha256"]) == 64
    only = cli.json("runs", "artifacts", logged, "--path", "conf/sub")
    assert [r["path"] for r in only] == ["conf/sub/deep.txt"]


def test_download_all_one_and_folder(cli: Any, logged: str, tmp_path: Path) -> None:
    out = tmp_path / "all"
    result = cli("runs", "download", logged, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "3 file(s)" in result.stdout
    assert (out / "notes.txt").read_text() == "hello"
    assert (out / "conf" / "sub" / "deep.txt").read_text() == "deep"

    doc = cli.json("runs", "download", logged, "conf", "-o", str(tmp_path / "one"))
    assert doc["path"] == str(tmp_path / "one" / "conf")
    assert sorted(f["path"] for f in doc["files"]) == ["conf/params.json", "conf/sub/deep.txt"]
    assert (tmp_path / "one" / "conf" / "params.json").is_file()
    assert not (tmp_path / "one" / "notes.txt").exists()


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a\\b", "%2e%2e/x"])
def test_hostile_paths_exit_2(cli: Any, logged: str, tmp_path: Path, bad: str) -> None:
    result = cli("runs", "download", logged, bad, "-o", str(tmp_path / "o"))
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "(field: path)")
    result = cli("runs", "artifacts", logged, "--path", bad)
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "(field: path)")
    assert not (tmp_path / "x").exists()


def test_unknown_run_and_missing_path(cli: Any, logged: str, tmp_path: Path) -> None:
    result = cli("runs", "artifacts", "0" * 32)
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "no run with id")
    result = cli("runs", "download", logged, "nope.txt", "-o", str(tmp_path))
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "no artifact 'nope.txt'")
    empty_run = mp.start_run("cli-art")
    empty_run.end()
    result = cli("runs", "artifacts", empty_run.id)
    assert result.exit_code == 0 and "has no artifacts" in result.stdout


def test_runs_show_lists_the_artifacts(
    cli: Any, logged: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = cli.json("runs", "show", logged)
    assert shown["id"] == logged and shown["lifecycle"] == "active"  # the run's keys stay
    assert [a["path"] for a in shown["artifacts"]] == [
        "conf/params.json",
        "conf/sub/deep.txt",
        "notes.txt",
    ]
    assert shown["artifacts"][2]["size"] == 5 and len(shown["artifacts"][2]["sha256"]) == 64
    table = cli("runs", "show", logged)
    assert table.exit_code == 0, table.output
    assert "Artifacts" in table.stdout
    for text in (
        "conf/params.json",
        "conf/sub/deep.txt",
        "notes.txt",
        shown["artifacts"][2]["sha256"][:16],
    ):
        assert text in table.stdout
    assert "more:" not in table.stdout

    monkeypatch.setattr("modelplane.cli.runs.SHOWN_ARTIFACTS", 2)
    capped = cli("runs", "show", logged)
    assert capped.exit_code == 0, capped.output
    assert "conf/params.json" in capped.stdout and "notes.txt" not in capped.stdout
    assert f"… 1 more: modelplane runs artifacts {logged}" in capped.stdout
    assert len(cli.json("runs", "show", logged)["artifacts"]) == 3  # --json lists every one

    empty_run = mp.start_run("cli-art")
    empty_run.end()
    assert cli.json("runs", "show", empty_run.id)["artifacts"] == []
    plain = cli("runs", "show", empty_run.id)
    assert plain.exit_code == 0 and "Artifacts" not in plain.stdout
