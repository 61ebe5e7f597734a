"""Contract of the metadata store on every backend (SQLite file, real PostgreSQL schema):
automatic migrations (fresh, reopen, concurrent first open), schema parity with
``schema.metadata``, SQLite connection settings, URL/backend errors and transactions."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelplane.errors import BackendError, ConflictError, InvalidInputError
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata import schema as schema_mod
from modelplane.stores.metadata.migrations import HEAD_REVISION
from modelplane.stores.metadata.migrations import runner as runner_mod

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def _versions(store: MetadataStore) -> list[str]:
    with store.read() as conn:
        return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def _count(store: MetadataStore, table: str) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def _add_experiment(conn: sa.Connection, name: str) -> None:
    conn.execute(schema_mod.experiments.insert().values(name=name, created_at=1))


def _experiment_names(store: MetadataStore) -> list[str]:
    t = schema_mod.experiments
    with store.read() as conn:
        return list(conn.execute(sa.select(t.c.name).order_by(t.c.name)).scalars())


@pytest.fixture
def store(db_url: str) -> Iterator[MetadataStore]:
    s = MetadataStore(db_url)
    yield s
    s.dispose()


# --- migrations ------------------------------------------------------------------------------


def test_fresh_store_is_migrated_to_head(db_url: str) -> None:
    unmigrated = MetadataStore(db_url, migrate=False)
    try:
        assert unmigrated.current_revision() is None
    finally:
        unmigrated.dispose()

    store = MetadataStore(db_url)
    try:
        assert store.current_revision() == HEAD_REVISION
        assert _versions(store) == [HEAD_REVISION]
        with store.read() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        assert set(schema_mod.metadata.tables) | {"alembic_version"} == tables
        # The audit chain head is created by the migration, exactly once.
        assert _count(store, "audit_head") == 1
    finally:
        store.dispose()


def test_reopen_is_a_noop(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first = MetadataStore(db_url)
    with first.write() as conn:
        _add_experiment(conn, "kept")
    first.dispose()

    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("an up-to-date store must not run migrations")

    monkeypatch.setattr(runner_mod, "upgrade", boom)
    again = MetadataStore(db_url)
    try:
        assert again.current_revision() == HEAD_REVISION
        assert _versions(again) == [HEAD_REVISION]
        assert _experiment_names(again) == ["kept"]
        again.migrate()  # explicit call: also a no-op
        assert _count(again, "audit_head") == 1
    finally:
        again.dispose()


_IMPORT_PROBE = """
    import sys
    from modelplane.stores.metadata import MetadataStore
    store = MetadataStore(sys.argv[1])
    assert store.current_revision() == sys.argv[2], store.current_revision()
    print(sorted(m for m in sys.modules if m == "alembic" or m.startswith("alembic.")))
"""


def test_opening_an_up_to_date_store_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    # Control: a fresh store does need Alembic (so the probe below can see it).
    fresh = _run_python(_IMPORT_PROBE, url, HEAD_REVISION)
    assert fresh.returncode == 0, fresh.stderr
    assert "'alembic'" in fresh.stdout

    again = _run_python(_IMPORT_PROBE, url, HEAD_REVISION)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "[]"


def test_head_revision_matches_the_alembic_scripts() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(runner_mod.alembic_config())
    heads = scripts.get_heads()
    assert len(heads) == 1, f"migration history has several heads: {heads}"
    assert heads[0] == HEAD_REVISION
    assert scripts.get_current_head() == HEAD_REVISION


def test_migrated_schema_matches_schema_metadata(store: MetadataStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, schema_mod.metadata)
    assert diff == []


def test_schema_comparison_would_notice_a_difference(store: MetadataStore) -> None:
    """Guards the test above against comparing nothing: a drifted copy shows a difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    drifted = sa.MetaData()
    for table in schema_mod.metadata.tables.values():
        table.to_metadata(drifted)
    sa.Table("not_migrated", drifted, sa.Column("id", sa.Integer, primary_key=True))
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, drifted)
    assert [d[0] for d in diff] == ["add_table"]


_CONCURRENT_OPEN = """
    import os, sys, time
    url, barrier = sys.argv[1], sys.argv[2]
    from modelplane.stores.metadata import MetadataStore
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(barrier):
        if time.monotonic() > deadline:
            sys.exit("barrier never opened")
        time.sleep(0.001)
    store = MetadataStore(url)
    print(store.current_revision(), flush=True)
"""


def test_concurrent_first_open_migrates_once(db_url: str, tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    barrier = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_CONCURRENT_OPEN), db_url, str(barrier)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    try:
        for p in procs:  # every interpreter has imported modelplane; release them together
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        barrier.touch()
        results = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == HEAD_REVISION
    store = MetadataStore(db_url, migrate=False)
    try:
        assert _versions(store) == [HEAD_REVISION]
        assert _count(store, "audit_head") == 1
        assert store.current_revision() == HEAD_REVISION
    finally:
        store.dispose()


def test_store_at_an_unknown_newer_revision_is_a_backend_error(db_url: str) -> None:
    store = MetadataStore(db_url)
    with store.write() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    store.dispose()
    again = MetadataStore(db_url)  # no I/O yet: the migration check runs on first use
    try:
        with pytest.raises(BackendError, match="9999"), again.read():
            pass
    finally:
        again.dispose()


# --- SQLite connection settings ---------------------------------------------------------------


def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        for ctx in (store.read, store.write):
            with ctx() as conn:
                pragma = {
                    name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                    for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
                }
            assert str(pragma["journal_mode"]).lower() == "wal"
            assert pragma["foreign_keys"] == 1
            assert int(pragma["busy_timeout"]) > 0
            assert pragma["synchronous"] == 1  # NORMAL
    finally:
        store.dispose()


def test_sqlite_write_takes_the_write_lock_at_begin(tmp_path: Path) -> None:
    """``write()`` starts with BEGIN IMMEDIATE: another writer is locked out before the first
    statement, so two writers can never dead-lock upgrading a read lock."""
    path = tmp_path / "m.db"
    store = MetadataStore(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with store.write(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once the block ended
        other.execute("ROLLBACK")
    finally:
        other.close()
        store.dispose()


def test_sqlite_foreign_keys_are_enforced(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        with pytest.raises(ConflictError), store.write() as conn:
            conn.execute(
                schema_mod.runs.insert().values(
                    id="r1", experiment_id=999, name="r", status="RUNNING", start_time=1
                )
            )
    finally:
        store.dispose()


# --- bad URLs and unreachable backends -------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "nosuchdb://x",
        "not a url",
        "mysql://user:hunter2@localhost/db",
        "mysql+pymysql://user:hunter2@localhost/db",
        "postgresql://user:hunter2@localhost:notaport/db",
        "postgresql+nosuchdriver://user:hunter2@localhost/db",
        "sqlite+nosuchdriver:///x.db",
        "",
    ],
)
def test_bad_url_is_invalid_input(url: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        MetadataStore(url)
    assert info.value.field == "db_url"
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("driver", ["postgresql", "postgresql+psycopg"])
def test_unreachable_postgres_is_a_backend_error_without_password(driver: str) -> None:
    url = f"{driver}://postgres:s3cr3t-pw@127.0.0.1:1/test?connect_timeout=3"
    started = time.monotonic()
    store = MetadataStore(url)  # constructing connects to nothing; first use does
    with pytest.raises(BackendError) as info, store.read():
        pass
    assert time.monotonic() - started < 10
    assert "s3cr3t-pw" not in str(info.value)
    assert "s3cr3t-pw" not in repr(info.value.to_dict())
    assert "127.0.0.1" in str(info.value)


def test_sqlite_file_that_is_not_a_database_is_a_backend_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a SQLite database, just some bytes " * 100)
    store = MetadataStore(f"sqlite:///{path}")
    with pytest.raises(BackendError, match="not a database"), store.read():
        pass


def test_sqlite_folder_that_cannot_be_created_is_a_backend_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder is needed")
    store = MetadataStore(f"sqlite:///{blocker / 'sub' / 'm.db'}")
    with pytest.raises(BackendError), store.write():
        pass


# --- transactions ----------------------------------------------------------------------------


def test_write_commits_on_success(store: MetadataStore) -> None:
    with store.write() as conn:
        _add_experiment(conn, "a")
        _add_experiment(conn, "b")
    assert _experiment_names(store) == ["a", "b"]


def test_write_rolls_back_on_exception(store: MetadataStore) -> None:
    with store.write() as conn:
        _add_experiment(conn, "before")
    with pytest.raises(RuntimeError, match="boom"), store.write() as conn:
        _add_experiment(conn, "lost-1")
        _add_experiment(conn, "lost-2")
        raise RuntimeError("boom")
    assert _experiment_names(store) == ["before"]
    # The pooled connection is clean: the next write works and commits.
    with store.write() as conn:
        _add_experiment(conn, "after")
    assert _experiment_names(store) == ["after", "before"]


def test_write_rolls_back_on_database_error(store: MetadataStore) -> None:
    with pytest.raises(ConflictError), store.write() as conn:
        _add_experiment(conn, "dup")
        _add_experiment(conn, "dup")
    assert _experiment_names(store) == []


def _raw_insert(store: MetadataStore, cur: object, name: str) -> None:
    ph = store.placeholder
    cur.execute(  # type: ignore[attr-defined]
        f"INSERT INTO experiments (name, created_at) VALUES ({ph}, {ph})", (name, 1)
    )


def test_raw_write_commits_on_success(store: MetadataStore) -> None:
    with store.raw_write() as cur:
        _raw_insert(store, cur, "x")
        _raw_insert(store, cur, "y")
    assert _experiment_names(store) == ["x", "y"]


def test_raw_write_rolls_back_on_exception(store: MetadataStore) -> None:
    with store.raw_write() as cur:
        _raw_insert(store, cur, "kept")
    for _ in range(3):  # several times: the pooled connection must come back clean each time
        with pytest.raises(RuntimeError, match="boom"), store.raw_write() as cur:
            _raw_insert(store, cur, "lost")
            raise RuntimeError("boom")
    assert _experiment_names(store) == ["kept"]
    with store.raw_write() as cur:
        _raw_insert(store, cur, "later")
    assert _experiment_names(store) == ["kept", "later"]


def test_raw_write_rolls_back_on_database_error(store: MetadataStore) -> None:
    with pytest.raises(ConflictError), store.raw_write() as cur:
        _raw_insert(store, cur, "dup")
        _raw_insert(store, cur, "dup")
    assert _experiment_names(store) == []
    with store.raw_write() as cur:
        _raw_insert(store, cur, "ok")
    assert _experiment_names(store) == ["ok"]


def test_read_does_not_persist_changes(store: MetadataStore) -> None:
    with store.read() as conn:
        _add_experiment(conn, "ghost")
    assert _experiment_names(store) == []
