"""Contract of the keyed, hash-chained audit log on every metadata backend (SQLite, PostgreSQL):
appends inside write transactions, tamper detection for edits, deletions and reordering done
directly in the database — also by someone who recomputes every hash, rewinds the head or removes
MACs — rollback, concurrent writers, JSON round trips and listing. The anchor, the key's creation
and processes starting together: test_audit_anchor.py."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from modelplane.audit import AuditEntry, AuditLog
from modelplane.audit.keys import KEY_NAME
from modelplane.audit.log import GENESIS, entry_hash
from modelplane.core.secrets import Secrets
from modelplane.errors import InvalidInputError
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import audit_head, audit_log


def append(log: AuditLog, n: int, start: int = 1) -> list[AuditEntry]:
    out = []
    for i in range(start, start + n):
        with log.meta.write() as conn:
            out.append(
                log.append(
                    conn,
                    actor=f"user{i}",
                    action="model.update",
                    target=f"models/m{i}",
                    before={"version": i - 1} if i > 1 else None,
                    after={"version": i, "tags": {"stage": "prod"}},
                )
            )
    return out


def sql(meta: MetadataStore, statement: str, **params: Any) -> None:
    """Tamper directly in the database, bypassing the audit log."""
    with meta.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def head(meta: MetadataStore) -> tuple[int, str]:
    with meta.read() as conn:
        row = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash)).one()
    return int(row.seq), row.hash


def seqs(meta: MetadataStore) -> list[int]:
    with meta.read() as conn:
        return [int(s) for s in conn.execute(sa.select(audit_log.c.seq).order_by("seq")).scalars()]


# --- appending and verifying ------------------------------------------------------------------


def test_empty_log_verifies(log: AuditLog) -> None:
    result = log.verify()
    assert (result.ok, result.checked, result.first_bad_seq) == (True, 0, None)


def test_appended_entries_chain_and_verify(log: AuditLog, meta: MetadataStore) -> None:
    entries = append(log, 5)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS
    for prev, entry in itertools.pairwise(entries):
        assert entry.prev_hash == prev.hash
    for e in entries:
        assert e.hash == entry_hash(
            e.seq, e.ts, e.actor, e.action, e.target, e.before, e.after, e.prev_hash
        )
    assert head(meta) == (5, entries[-1].hash)
    result = log.verify()
    assert result.ok and result.checked == 5 and result.reason is None
    assert log.list(limit=10, newest_first=False) == entries


def test_append_commits_with_the_callers_change(log: AuditLog, meta: MetadataStore) -> None:
    from modelplane.stores.metadata.schema import experiments

    with meta.write() as conn:
        conn.execute(experiments.insert().values(name="exp", created_at=1))
        log.append(conn, actor="alice", action="experiment.create", target="experiments/exp")
    with meta.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(experiments)).scalar() == 1
    assert [e.target for e in log.list()] == ["experiments/exp"]


def test_append_in_a_failed_transaction_leaves_no_entry(log: AuditLog, meta: MetadataStore) -> None:
    from modelplane.stores.metadata.schema import experiments

    append(log, 2)
    before_head = head(meta)
    with pytest.raises(RuntimeError, match="boom"), meta.write() as conn:
        conn.execute(experiments.insert().values(name="lost", created_at=1))
        entry = log.append(conn, actor="bob", action="experiment.create", target="experiments/x")
        assert entry.seq == 3
        raise RuntimeError("boom")
    assert seqs(meta) == [1, 2]
    assert head(meta) == before_head
    with meta.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(experiments)).scalar() == 0
    assert log.verify().ok
    # The next append reuses seq 3 and the chain stays valid.
    (entry,) = append(log, 1, start=3)
    assert entry.seq == 3
    assert log.verify().ok and log.verify().checked == 3


# --- tampering ---------------------------------------------------------------------------------


def test_edited_actor_is_detected(log: AuditLog, meta: MetadataStore) -> None:
    append(log, 5)
    sql(meta, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    result = log.verify()
    assert not result.ok
    assert result.first_bad_seq == 2
    assert result.checked == 1
    assert "entry 2" in str(result.reason) and "modified" in str(result.reason)


def test_edited_after_document_is_detected(log: AuditLog, meta: MetadataStore) -> None:
    append(log, 5)
    with meta.engine.begin() as conn:
        conn.execute(
            audit_log.update()
            .where(audit_log.c.seq == 3)
            .values(after={"version": 999, "tags": {"stage": "prod"}})
        )
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 3, 2)
    assert "entry 3" in str(result.reason) and "modified" in str(result.reason)


def test_edited_after_document_by_raw_sql_is_detected(log: AuditLog, meta: MetadataStore) -> None:
    append(log, 5)
    sql(meta, """UPDATE audit_log SET "after" = '{"version": 3, "tags": {}}' WHERE seq = 3""")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_edit_with_a_recomputed_hash_breaks_the_next_link(
    log: AuditLog, meta: MetadataStore
) -> None:
    entries = append(log, 5)
    e = entries[1]
    forged = entry_hash(e.seq, e.ts, "mallory", e.action, e.target, e.before, e.after, e.prev_hash)
    sql(meta, "UPDATE audit_log SET actor = 'mallory', hash = :h WHERE seq = 2", h=forged)
    result = log.verify()
    # The entry's MAC was made for its old hash: caught at the entry itself, before the link.
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 2, 1)
    assert "entry 2 was modified" in str(result.reason) and "MAC" in str(result.reason)


def test_deleted_middle_entry_is_detected(log: AuditLog, meta: MetadataStore) -> None:
    append(log, 5)
    sql(meta, "DELETE FROM audit_log WHERE seq = 2")
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 2, 1)
    assert "entry 2" in str(result.reason) and "missing" in str(result.reason)


def test_deleted_first_entry_is_detected(log: AuditLog, meta: MetadataStore) -> None:
    append(log, 3)
    sql(meta, "DELETE FROM audit_log WHERE seq = 1")
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 1, 0)


def test_deleted_newest_entry_is_detected(log: AuditLog, meta: MetadataStore) -> None:
    append(log, 5)
    sql(meta, "DELETE FROM audit_log WHERE seq = 5")
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 5, 4)
    assert "missing" in str(result.reason) and "newest" in str(result.reason)


def test_deleted_newest_entries_are_detected(log: AuditLog, meta: MetadataStore) -> None:
    append(log, 5)
    sql(meta, "DELETE FROM audit_log WHERE seq >= 3")
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 3, 2)
    assert "3..5" in str(result.reason)


def test_all_entries_deleted_is_detected(log: AuditLog, meta: MetadataStore) -> None:
    append(log, 3)
    sql(meta, "DELETE FROM audit_log")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 1)


def test_truncation_with_a_rewound_head_is_detected(log: AuditLog, meta: MetadataStore) -> None:
    """Deleting the newest entry *and* rewinding ``audit_head`` to the entry before it leaves a
    shorter chain that is internally consistent (every hash and link checks out); the head's MAC
    was made for seq 5 and making one for seq 4 needs the key."""
    entries = append(log, 5)
    sql(meta, "DELETE FROM audit_log WHERE seq = 5")
    sql(meta, "UPDATE audit_head SET seq = 4, hash = :h WHERE id = 1", h=entries[3].hash)
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 5, 4)
    assert "the head was rolled back" in str(result.reason)


def test_head_pointing_at_a_different_hash_is_detected(log: AuditLog, meta: MetadataStore) -> None:
    append(log, 3)
    sql(meta, "UPDATE audit_head SET hash = :h WHERE id = 1", h="f" * 64)
    result = log.verify()
    assert not result.ok
    assert result.first_bad_seq == 4
    assert "head" in str(result.reason)


def test_deleted_head_row_is_detected(log: AuditLog, meta: MetadataStore) -> None:
    append(log, 3)
    sql(meta, "DELETE FROM audit_head")
    result = log.verify()
    assert not result.ok
    assert "head" in str(result.reason)


def test_forged_entry_beyond_the_head_is_detected(log: AuditLog, meta: MetadataStore) -> None:
    entries = append(log, 3)
    last = entries[-1]
    forged_hash = entry_hash(4, last.ts, "mallory", "x", "t", None, None, last.hash)
    with meta.engine.begin() as conn:
        conn.execute(
            audit_log.insert().values(
                seq=4,
                ts=last.ts,
                actor="mallory",
                action="x",
                target="t",
                before=None,
                after=None,
                prev_hash=last.hash,
                hash=forged_hash,
            )
        )
    result = log.verify()
    assert not result.ok
    assert result.first_bad_seq == 4
    assert "entry 4 has no MAC" in str(result.reason)  # and the head does not name it either


def test_swapped_seqs_are_detected(log: AuditLog, meta: MetadataStore) -> None:
    append(log, 5)
    sql(meta, "UPDATE audit_log SET seq = -2 WHERE seq = 2")
    sql(meta, "UPDATE audit_log SET seq = 2 WHERE seq = 4")
    sql(meta, "UPDATE audit_log SET seq = 4 WHERE seq = -2")
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 2, 1)
    assert "does not link" in str(result.reason)


def test_swapped_contents_are_detected(log: AuditLog, meta: MetadataStore) -> None:
    """Swapping whole entries (every column but seq) is a reordering too."""
    append(log, 4)
    cols = "ts, actor, action, target, prev_hash, hash"
    sql(meta, f"CREATE TABLE tmp_swap AS SELECT seq, {cols} FROM audit_log WHERE seq IN (2, 3)")
    sets = ", ".join(
        f"{c} = (SELECT {c} FROM tmp_swap WHERE tmp_swap.seq = 5 - audit_log.seq)"
        for c in cols.split(", ")
    )
    sql(meta, f"UPDATE audit_log SET {sets} WHERE seq IN (2, 3)")
    sql(meta, "DROP TABLE tmp_swap")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)


# --- the keyed chain: an attacker who can write the database but has no key -------------------


def stored_key(secrets_dir: Path) -> bytes:
    return bytes.fromhex((secrets_dir / f"{KEY_NAME}.key").read_text().strip())


def rows(meta: MetadataStore) -> list[Any]:
    with meta.read() as conn:
        return list(conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).mappings())


def rehash_from(meta: MetadataStore, seq: int, **changes: Any) -> None:
    """The attack plain hashing cannot see: change entry ``seq``, then recompute with SHA-256
    every hash and link from there on and point the head at the new last hash (MACs untouched:
    making them needs the key)."""
    with meta.engine.begin() as conn:
        prev = GENESIS
        for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).mappings().all():
            if row["seq"] < seq:
                prev = row["hash"]
                continue
            doc = {**row, **(changes if row["seq"] == seq else {}), "prev_hash": prev}
            fields = ("seq", "ts", "actor", "action", "target", "before", "after", "prev_hash")
            digest = entry_hash(*(doc[f] for f in fields))
            values = {k: doc[k] for k in (*fields, "hash")} | {"hash": digest}
            conn.execute(audit_log.update().where(audit_log.c.seq == row["seq"]).values(values))
            prev = digest
        conn.execute(audit_head.update().values(hash=prev))


def test_entries_and_head_carry_macs_made_with_the_key_outside_the_database(
    log: AuditLog, meta: MetadataStore, secrets_dir: Path
) -> None:
    entries = append(log, 3)
    key = stored_key(secrets_dir)
    for e, row in zip(entries, rows(meta), strict=True):
        expected = hmac.new(key, e.hash.encode(), hashlib.sha256).hexdigest()
        assert e.mac == row["mac"] == expected
    with meta.read() as conn:
        mac = conn.execute(sa.select(audit_head.c.mac)).scalar()
    last = entries[-1]
    assert mac == hmac.new(key, f"audit_head:3:{last.hash}".encode(), hashlib.sha256).hexdigest()
    assert mac != last.mac  # a head MAC cannot be copied from an entry (that would rewind it)


def test_rewritten_entry_with_every_later_hash_recomputed_is_detected(
    log: AuditLog, meta: MetadataStore
) -> None:
    append(log, 5)
    rehash_from(meta, 3, after={"version": 999, "tags": {"stage": "prod"}})
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 3, 2)
    assert "entry 3 was modified" in str(result.reason) and "MAC" in str(result.reason)


def test_rewritten_entry_with_its_mac_removed_is_detected(
    log: AuditLog, meta: MetadataStore
) -> None:
    append(log, 4)
    rehash_from(meta, 2, actor="mallory")
    sql(meta, "UPDATE audit_log SET mac = NULL WHERE seq >= 2")
    sql(meta, "UPDATE audit_head SET mac = NULL")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "entry 2 has no MAC" in str(result.reason)


@pytest.mark.parametrize("head_mac", ["kept", "null", "copied from the entry"])
def test_newest_entries_deleted_and_head_rewound_are_detected(
    log: AuditLog, meta: MetadataStore, head_mac: str
) -> None:
    entries = append(log, 5)
    sql(meta, "DELETE FROM audit_log WHERE seq > 3")
    sql(meta, "UPDATE audit_head SET seq = 3, hash = :h", h=entries[2].hash)  # plain SHA-256
    if head_mac == "null":
        sql(meta, "UPDATE audit_head SET mac = NULL")
    elif head_mac == "copied from the entry":
        sql(meta, "UPDATE audit_head SET mac = :m", m=entries[2].mac)
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 4, 3)
    reason = str(result.reason)
    assert "head has no MAC" in reason if head_mac == "null" else "head was rolled back" in reason


def test_nulled_mac_is_detected_and_never_signed_again(
    log: AuditLog, meta: MetadataStore, db_url: str, secrets_dir: Path
) -> None:
    append(log, 4)
    sql(meta, "UPDATE audit_log SET mac = NULL WHERE seq = 2")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "entry 2 has no MAC" in str(result.reason)
    # The next start (a new process: new store, secrets read again) signs nothing.
    again = MetadataStore(db_url)
    try:
        restarted = AuditLog(again, Secrets(secrets_dir))
        with again.write() as conn:
            restarted.append(conn, actor="a", action="x", target="t")
        result = restarted.verify()
    finally:
        again.dispose()
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert rows(meta)[1]["mac"] is None
    assert log.list(action="audit.keyed") == []


# --- concurrency -------------------------------------------------------------------------------


def test_concurrent_appends_form_one_valid_chain(log: AuditLog, meta: MetadataStore) -> None:
    threads_n, per_thread = 4, 50
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with meta.write() as conn:
                    log.append(conn, actor=f"t{t}", action="tick", target=f"t/{t}", after={"i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    total = threads_n * per_thread
    assert seqs(meta) == list(range(1, total + 1))
    result = log.verify()
    assert (result.ok, result.checked) == (True, total)
    assert head(meta)[0] == total
    # Each writer's own entries are in its own order.
    for t in range(threads_n):
        mine = log.list(target=f"t/{t}", limit=1000, newest_first=False)
        assert [e.after["i"] for e in mine] == list(range(per_thread))


def test_verify_during_concurrent_appends_reports_no_false_alarm(
    log: AuditLog, meta: MetadataStore
) -> None:
    """``verify()`` must judge one consistent state of the log: entries appended while it runs
    are not 'missing' and do not make the head look wrong."""
    append(log, 20)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            while not stop.is_set():
                with meta.write() as conn:
                    log.append(conn, actor="w", action="tick", target="w", after={"i": i})
                i += 1
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        results = [log.verify() for _ in range(30)]
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    bad = [r for r in results if not r.ok]
    assert bad == []
    assert log.verify().ok


# --- values ------------------------------------------------------------------------------------

AWKWARD: list[Any] = [
    None,
    {"text": "naïve \u2013 模型 🚀 \u00e9\u0301", "quote": "\"'\\", "newline": "a\nb"},
    {"nested": {"a": [1, {"b": [None, True, False]}], "empty": {}, "list": []}},
    {"floats": [0.1, 0.30000000000000004, 1.0, -2.5, 1e-7, 1.5e-300, 123456.789]},
    {"big_floats": [1e16, 1e100, -1.5e300, 2.0**70, 1.7976931348623157e308]},
    {"zero": -0.0},
    {"ints": [0, -1, 2**53 + 1, 10**30]},
    ["a", 1, 2.5, None, {"k": "v"}],
    "a plain string",
    12345,
    3.25,
    True,
]


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values (1e100 and its exact integer, -0.0 and 0.0 are the same number)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return bool(a == b)


def test_awkward_values_round_trip_and_verify(log: AuditLog, meta: MetadataStore) -> None:
    written = []
    for i, value in enumerate(AWKWARD):
        with meta.write() as conn:
            written.append(
                log.append(
                    conn,
                    actor="ünïcode-actor ✓",
                    action="value.test",
                    target=f"values/{i}",
                    before=value,
                    after={"wrapped": value, "i": i},
                )
            )
    read = log.list(limit=100, newest_first=False)
    assert read == written
    for value, entry in zip(AWKWARD, read, strict=True):
        assert _same(entry.before, value), (entry.before, value)
        assert entry.actor == "ünïcode-actor ✓"
    result = log.verify()
    assert result.ok, result
    assert result.checked == len(AWKWARD)


def test_non_json_numbers_are_invalid_input(log: AuditLog, meta: MetadataStore) -> None:
    for bad in [math.nan, math.inf, -math.inf, {"x": [math.nan]}]:
        with pytest.raises(InvalidInputError), meta.write() as conn:
            log.append(conn, actor="a", action="x", target="t", after=bad)
    assert seqs(meta) == []
    assert log.verify().ok


def test_nul_characters_are_invalid_input_on_every_backend(
    log: AuditLog, meta: MetadataStore
) -> None:
    """PostgreSQL cannot store NUL in JSONB or text; SQLite could, so both refuse it alike."""
    with pytest.raises(InvalidInputError), meta.write() as conn:
        log.append(conn, actor="a", action="x", target="t", after={"k": "a\x00b"})
    with pytest.raises(InvalidInputError), meta.write() as conn:
        log.append(conn, actor="a", action="x", target="t", before={"a\x00b": 1})
    # A literal backslash-u-0000 text is not a NUL and is fine.
    with meta.write() as conn:
        log.append(conn, actor="a", action="x", target="t", after={"k": "C:\\u0000"})
    assert log.list()[0].after == {"k": "C:\\u0000"}
    assert log.verify().ok


INVALID_FIELDS: list[tuple[str, Any]] = [
    ("actor", ""),
    ("actor", None),
    ("actor", "a" * 201),
    ("actor", "a\x00b"),
    ("action", "x" * 65),
    ("action", 5),
    ("target", "t" * 501),
    ("target", "models/a\x00"),
]


def test_invalid_actor_action_target_are_invalid_input(log: AuditLog, meta: MetadataStore) -> None:
    """The same limits on every backend (SQLite does not enforce column sizes by itself)."""
    for field, value in INVALID_FIELDS:
        fields: dict[str, Any] = {"actor": "alice", "action": "x", "target": "t", field: value}
        with pytest.raises(InvalidInputError) as info, meta.write() as conn:
            log.append(conn, **fields)
        assert info.value.field == field, (field, value)
    assert seqs(meta) == []
    longest = {"actor": "a" * 200, "action": "x" * 64, "target": "t" * 500}
    with meta.write() as conn:
        log.append(conn, **longest)
    assert log.list()[0].actor == "a" * 200
    assert log.verify().ok


def test_non_json_objects_are_stored_as_text(log: AuditLog, meta: MetadataStore) -> None:
    import datetime as dt

    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    with meta.write() as conn:
        entry = log.append(conn, actor="a", action="x", target="t", after={"when": when})
    assert entry.after == {"when": str(when)}
    assert log.list()[0].after == {"when": str(when)}
    assert log.verify().ok


# --- listing ------------------------------------------------------------------------------------


def test_list_filters(log: AuditLog, meta: MetadataStore) -> None:
    rows = [
        ("models/a", "model.create"),
        ("models/a/versions/1", "version.create"),
        ("models/ab", "model.create"),
        ("models/a_b", "model.create"),
        ("models/aXb/versions/1", "version.create"),
        ("datasets/a", "dataset.create"),
        ("models/a", "model.update"),
    ]
    for target, action in rows:
        with meta.write() as conn:
            log.append(conn, actor="alice", action=action, target=target)

    def targets(**kw: Any) -> list[str]:
        return [e.target for e in log.list(**kw)]

    assert targets(target="models/a") == ["models/a", "models/a/versions/1", "models/a"]
    assert targets(target="models/a_b") == ["models/a_b"]  # '_' is no wildcard
    assert targets(target="models/a%") == []  # neither is '%'
    assert targets(action="model.create") == ["models/a_b", "models/ab", "models/a"]
    assert targets(target="models/a", action="model.update") == ["models/a"]
    assert targets(limit=2) == ["models/a", "datasets/a"]
    assert targets(limit=2, newest_first=False) == ["models/a", "models/a/versions/1"]
    assert [e.seq for e in log.list()] == [7, 6, 5, 4, 3, 2, 1]
    assert targets(target="nothing") == []


def test_list_limit_out_of_range_is_invalid_input(log: AuditLog) -> None:
    for limit in [0, -1, 10**9, 100_001]:
        with pytest.raises(InvalidInputError):
            log.list(limit=limit)


def test_list_limit_bounds_are_accepted(log: AuditLog) -> None:
    append(log, 2)
    assert len(log.list(limit=1)) == 1
    assert len(log.list(limit=100_000)) == 2
