"""``modelplane audit list`` and ``audit verify``, including a tampered database: edits,
history rewritten with recomputed hashes, a rewound head, removed MACs, another key, and a
database restored from an older copy (caught by the anchor file only)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from modelplane.audit.log import GENESIS, entry_hash


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


# --- the keyed chain and the anchor, on SQLite and PostgreSQL ------------------------------------


@dataclass
class Audited:
    """A workspace (on ``db_url``) whose audit log holds a few entries, and how to reach it."""

    db_url: str
    anchor: Path

    def args(self, *args: str) -> list[str]:
        return ["--db-url", self.db_url, "audit", *args]

    def sql(self, statement: str, **params: Any) -> None:
        """Write to the database directly, as someone who can but holds no audit key."""
        engine = sa.create_engine(self.db_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(statement), params)
        finally:
            engine.dispose()

    def rows(self) -> list[Any]:
        engine = sa.create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return list(
                    conn.execute(sa.text("SELECT * FROM audit_log ORDER BY seq")).mappings()
                )
        finally:
            engine.dispose()


def _write_entries(n: int, first: int = 0) -> None:
    import modelplane as mp

    for i in range(first, first + n):
        with mp.start_run(f"exp-{i}"):  # each new experiment is an audit entry
            pass
    assert mp.workspace().audit.flush()


@pytest.fixture
def audited(
    home: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Audited]:
    import modelplane as mp

    anchor = tmp_path / "anchor-host" / "audit.jsonl"
    monkeypatch.setenv("MODELPLANE_AUDIT_ANCHOR", str(anchor))
    workspace = mp.configure(home=home, db_url=db_url, actor="tester")
    _write_entries(4)
    yield Audited(db_url, anchor)
    workspace.close()


def _rehash_from(audited: Audited, seq: int, after: Any) -> None:
    """Rewrite entry ``seq`` and recompute every later hash with plain SHA-256 (the MACs
    cannot be recomputed without the key)."""
    prev = GENESIS
    for row in audited.rows():
        if row["seq"] < seq:
            prev = row["hash"]
            continue
        doc = dict(row) | ({"after": after} if row["seq"] == seq else {}) | {"prev_hash": prev}
        for key in ("before", "after"):
            if isinstance(doc[key], str):  # SQLite hands JSON back as text
                doc[key] = json.loads(doc[key])
        fields = ("seq", "ts", "actor", "action", "target", "before", "after", "prev_hash")
        digest = entry_hash(*(doc[f] for f in fields))
        audited.sql(
            'UPDATE audit_log SET "after" = :after, prev_hash = :prev, hash = :hash WHERE seq = :seq',
            after=json.dumps(doc["after"]),
            prev=prev,
            hash=digest,
            seq=row["seq"],
        )
        prev = digest
    audited.sql("UPDATE audit_head SET hash = :h", h=prev)


def test_verify_detects_history_rewritten_with_recomputed_hashes(
    cli: Any, audited: Audited
) -> None:
    _rehash_from(audited, 2, {"name": "not what happened"})
    result = cli(*audited.args("verify"))
    assert result.exit_code == 1
    assert result.stdout == ""
    line = cli.one_error_line(result.stderr, "entry 2")
    assert "modified" in line and "MAC" in line

    result = cli(*audited.args("verify", "--json"))
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert set(doc) == {"ok", "checked", "first_bad_seq", "reason", "anchored"}
    assert (doc["ok"], doc["first_bad_seq"], doc["checked"]) == (False, 2, 1)


def test_verify_detects_newest_entries_deleted_and_head_rewound(cli: Any, audited: Audited) -> None:
    third = audited.rows()[2]
    audited.sql("DELETE FROM audit_log WHERE seq > 3")
    audited.sql("UPDATE audit_head SET seq = 3, hash = :h", h=third["hash"])
    result = cli(*audited.args("verify"))
    assert result.exit_code == 1
    cli.one_error_line(result.stderr, "entry 4", "head was rolled back")


def test_verify_nulled_mac_stays_detected_on_every_start(cli: Any, audited: Audited) -> None:
    audited.sql("UPDATE audit_log SET mac = NULL WHERE seq = 3")
    for _ in range(2):  # each run is a new process: nothing re-signs the entry
        proc = cli.subprocess(*audited.args("verify"))
        assert proc.returncode == 1, proc.stderr
        cli.one_error_line(proc.stderr, "entry 3 has no MAC")
    assert audited.rows()[2]["mac"] is None


def test_verify_with_another_key_fails_naming_the_key(cli: Any, audited: Audited) -> None:
    result = cli(*audited.args("verify"), env={"MODELPLANE_SECRET_AUDIT_KEY": "cd" * 32})
    assert result.exit_code == 1
    cli.one_error_line(result.stderr, "entry 1", "wrong audit key")
    assert cli(*audited.args("verify")).exit_code == 0


def test_verify_intact_reports_anchored_heads(cli: Any, audited: Audited) -> None:
    result = cli(*audited.args("verify"))
    assert result.exit_code == 0, result.output
    assert "4 entries verified" in result.stdout and "4 anchored heads" in result.stdout
    doc = cli.json(*audited.args("verify"))
    assert (doc["ok"], doc["checked"], doc["anchored"]) == (True, 4, 4)


def test_verify_bad_anchor_is_bad_input(cli: Any, audited: Audited, tmp_path: Path) -> None:
    result = cli(*audited.args("verify", "--anchor", str(tmp_path / "missing.jsonl")))
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "cannot read audit anchor", "missing.jsonl")
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"seq": 1}\n')
    result = cli(*audited.args("verify", "--anchor", str(junk), "--json"))
    assert result.exit_code == 2
    assert result.stdout == ""
    error = json.loads(result.stderr)  # with --json the error is JSON too
    assert error["error"] == "invalid_input" and error["field"] == "anchor"
    assert "line 1" in error["message"]
    result = cli(*audited.args("verify"), env={"MODELPLANE_AUDIT_ANCHOR": "s3://bucket/anchor"})
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "MODELPLANE_AUDIT_ANCHOR", "http(s) URL")


def test_restored_database_copy_is_detected_only_with_the_anchor(
    cli: Any, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copy the SQLite file, write more, put the copy back: every row and MAC in it is genuine,
    so the database alone cannot show that entries are gone; the anchor still has their heads."""
    import modelplane as mp

    anchor = tmp_path / "anchor-host" / "audit.jsonl"
    monkeypatch.setenv("MODELPLANE_AUDIT_ANCHOR", str(anchor))
    workspace = mp.configure(home=home, actor="tester")
    _write_entries(3)
    db = Path(workspace.settings.db_url.removeprefix("sqlite:///"))
    copy = tmp_path / "copy.db"
    _sqlite_copy(db, copy)
    _write_entries(2, first=3)
    workspace.close()
    _sqlite_copy(copy, db)

    result = cli("audit", "verify")  # MODELPLANE_AUDIT_ANCHOR is a file: checked by default
    assert result.exit_code == 1
    cli.one_error_line(result.stderr, "entry 4", "rolled back", "entry 5")
    doc = json.loads(cli("audit", "verify", "--json").stdout)
    assert (doc["ok"], doc["first_bad_seq"], doc["checked"]) == (False, 4, 3)

    monkeypatch.delenv("MODELPLANE_AUDIT_ANCHOR")
    assert cli("audit", "verify").exit_code == 0  # undetectable from the database alone
    proc = cli.subprocess("audit", "verify", "--anchor", str(anchor))
    assert proc.returncode == 1
    cli.one_error_line(proc.stderr, "rolled back")


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database in WAL mode (the backup API)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
