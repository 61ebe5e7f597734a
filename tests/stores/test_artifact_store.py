"""Contract of the artifact store on every backend (local folder, S3 over HTTP via moto):
round trips, checksum records, immutability, hostile keys, tampering, missing objects, and the
local backend's symlink and crash-atomicity guarantees."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelplane.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    ModelplaneError,
    NotFoundError,
)
from modelplane.stores.artifacts import ArtifactInfo, ArtifactStore, open_artifact_store
from modelplane.stores.artifacts.local import LocalArtifactStore
from modelplane.stores.metadata import MetadataStore

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetadataStore]:
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    yield store
    store.dispose()


@pytest.fixture
def store(artifacts_root: str, meta: MetadataStore) -> ArtifactStore:
    return open_artifact_store(artifacts_root, meta)


@pytest.fixture
def local_store(tmp_path: Path, meta: MetadataStore) -> LocalArtifactStore:
    store = open_artifact_store(str(tmp_path / "store"), meta)
    assert isinstance(store, LocalArtifactStore)
    return store


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- reaching behind the store's back ----------------------------------------------------------


def _s3_location(store: ArtifactStore, key: str) -> tuple[str, str]:
    bucket, _, prefix = store.root.removeprefix("s3://").partition("/")
    return bucket, f"{prefix}/{key}" if prefix else key


def _s3_client() -> object:
    import boto3

    # The endpoint the store was told to use: the object must be found there.
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def backend_read(store: ArtifactStore, key: str) -> bytes:
    if isinstance(store, LocalArtifactStore):
        return (store.path / key).read_bytes()
    bucket, name = _s3_location(store, key)
    return _s3_client().get_object(Bucket=bucket, Key=name)["Body"].read()  # type: ignore[attr-defined,no-any-return]


def backend_write(store: ArtifactStore, key: str, data: bytes) -> None:
    if isinstance(store, LocalArtifactStore):
        (store.path / key).write_bytes(data)
        return
    bucket, name = _s3_location(store, key)
    _s3_client().put_object(Bucket=bucket, Key=name, Body=data)  # type: ignore[attr-defined]


def backend_delete(store: ArtifactStore, key: str) -> None:
    if isinstance(store, LocalArtifactStore):
        (store.path / key).unlink()
        return
    bucket, name = _s3_location(store, key)
    _s3_client().delete_object(Bucket=bucket, Key=name)  # type: ignore[attr-defined]


def backend_keys(store: ArtifactStore) -> set[str]:
    if isinstance(store, LocalArtifactStore):
        if not store.path.exists():
            return set()
        return {p.relative_to(store.path).as_posix() for p in store.path.rglob("*") if p.is_file()}
    bucket, prefix = _s3_location(store, "")
    listing = _s3_client().list_objects_v2(Bucket=bucket, Prefix=prefix)  # type: ignore[attr-defined]
    return {obj["Key"].removeprefix(prefix) for obj in listing.get("Contents", [])}


# --- round trips ---------------------------------------------------------------------------------


def test_bytes_round_trip_and_record(store: ArtifactStore) -> None:
    data = b"\x00\x01binary\xff" * 1000
    info = store.put_bytes("runs/r1/artifacts/blob.bin", data)
    assert info == ArtifactInfo("runs/r1/artifacts/blob.bin", sha(data), len(data))
    assert store.record("runs/r1/artifacts/blob.bin") == info
    assert store.get_bytes("runs/r1/artifacts/blob.bin") == data
    assert store.exists("runs/r1/artifacts/blob.bin")
    # The bytes really are in the backend (for S3: on the server AWS_ENDPOINT_URL names).
    assert backend_read(store, "runs/r1/artifacts/blob.bin") == data


def test_empty_artifact_round_trip(store: ArtifactStore) -> None:
    info = store.put_bytes("empty.txt", b"")
    assert info.size == 0 and info.sha256 == sha(b"")
    assert store.get_bytes("empty.txt") == b""


def test_file_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # several read chunks
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    info = store.put_file("models/m/1/model.bin", src)
    assert (info.sha256, info.size) == (sha(data), len(data))
    dest = tmp_path / "out" / "deep" / "model.bin"
    assert store.get_file("models/m/1/model.bin", dest) == dest
    assert dest.read_bytes() == data
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.bin"]  # no temp files left


def test_put_file_rejects_a_folder_or_missing_path(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        store.put_file("a/b", tmp_path)
    with pytest.raises(InvalidInputError):
        store.put_file("a/b", tmp_path / "missing")
    assert store.record("a/b") is None


def test_dir_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "model"
    (src / "sub" / "deeper").mkdir(parents=True)
    contents = {
        "MLmodel": b"flavor: sklearn\n",
        "model.pkl": os.urandom(5000),
        "sub/a.json": b'{"a": 1}',
        "sub/deeper/empty": b"",
    }
    for rel, data in contents.items():
        (src / rel).write_bytes(data)
    (src / "link").symlink_to(src / "model.pkl")  # symlinks are not followed into the store

    files = store.put_dir("models/m/1", src)
    assert files == {rel: sha(data) for rel, data in contents.items()}
    assert list(store.keys("models/m/1/")) == sorted(f"models/m/1/{rel}" for rel in contents)

    dest = tmp_path / "fetched"
    assert store.get_dir("models/m/1", files, dest) == dest
    fetched = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert fetched == set(contents)
    for rel, data in contents.items():
        assert (dest / rel).read_bytes() == data


def test_keys_by_prefix(store: ArtifactStore) -> None:
    for key in ["a/1", "a/2", "a_b/1", "ab/1", "b/1", "ax/1"]:
        store.put_bytes(key, key.encode())
    assert list(store.keys()) == ["a/1", "a/2", "a_b/1", "ab/1", "ax/1", "b/1"]
    assert list(store.keys("a/")) == ["a/1", "a/2"]
    assert list(store.keys("a_")) == ["a_b/1"]  # '_' is not a LIKE wildcard here
    assert list(store.keys("a")) == ["a/1", "a/2", "a_b/1", "ab/1", "ax/1"]
    assert list(store.keys("zzz")) == []


def test_delete(store: ArtifactStore) -> None:
    store.put_bytes("tmp/x", b"x")
    store.delete("tmp/x")
    assert not store.exists("tmp/x")
    assert store.record("tmp/x") is None
    assert "tmp/x" not in backend_keys(store)
    with pytest.raises(NotFoundError):
        store.get_bytes("tmp/x")
    store.put_bytes("tmp/x", b"other bytes are fine after a delete")
    assert store.get_bytes("tmp/x") == b"other bytes are fine after a delete"


def test_put_dir_rejects_a_missing_folder(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        store.put_dir("models/m/1", tmp_path / "missing")
    with pytest.raises(InvalidInputError):
        store.put_dir("models/m/1", _file(tmp_path / "a-file", b"x"))


def test_put_dir_does_not_follow_symlinked_folders(store: ArtifactStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    _file(outside / "secret", b"secret")
    src = tmp_path / "model"
    src.mkdir()
    _file(src / "model.bin", b"model")
    (src / "linked").symlink_to(outside, target_is_directory=True)
    assert store.put_dir("models/m/1", src) == {"model.bin": sha(b"model")}
    assert list(store.keys()) == ["models/m/1/model.bin"]


# --- immutability ----------------------------------------------------------------------------


def test_same_bytes_twice_is_a_noop(store: ArtifactStore, tmp_path: Path) -> None:
    first = store.put_bytes("k/v", b"same")
    src = tmp_path / "same"
    src.write_bytes(b"same")
    assert store.put_file("k/v", src) == first
    assert store.put_bytes("k/v", b"same") == first
    assert list(store.keys()) == ["k/v"]


def test_different_bytes_conflict(store: ArtifactStore) -> None:
    original = store.put_bytes("k/v", b"original")
    with pytest.raises(ConflictError):
        store.put_bytes("k/v", b"changed")
    assert store.record("k/v") == original
    assert store.get_bytes("k/v") == b"original"
    assert backend_read(store, "k/v") == b"original"


def test_conflict_is_detected_when_a_concurrent_writer_recorded_first(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers of one key with different bytes: the second one's check ran before the first
    one recorded its checksum. The loser must get ConflictError (not a silent success that
    returns a checksum the store does not hold), and reads never hand out unverified bytes."""
    first = store.put_bytes("k/race", b"writer A")
    real_record = store.record
    calls = {"n": 0}

    def stale_record(key: str) -> ArtifactInfo | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else real_record(key)

    monkeypatch.setattr(store, "record", stale_record)
    with pytest.raises(ConflictError):
        store.put_bytes("k/race", b"writer B")
    monkeypatch.undo()
    assert store.record("k/race") == first
    try:
        assert store.get_bytes("k/race") == b"writer A"
    except IntegrityError:
        pass  # B's bytes reached the backend: refused, never returned


def test_concurrent_puts_of_the_same_bytes_all_succeed(db_url: str, tmp_path: Path) -> None:
    import threading

    meta = MetadataStore(db_url)
    try:
        store = open_artifact_store(str(tmp_path / "store"), meta)
        barrier = threading.Barrier(6)
        results: list[object] = []

        def put(i: int) -> None:
            barrier.wait()
            try:
                results.append(store.put_bytes(f"shared/{i % 2}", b"same bytes %d" % (i % 2)))
            except Exception as exc:
                results.append(exc)

        threads = [threading.Thread(target=put, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert all(isinstance(r, ArtifactInfo) for r in results), results
        assert len(results) == 6
        assert list(store.keys()) == ["shared/0", "shared/1"]
        assert store.get_bytes("shared/1") == b"same bytes 1"
    finally:
        meta.dispose()


def test_same_bytes_restore_an_object_lost_from_the_backend(store: ArtifactStore) -> None:
    store.put_bytes("k/v", b"payload")
    backend_delete(store, "k/v")
    store.put_bytes("k/v", b"payload")
    assert store.get_bytes("k/v") == b"payload"


# --- hostile keys ----------------------------------------------------------------------------

HOSTILE = [
    "../x",
    "a/../../etc/passwd",
    "/etc/passwd",
    "C:\\x",
    "C:x",
    "a\\b",
    "%2e%2e/x",
    "a/%2F/b",
    "..%2fx",
    "file:///etc/passwd",
    "s3://other/x",
    "a//b",
    "a/",
    "./a",
    "a/.",
    "a/./b",
    "..",
    ".",
    "~/x",
    "",
    "a\x00b",
    "a\nb",
    "a\rb",
    "a\tb",
    "a b",
    "a" * 2000,
    "a/" * 600 + "b",
    "a/\u2025/b",  # two dot leader
    "\uff0e\uff0e/x",  # fullwidth full stops
    "a/\u2024\u2024/b",  # one dot leader
    "\u0430/b",  # Cyrillic a
    "a/b\u200b",  # zero-width space
    ".hidden",
    "-rf",
    None,
    5,
    b"x",
    ["a"],
    Path("a/b"),
]


class _Untouchable:
    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the backend was touched ({name}) for a hostile key")


@pytest.fixture
def sealed(store: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> ArtifactStore:
    """The store with its backend primitives and metadata store booby-trapped."""

    def trap(*_a: object, **_k: object) -> None:
        raise AssertionError("the backend was touched for a hostile key")

    for name in ("_write_file", "_open_read", "_exists", "_delete", "_record", "uri"):
        monkeypatch.setattr(store, name, trap)
    monkeypatch.setattr(store, "meta", _Untouchable())
    return store


def _hostile_calls(
    store: ArtifactStore, key: Any, tmp_path: Path
) -> dict[str, Callable[[], object]]:
    src = tmp_path / "src" / "file"
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(b"payload")
    good = sha(b"payload")
    calls: dict[str, Callable[[], object]] = {
        "put_bytes": lambda: store.put_bytes(key, b"payload"),
        "put_file": lambda: store.put_file(key, src),
        "get_bytes": lambda: store.get_bytes(key),
        "get_bytes(expected)": lambda: store.get_bytes(key, expected_sha256=good),
        "get_file": lambda: store.get_file(key, tmp_path / "dest" / "f", expected_sha256=good),
        "exists": lambda: store.exists(key),
        "delete": lambda: store.delete(key),
        "record": lambda: store.record(key),
        "get_dir(prefix)": lambda: store.get_dir(key, {"f": good}, tmp_path / "dest" / "d1"),
        "put_dir(prefix)": lambda: store.put_dir(key, src.parent),
    }
    if isinstance(key, Hashable):
        files = {"fine": good, key: good}
        calls["get_dir(name)"] = lambda: store.get_dir("ok", files, tmp_path / "dest" / "d2")
    return calls


def test_hostile_keys_are_rejected_before_the_backend(
    sealed: ArtifactStore, tmp_path: Path
) -> None:
    for key in HOSTILE:
        for name, call in _hostile_calls(sealed, key, tmp_path).items():
            try:
                call()
            except InvalidInputError:
                continue
            pytest.fail(f"{name}({key!r}) was accepted")
    assert not (tmp_path / "dest").exists()  # nothing fetched, no folder created


def test_hostile_keys_leave_nothing_behind(store: ArtifactStore, tmp_path: Path) -> None:
    for key in HOSTILE:
        with pytest.raises(InvalidInputError):
            store.put_bytes(key, b"payload")  # type: ignore[arg-type]
    assert list(store.keys()) == []
    assert backend_keys(store) == set()


def test_valid_keys_are_accepted(store: ArtifactStore) -> None:
    """The allow-list is not so strict that ordinary names fail."""
    for key in ["a", "b/c/d.txt", "model_v1.2/weights-final.bin", "x/a+b=c", "_private/x", "9/8"]:
        store.put_bytes(key, key.encode())
        assert store.get_bytes(key) == key.encode()


# --- tampering and missing objects ------------------------------------------------------------


@pytest.mark.parametrize(
    "replacement", [b"evil", b"tampered!", b""], ids=["shorter", "same", "empty"]
)
def test_tampered_bytes_are_refused(
    store: ArtifactStore, tmp_path: Path, replacement: bytes
) -> None:
    store.put_bytes("models/m/1/model.pkl", b"tampered?")
    backend_write(store, "models/m/1/model.pkl", replacement)
    assert backend_read(store, "models/m/1/model.pkl") == replacement

    with pytest.raises(IntegrityError) as info:
        store.get_bytes("models/m/1/model.pkl")
    assert "models/m/1/model.pkl" in str(info.value)

    dest = tmp_path / "out" / "model.pkl"
    with pytest.raises(IntegrityError):
        store.get_file("models/m/1/model.pkl", dest)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no temp file either

    # A caller-supplied expected checksum is enforced the same way.
    with pytest.raises(IntegrityError):
        store.get_bytes("models/m/1/model.pkl", expected_sha256=sha(b"tampered?"))


def test_get_file_keeps_an_existing_destination_on_integrity_failure(
    store: ArtifactStore, tmp_path: Path
) -> None:
    store.put_bytes("k", b"good")
    backend_write(store, "k", b"bad!")
    dest = tmp_path / "dest"
    dest.write_bytes(b"previous")
    with pytest.raises(IntegrityError):
        store.get_file("k", dest)
    assert dest.read_bytes() == b"previous"


def test_get_dir_refetches_a_tampered_cached_file(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "weights.bin").write_bytes(b"weights" * 100)
    (src / "config.json").write_bytes(b"{}")
    files = store.put_dir("models/m/1", src)
    cache = tmp_path / "cache"
    store.get_dir("models/m/1", files, cache)

    (cache / "weights.bin").write_bytes(b"poisoned cache")
    (cache / "config.json").unlink()
    store.get_dir("models/m/1", files, cache)
    assert (cache / "weights.bin").read_bytes() == b"weights" * 100
    assert (cache / "config.json").read_bytes() == b"{}"

    # When the stored copy is tampered too, the poisoned cache is not accepted either.
    backend_write(store, "models/m/1/weights.bin", b"poisoned store")
    (cache / "weights.bin").write_bytes(b"poisoned cache")
    with pytest.raises(IntegrityError):
        store.get_dir("models/m/1", files, cache)
    assert (cache / "weights.bin").read_bytes() == b"poisoned cache"  # untouched, not replaced


def test_get_dir_checks_the_given_checksums(store: ArtifactStore, tmp_path: Path) -> None:
    store.put_bytes("p/f", b"real")
    with pytest.raises(IntegrityError):
        store.get_dir("p", {"f": sha(b"expected something else")}, tmp_path / "d")
    assert not (tmp_path / "d" / "f").exists()


def test_object_deleted_behind_the_store_is_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    store.put_bytes("k/gone", b"soon gone")
    backend_delete(store, "k/gone")
    assert not store.exists("k/gone")
    with pytest.raises(NotFoundError):
        store.get_bytes("k/gone")
    dest = tmp_path / "dest"
    with pytest.raises(NotFoundError):
        store.get_file("k/gone", dest)
    assert not dest.exists()
    assert list(tmp_path.glob(".mp-get-*")) == []


def test_unknown_key_is_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        store.get_bytes("never/stored")
    with pytest.raises(NotFoundError):
        store.get_file("never/stored", tmp_path / "x")
    assert store.record("never/stored") is None
    assert not store.exists("never/stored")


# --- backend selection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "root", ["ftp://x", "http://example.com/x", "gs://bucket/x", "s4://b", "file2://x"]
)
def test_unknown_scheme_is_invalid_input(root: str, meta: MetadataStore) -> None:
    with pytest.raises(InvalidInputError):
        open_artifact_store(root, meta)


def test_file_url_and_plain_path_are_local(tmp_path: Path, meta: MetadataStore) -> None:
    a = open_artifact_store(f"file://{tmp_path / 'a'}", meta)
    b = open_artifact_store(str(tmp_path / "b"), meta)
    assert isinstance(a, LocalArtifactStore) and a.path == (tmp_path / "a").resolve()
    assert isinstance(b, LocalArtifactStore) and b.path == (tmp_path / "b").resolve()


# --- local backend: symlinks -------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret").write_bytes(b"top secret, outside the store")
    return folder


def test_symlinked_folder_is_not_followed(local_store: LocalArtifactStore, outside: Path) -> None:
    local_store.put_bytes("models/ok", b"ok")  # creates the store folder
    (local_store.path / "planted").symlink_to(outside, target_is_directory=True)
    secret_sha = sha((outside / "secret").read_bytes())

    with pytest.raises(ModelplaneError):
        local_store.get_bytes("planted/secret", expected_sha256=secret_sha)
    with pytest.raises(ModelplaneError):
        local_store.get_file(
            "planted/secret", local_store.path.parent / "stolen", expected_sha256=secret_sha
        )
    assert not (local_store.path.parent / "stolen").exists()
    with pytest.raises(ModelplaneError):
        local_store.put_bytes("planted/new", b"written through a symlink")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert local_store.record("planted/new") is None
    with pytest.raises(ModelplaneError):
        local_store.delete("planted/secret")
    assert (outside / "secret").exists()


def test_symlink_to_etc_is_not_followed(local_store: LocalArtifactStore) -> None:
    local_store.put_bytes("x", b"x")
    (local_store.path / "models").symlink_to("/etc", target_is_directory=True)
    passwd = Path("/etc/passwd")
    expected = sha(passwd.read_bytes()) if passwd.exists() else "0" * 64
    with pytest.raises(ModelplaneError):
        local_store.get_bytes("models/passwd", expected_sha256=expected)
    with pytest.raises(ModelplaneError):
        local_store.put_bytes("models/modelplane-test-should-not-exist", b"x")
    assert not Path("/etc/modelplane-test-should-not-exist").exists()


def test_symlinked_file_is_not_followed(local_store: LocalArtifactStore, outside: Path) -> None:
    local_store.put_bytes("models/m/weights", b"weights")
    target = local_store.path / "models" / "m" / "weights"
    target.unlink()
    target.symlink_to(outside / "secret")
    with pytest.raises(ModelplaneError):
        local_store.get_bytes(
            "models/m/weights", expected_sha256=sha(b"top secret, outside the store")
        )
    # The recorded checksum path does not leak the outside file either.
    with pytest.raises(ModelplaneError):
        local_store.get_bytes("models/m/weights")


def test_symlinked_store_root_is_fine(tmp_path: Path, meta: MetadataStore) -> None:
    """The root itself may be a symlink (resolved once); only links *inside* are refused."""
    real = tmp_path / "real-store"
    real.mkdir()
    (tmp_path / "link-store").symlink_to(real, target_is_directory=True)
    store = open_artifact_store(str(tmp_path / "link-store"), meta)
    store.put_bytes("a/b", b"data")
    assert (real / "a" / "b").read_bytes() == b"data"
    assert store.get_bytes("a/b") == b"data"


def test_symlink_to_another_artifact_is_not_followed(local_store: LocalArtifactStore) -> None:
    local_store.put_bytes("models/a/w", b"model a")
    local_store.put_bytes("models/b/w", b"model b")
    shutil.rmtree(local_store.path / "models" / "b")
    (local_store.path / "models" / "b").symlink_to("a", target_is_directory=True)
    with pytest.raises(ModelplaneError):
        local_store.get_bytes("models/b/w", expected_sha256=sha(b"model a"))


def test_file_and_folder_with_one_name_conflict_locally(local_store: LocalArtifactStore) -> None:
    """A local folder cannot hold a file ``a`` and a folder ``a/``: a clear ConflictError, not
    an OSError, and the first artifact stays intact."""
    local_store.put_bytes("a", b"file a")
    with pytest.raises(ConflictError):
        local_store.put_bytes("a/b", b"below a")
    local_store.put_bytes("c/d", b"below c")
    with pytest.raises(ConflictError):
        local_store.put_bytes("c", b"file c")
    assert local_store.record("a/b") is None and local_store.record("c") is None
    assert local_store.get_bytes("a") == b"file a"
    assert local_store.get_bytes("c/d") == b"below c"
    assert sorted(_visible_files(local_store.path)) == ["a", "c/d"]  # no temp files left
    with pytest.raises(NotFoundError):
        local_store.get_bytes("a/b", expected_sha256=sha(b"below a"))
    with pytest.raises(NotFoundError):
        local_store.get_bytes("c", expected_sha256=sha(b"file c"))


def test_fifo_planted_under_a_key_does_not_hang_reads(local_store: LocalArtifactStore) -> None:
    import threading

    local_store.put_bytes("models/m/w", b"weights")
    target = local_store.path / "models" / "m" / "w"
    target.unlink()
    os.mkfifo(target)
    outcome: list[BaseException | bytes] = []

    def read() -> None:
        try:
            outcome.append(local_store.get_bytes("models/m/w"))
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the stuck reader so the test process can end
        os.close(os.open(target, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO planted under a key blocked")
    assert len(outcome) == 1 and isinstance(outcome[0], NotFoundError)
    assert not local_store.exists("models/m/w")


# --- local backend: crash atomicity -----------------------------------------------------------

_CHILD = """
    import sys
    from pathlib import Path
    from modelplane.stores.artifacts import open_artifact_store
    from modelplane.stores.metadata import MetadataStore

    meta = MetadataStore(sys.argv[1])
    store = open_artifact_store(sys.argv[2], meta)
    print("ready", flush=True)
    sys.stdin.readline()
    store.put_file("big/blob.bin", Path(sys.argv[3]))
    print("done", flush=True)
"""

_BIG = 200 * (1 << 20)


def _visible_files(root: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            try:
                out[path.relative_to(root).as_posix()] = path.stat().st_size
            except FileNotFoundError:
                pass
    return out


def test_put_file_is_atomic_when_the_writer_is_killed(tmp_path: Path, meta: MetadataStore) -> None:
    root = tmp_path / "store"
    src = tmp_path / "big.bin"
    with open(src, "wb") as fh:  # sparse: cheap to create, but 200 MB to copy
        fh.seek(_BIG - 5)
        fh.write(b"tail!")
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(meta.url), str(root), str(src)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.flush()
        partial: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and child.poll() is None:
            seen = _visible_files(root) if root.exists() else {}
            partial = {name: size for name, size in seen.items() if 0 < size < _BIG}
            if partial:
                child.send_signal(signal.SIGSTOP)  # freeze it mid-write, then kill it
                partial = {n: s for n, s in _visible_files(root).items() if s < _BIG}
                child.kill()
                break
            time.sleep(0.0005)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, "the writer finished before it could be killed"
    assert partial, "no partially written file was observed"

    # The half-written bytes are only in a temp file that can never be mistaken for a key.
    assert "big/blob.bin" not in partial
    for name in partial:
        with pytest.raises(InvalidInputError):
            from modelplane.core.names import check_artifact_key

            check_artifact_key(name)
    final = root / "big" / "blob.bin"
    store = open_artifact_store(str(root), meta)
    record = store.record("big/blob.bin")
    if final.exists():  # complete (renamed in place) or absent: never partial
        assert final.stat().st_size == _BIG
    assert record is None or (record.size == _BIG and final.exists())
    assert list(store.keys()) == ([] if record is None else ["big/blob.bin"])
    if record is None:
        with pytest.raises(NotFoundError):
            store.get_bytes("big/blob.bin")

    # A retry after the crash stores the artifact normally.
    info = store.put_file("big/blob.bin", src)
    assert info.size == _BIG
    assert final.stat().st_size == _BIG
    with open(final, "rb") as fh:
        fh.seek(_BIG - 5)
        assert fh.read() == b"tail!"
