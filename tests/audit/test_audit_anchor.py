"""The audit key's life and the external anchor, on every metadata backend (SQLite, PostgreSQL):
a log written before the key existed is signed exactly once when the key is created, processes
starting together on one log (new or old) all end up verifying it, a different key fails with
its reason, and the anchor (file or URL) records only committed heads and catches a database
restored from an older copy, which nothing inside the database can show."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from modelplane.audit import AuditEntry, AuditLog
from modelplane.audit import anchor as anchor_module
from modelplane.audit.keys import KEY_NAME, AuditKey
from modelplane.audit.log import GENESIS, entry_hash
from modelplane.core.secrets import Secrets, env_var
from modelplane.errors import InvalidInputError
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import audit_head, audit_log


def append(log: AuditLog, n: int, tag: str = "x") -> list[AuditEntry]:
    out = []
    for i in range(n):
        with log.meta.write() as conn:
            out.append(log.append(conn, actor="alice", action=tag, target="t", after={"i": i}))
    return out


def sql(meta: MetadataStore, statement: str, **params: Any) -> None:
    with meta.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def macs(meta: MetadataStore) -> list[str | None]:
    with meta.read() as conn:
        return list(conn.execute(sa.select(audit_log.c.mac).order_by(audit_log.c.seq)).scalars())


def write_unkeyed_log(meta: MetadataStore, n: int) -> None:
    """A log as written before audit keys existed: chained entries, no MACs anywhere."""
    prev = GENESIS
    with meta.engine.begin() as conn:
        for seq in range(1, n + 1):
            ts, after = 1_700_000_000_000 + seq, {"legacy": seq}
            digest = entry_hash(seq, ts, "old", "model.update", f"models/m{seq}", None, after, prev)
            conn.execute(
                audit_log.insert().values(
                    seq=seq,
                    ts=ts,
                    actor="old",
                    action="model.update",
                    target=f"models/m{seq}",
                    before=None,
                    after=after,
                    prev_hash=prev,
                    hash=digest,
                    mac=None,
                )
            )
            prev = digest
        conn.execute(audit_head.update().values(seq=n, hash=prev, mac=None))


# --- the key ------------------------------------------------------------------------------------


def test_unkeyed_log_is_signed_once_when_the_key_is_created(
    meta: MetadataStore, db_url: str, secrets_dir: Path
) -> None:
    write_unkeyed_log(meta, 3)
    log = AuditLog(meta, Secrets(secrets_dir))
    result = log.verify()  # the first use creates the key and signs what was there
    assert (result.ok, result.checked) == (True, 4)
    (keyed,) = log.list(action="audit.keyed")
    assert keyed.seq == 4
    assert keyed.after["signed"] == 3
    assert (keyed.after["first_seq"], keyed.after["last_seq"]) == (1, 3)
    assert None not in macs(meta)

    # Later starts find the key and sign nothing; a MAC removed now stays missing.
    sql(meta, "UPDATE audit_log SET mac = NULL WHERE seq = 2")
    for _ in range(2):
        again = MetadataStore(db_url)
        try:
            restarted = AuditLog(again, Secrets(secrets_dir))
            result = restarted.verify()
            append(restarted, 1)
        finally:
            again.dispose()
        assert (result.ok, result.first_bad_seq) == (False, 2)
        assert "entry 2 has no MAC" in str(result.reason)
    assert len(log.list(action="audit.keyed")) == 1
    assert macs(meta)[1] is None


def test_first_write_to_an_unkeyed_log_keys_it_in_its_own_transaction(
    meta: MetadataStore, secrets_dir: Path
) -> None:
    write_unkeyed_log(meta, 2)
    log = AuditLog(meta, Secrets(secrets_dir))
    with meta.write() as conn:
        entry = log.append(conn, actor="alice", action="x", target="t")
    # Signing inside the caller's transaction would be lost with it: the entry goes in unsigned
    # and the log is keyed right after, in a transaction of its own.
    assert entry.mac is None
    result = log.verify()
    assert (result.ok, result.checked) == (True, 4)
    assert [e.after["signed"] for e in log.list(action="audit.keyed")] == [3]
    assert None not in macs(meta)
    (later,) = append(log, 1)
    assert later.mac is not None
    assert log.verify().ok


def test_a_different_key_fails_verification_with_its_reason(
    log: AuditLog, meta: MetadataStore, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(log, 3)
    monkeypatch.setenv(env_var(KEY_NAME), "ab" * 32)  # a replica given another key
    other = AuditLog(meta, Secrets(secrets_dir))
    result = other.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 1, 0)
    assert "wrong audit key" in str(result.reason)
    monkeypatch.delenv(env_var(KEY_NAME))
    assert AuditLog(meta, Secrets(secrets_dir)).verify().ok


RACER = """
import json, pathlib, sys, time
from modelplane.audit import AuditLog
from modelplane.core.secrets import Secrets
from modelplane.stores.metadata import MetadataStore

db_url, secrets, ready, go, name, first = sys.argv[1:7]
pathlib.Path(ready).touch()
while not pathlib.Path(go).exists():
    time.sleep(0.001)
meta = MetadataStore(db_url)
log = AuditLog(meta, Secrets(pathlib.Path(secrets)))
results = [log.verify().to_dict()] if first == "verify" else []
for i in range(5):
    with meta.write() as conn:
        log.append(conn, actor=name, action="tick", target="t/" + name, after={"i": i})
results.append(log.verify().to_dict())
print(json.dumps(results))
"""


def run_together(db_url: str, secrets_dir: Path, folder: Path, n: int) -> list[list[Any]]:
    """``n`` processes open the same log at the same moment; half verify first, half write."""
    go = folder / "go"
    procs = []
    for i in range(n):
        first = "verify" if i % 2 else "append"
        args = [db_url, str(secrets_dir), str(folder / f"ready{i}"), str(go), f"p{i}", first]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", RACER, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 120
    while not all((folder / f"ready{i}").exists() for i in range(n)):
        assert time.monotonic() < deadline, "the processes did not start"
        time.sleep(0.01)
    go.touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out))
    return outputs


@pytest.mark.parametrize("existing", [0, 3], ids=["new log", "unkeyed log"])
def test_processes_starting_together_all_end_up_verifying(
    meta: MetadataStore, db_url: str, secrets_dir: Path, tmp_path: Path, existing: int
) -> None:
    if existing:
        write_unkeyed_log(meta, existing)
    outputs = run_together(db_url, secrets_dir, tmp_path, 4)
    for results in outputs:  # a verify while another process keys the log waits for it
        assert all(r["ok"] for r in results), results
    log = AuditLog(meta, Secrets(secrets_dir))
    result = log.verify()
    keyed = log.list(action="audit.keyed")
    assert result.ok, result
    assert result.checked == existing + 4 * 5 + len(keyed)
    assert len(keyed) == (1 if existing else 0)
    assert None not in macs(meta)
    assert len(list(secrets_dir.glob("*.key"))) == 1


# --- the anchor ----------------------------------------------------------------------------------


@pytest.fixture
def anchor_file(tmp_path: Path) -> Path:
    return tmp_path / "elsewhere" / "audit-anchor.jsonl"


@pytest.fixture
def anchored(meta: MetadataStore, secrets_dir: Path, anchor_file: Path) -> AuditLog:
    return AuditLog(meta, Secrets(secrets_dir), anchor=str(anchor_file))


def anchor_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_anchor_file_gets_every_committed_head_and_no_rolled_back_one(
    anchored: AuditLog, meta: MetadataStore, anchor_file: Path, secrets_dir: Path
) -> None:
    entries = append(anchored, 2)
    with pytest.raises(RuntimeError), meta.write() as conn:
        anchored.append(conn, actor="bob", action="x", target="t")
        raise RuntimeError("rolled back")
    entries += append(anchored, 1)  # takes seq 3 again
    assert anchored.flush()
    lines = anchor_lines(anchor_file)
    assert [(d["seq"], d["hash"]) for d in lines] == [(e.seq, e.hash) for e in entries]
    key = AuditKey(bytes.fromhex((secrets_dir / f"{KEY_NAME}.key").read_text()))
    assert [d["mac"] for d in lines] == [key.head_mac(e.seq, e.hash) for e in entries]
    assert all(set(d) == {"seq", "hash", "mac", "time"} for d in lines)
    result = anchored.verify()
    assert (result.ok, result.anchored) == (True, 3)


def snapshot(meta: MetadataStore) -> None:
    """A copy of the audit tables, as in a backup of the database."""
    sql(meta, "CREATE TABLE snap_log AS SELECT * FROM audit_log")
    sql(meta, "CREATE TABLE snap_head AS SELECT * FROM audit_head")


def restore(meta: MetadataStore) -> None:
    """Put the copy back: every row, hash and MAC is genuine, just older."""
    with meta.engine.begin() as conn:
        for table, copy in (("audit_log", "snap_log"), ("audit_head", "snap_head")):
            conn.execute(sa.text(f"DELETE FROM {table}"))
            conn.execute(sa.text(f"INSERT INTO {table} SELECT * FROM {copy}"))


def test_restored_older_copy_is_detected_by_the_anchor_only(
    anchored: AuditLog, meta: MetadataStore, secrets_dir: Path, anchor_file: Path
) -> None:
    append(anchored, 3)
    snapshot(meta)
    append(anchored, 2)
    assert anchored.flush()
    restore(meta)

    # Nothing in the database is wrong: without the anchor, verify cannot tell.
    plain = AuditLog(meta, Secrets(secrets_dir))
    assert plain.verify().ok

    result = anchored.verify()  # the configured anchor file
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 4, 3)
    assert "rolled back" in str(result.reason) and "entry 5" in str(result.reason)
    assert plain.verify(anchor=anchor_file) == result  # the same file, named explicitly


def test_rewritten_entry_behind_an_anchored_head_is_detected(
    anchored: AuditLog, meta: MetadataStore, secrets_dir: Path, anchor_file: Path
) -> None:
    """Heads anchored before a rewrite must still be in the chain afterwards."""
    append(anchored, 2)
    snapshot(meta)
    append(anchored, 1)
    assert anchored.flush()
    restore(meta)
    append(anchored, 1)  # seq 3 again, different content: the chain is whole and signed
    assert anchored.flush()
    assert AuditLog(meta, Secrets(secrets_dir)).verify().ok
    result = anchored.verify()
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert "entry 3 differs from the head anchored" in str(result.reason)


def test_anchor_records_need_the_key(
    anchored: AuditLog, anchor_file: Path, secrets_dir: Path
) -> None:
    append(anchored, 2)
    assert anchored.flush()
    forged = {"seq": 9, "hash": "a" * 64, "mac": "b" * 64, "time": "2030-01-01T00:00:00+00:00"}
    with anchor_file.open("a") as out:
        out.write(json.dumps(forged) + "\n")
    result = anchored.verify()
    assert (result.ok, result.first_bad_seq) == (False, 9)
    assert "does not carry this key's MAC" in str(result.reason)


def test_torn_last_anchor_line_is_skipped_and_closed_by_the_next_write(
    anchored: AuditLog, anchor_file: Path
) -> None:
    append(anchored, 1)
    assert anchored.flush()
    with anchor_file.open("a") as out:
        out.write('{"hash":"0f3a')  # the process died in the middle of a write
    assert anchored.verify().anchored == 1
    append(anchored, 1)
    assert anchored.flush()
    result = anchored.verify()
    assert (result.ok, result.anchored) == (True, 2)
    assert anchor_file.read_text().count("\n") == 3


def test_bad_anchor_file_is_invalid_input(anchored: AuditLog, tmp_path: Path) -> None:
    append(anchored, 1)
    with pytest.raises(InvalidInputError, match="cannot read audit anchor"):
        anchored.verify(anchor=tmp_path / "missing.jsonl")
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n")
    with pytest.raises(InvalidInputError, match="line 1"):
        anchored.verify(anchor=junk)
    junk.write_text('{"seq": 1, "hash": "x"}\n')
    with pytest.raises(InvalidInputError, match="line 1 is not a head record"):
        anchored.verify(anchor=junk)


def test_configured_anchor_file_not_written_yet_has_no_heads(anchored: AuditLog) -> None:
    result = anchored.verify()
    assert (result.ok, result.anchored) == (True, 0)


class _Receiver(BaseHTTPRequestHandler):
    statuses: list[int]
    bodies: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(self.statuses.pop(0) if self.statuses else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"statuses": [], "bodies": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/anchor", handler
    server.shutdown()
    server.server_close()


def test_url_anchor_receives_the_newest_head_with_retries(
    meta: MetadataStore, secrets_dir: Path, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    handler.statuses.append(503)  # the first attempt fails; the head is sent again
    log = AuditLog(meta, Secrets(secrets_dir), anchor=url)
    entries = append(log, 2)
    assert log.flush()
    newest = handler.bodies[-1]
    assert (newest["seq"], newest["hash"]) == (entries[-1].seq, entries[-1].hash)
    assert len(newest["mac"]) == 64 and newest["time"]
    assert all(body["seq"] <= 2 for body in handler.bodies)
    assert log.verify().ok


def test_unreachable_url_anchor_never_blocks_or_fails_an_append(
    meta: MetadataStore, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anchor_module, "POST_DELAYS_S", (0.0, 0.0))
    log = AuditLog(meta, Secrets(secrets_dir), anchor="http://127.0.0.1:9/anchor")
    entries = append(log, 3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert log.flush()
    assert log.verify().ok
