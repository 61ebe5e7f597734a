"""The metadata store's shared patterns on every backend: insert-or-ignore, get-or-create and
version counters (``stores/metadata/repository.py``), database errors translated at the store's
boundary (``translate.py``), no I/O before first use, the 0003 migration's counter backfill and
the 0005 migration's param numbers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelplane.core.sql import inserted_id
from modelplane.errors import ConflictError, UnavailableError
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.migrations import HEAD_REVISION
from modelplane.stores.metadata.migrations.runner import upgrade
from modelplane.stores.metadata.repository import claim_next, get_or_create, insert_or_ignore
from modelplane.stores.metadata.schema import dataset_versions, datasets, experiments
from modelplane.stores.metadata.translate import RETRY_AFTER_S


@pytest.fixture
def store(db_url: str) -> Iterator[MetadataStore]:
    s = MetadataStore(db_url)
    yield s
    s.dispose()


def _dataset(conn: sa.Connection, name: str) -> int:
    return get_or_create(conn, datasets, key="name", value=name, defaults={"created_at": 1}).id


# --- the patterns -------------------------------------------------------------------------------


def test_insert_or_ignore_tells_whether_it_inserted(store: MetadataStore) -> None:
    with store.write() as conn:
        assert insert_or_ignore(conn, experiments, {"name": "e", "created_at": 1}, keys=("name",))
        assert not insert_or_ignore(
            conn, experiments, {"name": "e", "created_at": 2}, keys=("name",)
        )
    with store.read() as conn:
        rows = conn.execute(sa.select(experiments.c.name, experiments.c.created_at)).all()
    assert [tuple(r) for r in rows] == [("e", 1)]  # the first row, untouched


def test_get_or_create_creates_once(store: MetadataStore) -> None:
    with store.write() as conn:
        first = get_or_create(conn, datasets, key="name", value="d", defaults={"created_at": 5})
        again = get_or_create(conn, datasets, key="name", value="d", defaults={"created_at": 9})
    assert first.created and not again.created
    assert first.id == again.id
    with store.write() as conn:
        later = get_or_create(conn, datasets, key="name", value="d", defaults={"created_at": 9})
        other = get_or_create(conn, datasets, key="name", value="e", defaults={"created_at": 9})
    assert (later.id, later.created) == (first.id, False)
    assert other.created and other.id != first.id


def test_claim_next_counts_and_rolls_back(store: MetadataStore) -> None:
    with store.write() as conn:
        ds = _dataset(conn, "d")
        assert [claim_next(conn, datasets, "last_version", ds) for _ in range(3)] == [1, 2, 3]

    class Abort(Exception):
        pass

    with pytest.raises(Abort), store.write() as conn:
        assert claim_next(conn, datasets, "last_version", ds) == 4
        raise Abort  # a rolled-back claim gives its number back
    with store.write() as conn:
        assert claim_next(conn, datasets, "last_version", ds, created_at=7) == 4
        assert conn.execute(sa.select(datasets.c.created_at)).scalar_one() == 7


def test_first_use_from_many_threads_opens_once(db_url: str) -> None:
    store = MetadataStore(db_url)
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def use() -> None:
        start.wait()
        try:
            with store.write() as conn:
                insert_or_ignore(conn, experiments, {"name": "x", "created_at": 1}, keys=("name",))
        except BaseException as exc:  # collected: a failure in a thread must fail the test
            errors.append(exc)

    workers = [threading.Thread(target=use) for _ in range(6)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    try:
        assert errors == []
        assert store.current_revision() == HEAD_REVISION
    finally:
        store.dispose()


def test_constructing_does_no_io(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet"
    store = MetadataStore(f"sqlite:///{folder / 'm.db'}")
    assert not folder.exists()
    with store.read():
        pass
    assert (folder / "m.db").is_file()
    store.dispose()
    # An unreachable server is only contacted on first use.
    MetadataStore("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=1").dispose()


# --- translation --------------------------------------------------------------------------------


def test_unhandled_integrity_violation_is_a_conflict_naming_the_table(
    store: MetadataStore,
) -> None:
    with store.write() as conn:
        conn.execute(experiments.insert().values(name="dup", created_at=1))
    with pytest.raises(ConflictError) as info, store.write() as conn:
        conn.execute(experiments.insert().values(name="dup", created_at=2))
    assert info.value.http_status == 409
    assert info.value.details["table"] == "experiments"
    assert "constraint" in info.value.details
    assert "experiments" in info.value.message

    ph = store.placeholder
    with pytest.raises(ConflictError) as raw, store.raw_write() as cur:
        cur.execute(f"INSERT INTO experiments (name, created_at) VALUES ({ph}, {ph})", ("dup", 3))
    assert raw.value.details["table"] == "experiments"


def test_migration_backfills_the_dataset_counter(db_url: str) -> None:
    old = MetadataStore(db_url, migrate=False)
    with old.engine.connect() as conn:  # the schema as an 0002 store left it
        upgrade(conn, "0002")
    with old.engine.begin() as conn:
        ids = [
            inserted_id(conn.execute(datasets.insert().values(name=name, created_at=1)))
            for name in ("three", "none")
        ]
        for version in (1, 2, 3):
            conn.execute(
                dataset_versions.insert().values(
                    dataset_id=ids[0],
                    version=version,
                    content_hash=f"h{version}",
                    artifact_key=f"datasets/three/h{version}.parquet",
                    num_rows=1,
                    num_columns=1,
                    schema={},
                    profile={},
                    created_at=1,
                )
            )
    old.dispose()

    store = MetadataStore(db_url)
    try:
        assert store.current_revision() == HEAD_REVISION
        with store.read() as conn:
            counters = dict(conn.execute(sa.select(datasets.c.name, datasets.c.last_version)).all())
        assert counters == {"three": 3, "none": 0}
        with store.write() as conn:
            assert claim_next(conn, datasets, "last_version", ids[0]) == 4
    finally:
        store.dispose()


def test_migration_0005_keeps_old_params_as_strings_with_their_numbers(db_url: str) -> None:
    """Params stored as text before 0005 stay strings; those spelling a finite number get it,
    so numeric filters see them; existing runs are not deleted."""
    old = MetadataStore(db_url, migrate=False)
    with old.engine.connect() as conn:  # the schema as an 0004 store left it
        upgrade(conn, "0004")
    with old.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO experiments (name, created_at) VALUES ('e', 1)"))
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, experiment_id, name, status, start_time) "
                "VALUES ('r1', (SELECT id FROM experiments), 'old', 'FINISHED', 1)"
            )
        )
        for key, value in (("C", "1.0"), ("n", "3"), ("s", "lbfgs"), ("x", "nan"), ("e", "1e-3")):
            conn.execute(
                sa.text("INSERT INTO run_params (run_id, key, value) VALUES ('r1', :k, :v)"),
                {"k": key, "v": value},
            )
    old.dispose()

    store = MetadataStore(db_url)
    try:
        assert store.current_revision() == HEAD_REVISION
        with store.read() as conn:
            rows = conn.execute(sa.text("SELECT key, num, value_json FROM run_params")).all()
            deleted = conn.execute(sa.text("SELECT deleted_at FROM runs")).scalar()
        assert {k: n for k, n, _ in rows} == {"C": 1.0, "n": 3.0, "s": None, "x": None, "e": 1e-3}
        assert all(j is None for _, _, j in rows) and deleted is None
    finally:
        store.dispose()


# --- connections lost (PostgreSQL) --------------------------------------------------------------


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[MetadataStore]:
    s = MetadataStore(pg_url)
    yield s
    s.dispose()


def _terminate(pg_server: str, pid: int) -> None:
    """Kill a server process and wait until it is gone, as a crash or restart would."""
    import psycopg

    with psycopg.connect(pg_server.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, f"server process {pid} did not exit"
            time.sleep(0.01)


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["read", "write"])
def test_connection_killed_mid_transaction_is_unavailable_then_recovers(
    pg_store: MetadataStore, pg_server: str, how: str
) -> None:
    use = pg_store.read if how == "read" else pg_store.write
    with pytest.raises(UnavailableError) as info, use() as conn:
        pid = int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        _terminate(pg_server, pid)
        conn.execute(sa.text("SELECT 1"))
    assert info.value.http_status == 503
    assert info.value.details["retry_after"] == RETRY_AFTER_S
    assert info.value.message.startswith("metadata database unavailable")
    for _ in range(3):  # the dead connection was discarded: every later use works
        with pg_store.write() as conn:
            insert_or_ignore(conn, experiments, {"name": "ok", "created_at": 1}, keys=("name",))


@pytest.mark.postgres
def test_raw_connection_killed_mid_transaction_is_unavailable_then_recovers(
    pg_store: MetadataStore, pg_server: str
) -> None:
    with pytest.raises(UnavailableError), pg_store.raw_write() as cur:
        cur.execute("SELECT pg_backend_pid()")
        _terminate(pg_server, int(cur.fetchone()[0]))
        cur.execute("SELECT 1")
    for _ in range(3):
        with pg_store.raw_write() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone()[0] == 1


@pytest.mark.postgres
def test_idle_pooled_connections_killed_are_replaced(
    pg_store: MetadataStore, pg_server: str
) -> None:
    """What a PostgreSQL restart does to the pool: every idle connection is dead. The next
    request must not see it (pre-ping replaces it)."""
    with pg_store.read() as conn:
        pid = int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
    _terminate(pg_server, pid)
    with pg_store.read() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    with pg_store.raw_write() as cur:
        cur.execute("SELECT 1")
