"""Conventions every command follows: help without type placeholders, upper-case positional
arguments and kebab-case options, global options accepted after the command, errors as JSON
with ``--json``, and times in ISO 8601."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer

from modelplane.cli.app import app
from modelplane.cli.conventions import apply_conventions, walk

ARGUMENT = re.compile(r"^[A-Z][A-Z0-9_]*(\|[A-Z][A-Z0-9_]*)*$")
OPTION = re.compile(r"^--[a-z0-9]+(-[a-z0-9]+)*$")
# typer's type placeholders (<bool>, <str>, <int range>, <list[str]>, <path>…) and click's words
PLACEHOLDER = re.compile(
    r"<(bool|str|int|float|path|dir|file|datetime|uuid)( range)?>|<list\[[a-z|]*\]>"
    r"|\b(TEXT|INTEGER|BOOLEAN|FLOAT)\b"
)
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def command_paths() -> list[tuple[str, ...]]:
    return [path for path, _ in walk(typer.main.get_command(app))]


def test_the_walk_sees_every_group_and_command() -> None:
    paths = command_paths()
    assert () in paths
    for expected in [("models", "list"), ("models", "alias"), ("score",), ("serve",)]:
        assert expected in paths
    assert len(paths) >= 30


def test_every_help_is_free_of_placeholders_and_consistent(cli: Any) -> None:
    root = typer.main.get_command(app)
    apply_conventions(root)  # what every invocation does before parsing
    for path, command in walk(root):
        result = cli(*path, "--help", env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        text = result.stdout
        found = PLACEHOLDER.search(text)
        assert found is None, f"'{' '.join(path)} --help' shows {found.group(0)!r}:\n{text}"
        for param in command.params:
            if param.param_type_name == "argument":
                assert ARGUMENT.match(param.metavar or ""), (path, param.name, param.metavar)
                usage = next(line for line in text.splitlines() if "Usage:" in line)
                assert param.metavar in usage, (path, usage)
            else:
                for opt in (*param.opts, *param.secondary_opts):
                    if opt.startswith("--"):
                        assert OPTION.match(opt), (path, opt)
        if path:  # every command takes the global options too, and shows them
            assert "Global options" in text, path
            assert "--home" in text, path


def test_flags_show_no_value(cli: Any) -> None:
    text = cli("models", "alias", "--help", env={"COLUMNS": "200"}).stdout
    line = next(line for line in text.splitlines() if "│ --delete" in line)
    assert re.search(r"--delete\s+Remove the alias", line), line
    line = next(line for line in text.splitlines() if "│ --reason" in line)
    assert "REASON" in line


# -- global options after the command -----------------------------------------------------------


def test_global_options_work_before_and_after_the_command(cli: Any, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    before = cli("--home", str(first), "init", "--json")
    after = cli("init", "--home", str(second), "--json")
    assert before.exit_code == 0 and after.exit_code == 0, (before.output, after.output)
    assert json.loads(before.stdout)["home"] == str(first)
    assert json.loads(after.stdout)["home"] == str(second)
    assert (second / "modelplane.db").exists()
    db = tmp_path / "other.db"
    result = cli("models", "list", "--db-url", f"sqlite:///{db}", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [] and db.exists()
    nested = cli("models", "--home", str(first), "list", "--json")
    assert nested.exit_code == 0 and json.loads(nested.stdout) == []


def test_the_same_value_twice_is_fine_different_values_are_refused(
    cli: Any, tmp_path: Path
) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    same = cli("--home", a, "models", "list", "--home", a, "--json")
    assert same.exit_code == 0, same.output
    result = cli("--home", a, "models", "list", "--home", b)
    assert result.exit_code == 2
    line = cli.one_error_line(result.stderr, "--home", "different values")
    assert a in line and b in line
    result = cli("--db-url", "sqlite:///x.db", "init", "--db-url", "sqlite:///y.db")
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "--db-url")


def test_a_value_that_reads_like_a_global_option_stays_a_value(
    cli: Any, tmp_path: Path, home: Path
) -> None:
    other = tmp_path / "other"
    result = cli("runs", "list", "--experiment", "--home", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stderr)
    assert error["field"] == "experiment" and "'--home'" in error["message"]
    result = cli("runs", "list", "--experiment", "--home", str(other))
    assert result.exit_code == 2  # str(other) is an unexpected argument, not a home
    assert not other.exists()


# -- errors as JSON -----------------------------------------------------------------------------


def test_errors_are_json_with_json(cli: Any, home: Path) -> None:
    result = cli("models", "show", "nope", "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == {
        "error": "not_found",
        "message": "no model named 'nope'",
        "field": "model",
    }
    # without --json: the one text line
    plain = cli("models", "show", "nope")
    assert plain.exit_code == 2
    cli.one_error_line(plain.stderr, "no model named 'nope'", "(field: model)")


@pytest.mark.parametrize(
    "args",
    [
        ("runs", "list", "--limit", "0", "--json"),  # a bad value, after --json is parsed
        ("runs", "list", "--json", "--limit", "x"),
        ("runs", "list", "--json", "--no-such-option"),  # parsing stops before --json
    ],
)
def test_usage_errors_are_json_with_json(cli: Any, home: Path, args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    error = json.loads(result.stderr)
    assert error["error"] == "usage_error"
    assert set(error) <= {"error", "message", "field"}
    assert "\n" not in result.stderr.strip()


def test_usage_error_of_a_command_without_json_stays_text(cli: Any, home: Path) -> None:
    result = cli("demo", "--json")
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "--json")


# -- times --------------------------------------------------------------------------------------


def test_times_are_iso_8601_in_tables_and_json(cli: Any, populated: Any) -> None:
    for args in (("models", "list"), ("runs", "list"), ("datasets", "list"), ("audit", "list")):
        result = cli(*args, env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        assert ISO.search(result.stdout), (args, result.stdout)
        assert " UTC" not in result.stdout
    created = cli.json("token", "create", "--role", "viewer", "--expires", "1d")
    assert ISO.fullmatch(created["created_at"]) and ISO.fullmatch(created["expires_at"])
    listed = cli.json("token", "list")
    assert all(ISO.fullmatch(t["created_at"]) for t in listed)
    for row in cli.json("runs", "list"):
        assert ISO.fullmatch(row["start_time"])
