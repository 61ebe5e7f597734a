"""``modelplane audit list`` and ``audit verify``, including a tampered database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any


def _tamper(home: Path) -> None:
    conn = sqlite3.connect(home / "modelplane.db")
    try:
        conn.execute("UPDATE audit_log SET actor='mallory' WHERE seq=1")
        conn.commit()
    finally:
        conn.close()


def test_list_table_and_json(cli: Any, populated: Any) -> None:
    result = cli("audit", "list")
    assert result.exit_code == 0, result.output
    for text in ("dataset.register", "model.register", "alias.set", "tester"):
        assert text in result.stdout, text

    entries = cli.json("audit", "list")
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs, reverse=True)  # newest first
    assert seqs[-1] == 1
    first = entries[-1]
    assert first["action"] == "dataset.register"
    assert len(first["hash"]) == 64 and first["time"]


def test_list_filters(cli: Any, populated: Any) -> None:
    aliases = cli.json("audit", "list", "--action", "alias.set")
    assert len(aliases) == 2
    assert {e["target"] for e in aliases} == {f"models/{populated.model}@champion"}

    target = f"models/{populated.model}"
    model = cli.json("audit", "list", "--target", target)
    assert {"model.create", "model.register"} <= {e["action"] for e in model}
    assert all(e["target"].startswith(target) for e in model)
    assert not any(e["target"].startswith("datasets/") for e in model)

    assert len(cli.json("audit", "list", "--limit", "1")) == 1
    none = cli("audit", "list", "--action", "nothing.ever")
    assert none.exit_code == 0 and "no audit entries" in none.stdout


def test_verify_intact(cli: Any, populated: Any) -> None:
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "intact" in result.stdout
    doc = cli.json("audit", "verify")
    assert doc["ok"] is True
    assert doc["checked"] >= 7
    assert doc["first_bad_seq"] is None


def test_verify_tampered(cli: Any, populated: Any) -> None:
    _tamper(populated.home)
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert result.stdout == ""
    line = cli.one_error_line(result.stderr, "entry 1")
    assert "modified" in line

    result = cli("audit", "verify", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["first_bad_seq"] == 1
    assert "entry 1" in doc["reason"]


def test_verify_tampered_subprocess(cli: Any, populated: Any) -> None:
    _tamper(populated.home)
    proc = cli.subprocess("audit", "verify")
    assert proc.returncode == 1, proc.stderr
    cli.one_error_line(proc.stderr, "entry 1")
