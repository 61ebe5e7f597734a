"""Error handling: bad input exits 2 with one ``error:`` line on stderr and no traceback;
unexpected errors exit 1 (traceback only with MODELPLANE_DEBUG=1); help and import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

MODEL = "iris-like"

BAD_INPUT = [
    pytest.param(["models", "show", "nope"], "no model named 'nope'", id="unknown-model"),
    pytest.param(["models", "show", MODEL, "--version", "7"], "no version 7", id="unknown-version"),
    pytest.param(
        ["models", "show", MODEL, "--alias", "ghost"], "no alias @ghost", id="unknown-alias"
    ),
    pytest.param(["models", "alias", MODEL, "../x", "1"], "invalid alias", id="bad-alias-name"),
    pytest.param(["models", "show", MODEL, "--alias", "../x"], "invalid alias", id="bad-alias-opt"),
    pytest.param(["models", "show", MODEL, "--version", "abc"], "'--version'", id="version-abc"),
    pytest.param(
        ["models", "alias", MODEL, "champion", "abc"], "'VERSION'", id="alias-version-abc"
    ),
    pytest.param(["models", "alias", MODEL, "champion", "0"], "'VERSION'", id="alias-version-0"),
    pytest.param(["models", "import", "/etc", "--name", "x"], "MLmodel", id="import-etc"),
    pytest.param(
        ["models", "import", "/nonexistent", "--name", "x"], "/nonexistent", id="import-missing"
    ),
    pytest.param(["models", "import", "s3://bucket/model", "--name", "x"], "URI", id="import-uri"),
    pytest.param(["models", "import", "/tmp"], "--name", id="import-without-name"),
    pytest.param(["models", "show", "file:///etc/passwd"], "file:///etc/passwd", id="file-uri"),
    pytest.param(["models", "show", "models:/../x"], "model", id="traversal-uri"),
    pytest.param(
        ["models", "show", f"models:/{MODEL}/1", "--version", "2"], "already", id="uri-and-version"
    ),
    pytest.param(
        ["models", "show", MODEL, "--version", "1", "--alias", "champion"],
        "not both",
        id="version-and-alias",
    ),
    pytest.param(["runs", "list", "--filter", "metrics.auc >"], "filter", id="bad-filter"),
    pytest.param(
        ["runs", "list", "--order-by", "metrics.auc SIDEWAYS"], "order_by", id="bad-order"
    ),
    pytest.param(["runs", "list", "--limit", "0"], "--limit", id="bad-limit"),
    pytest.param(["demo", "--json"], "--json", id="json-on-demo"),
    pytest.param(["--json", "models", "list"], "--json", id="json-on-root"),
    pytest.param(["models", "list", "--json=yes"], "--json", id="json-with-value"),
    pytest.param(["models", "lst"], "lst", id="unknown-command"),
    pytest.param(["datasets", "list", "a/b"], "dataset name", id="bad-dataset-name"),
]


@pytest.mark.parametrize(("args", "expected"), BAD_INPUT)
def test_bad_input_exits_2_with_one_line(
    cli: Any, populated: Any, args: list[str], expected: str
) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    cli.one_error_line(result.stderr, expected)


def test_field_is_named(cli: Any, populated: Any) -> None:
    result = cli("models", "alias", MODEL, "../x", "1")
    cli.one_error_line(result.stderr, "(field: alias)")


def test_conflict_exit_code_is_1(cli: Any, populated: Any, monkeypatch: Any) -> None:
    from modelplane.errors import ConflictError

    def boom() -> Any:
        raise ConflictError("already there", field="name")

    monkeypatch.setattr("modelplane.cli.models.workspace", boom)
    result = cli("models", "list")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: already there (field: name)"


def test_unexpected_error_is_one_line_without_traceback(cli: Any, monkeypatch: Any) -> None:
    def boom() -> Any:
        raise RuntimeError("kaput\nsecond line")

    monkeypatch.setattr("modelplane.cli.models.workspace", boom)
    result = cli("models", "list")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: internal error: RuntimeError: kaput second line"

    result = cli("models", "list", env={"MODELPLANE_DEBUG": "1"})
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert result.stderr.strip().endswith("error: internal error: RuntimeError: kaput second line")


def test_no_args_prints_help(cli: Any) -> None:
    result = cli()
    assert result.exit_code == 2
    assert "Usage" in result.output and "models" in result.output
    result = cli("models")
    assert result.exit_code == 2
    assert "alias" in result.output and "import" in result.output


def test_help_and_version(cli: Any) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("init", "demo", "models", "runs", "datasets", "audit"):
        assert command in result.stdout
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("modelplane ")
    for group, commands in {
        "models": ("list", "show", "import", "alias", "aliases"),
        "runs": ("list",),
        "datasets": ("list",),
        "audit": ("list", "verify"),
    }.items():
        result = cli(group, "--help")
        assert result.exit_code == 0, result.output
        for command in commands:
            assert command in result.stdout


def test_subprocess_bad_input(cli: Any, populated: Any) -> None:
    proc = cli.subprocess("models", "show", "nope")
    assert proc.returncode == 2
    assert proc.stdout == ""
    cli.one_error_line(proc.stderr, "no model named 'nope'")

    proc = cli.subprocess("models", "show", MODEL, "--version", "abc")
    assert proc.returncode == 2
    cli.one_error_line(proc.stderr, "--version")


def test_subprocess_json_is_one_document(cli: Any, populated: Any) -> None:
    proc = cli.subprocess("models", "show", f"models:/{MODEL}@champion", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["version"] == 2
    assert doc["aliases"] == ["champion"]


def test_help_does_not_import_pandas_or_sklearn(cli: Any) -> None:
    code = (
        "import sys\n"
        "from modelplane.cli.app import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = sorted(m for m in ('pandas', 'sklearn', 'sqlalchemy') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cli.cwd,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY="
