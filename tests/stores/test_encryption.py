"""Encryption at rest of the artifact store, on the local folder and on S3 (moto's server), with
SQLite and PostgreSQL metadata: round trips, only ciphertext on the backend, plaintext artifacts
from before a key was set, tampering, truncation, reordering, swapped wrapped keys, missing and
wrong keys, key formats, streaming in bounded memory, concurrent writers, and the SDK end to end
(register_model + load_model, datasets)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import modelplane as mp
from modelplane.errors import IntegrityError, InvalidInputError, ModelplaneError
from modelplane.stores.artifacts import ArtifactInfo, ArtifactStore, open_artifact_store
from modelplane.stores.artifacts.crypto import (
    CHUNK_SIZE,
    DecryptionError,
    EncryptionKeyError,
    MasterKey,
)
from modelplane.stores.artifacts.local import LocalArtifactStore
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.schema import artifacts as artifacts_table

MARKER = b"plaintext-marker:4f1c9e"
HEADER = 9  # magic, version, chunk size
OVERHEAD = 12 + 16  # nonce and tag per chunk
BLOCK = CHUNK_SIZE + OVERHEAD


def plaintext(n: int) -> bytes:
    return (MARKER * (n // len(MARKER) + 1))[:n]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunks(n: int) -> int:
    return max(1, -(-n // CHUNK_SIZE))


# --- reaching behind the store's back ----------------------------------------------------------


def _s3(store: ArtifactStore, key: str) -> tuple[Any, str, str]:
    import boto3

    bucket, _, prefix = store.root.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    return client, bucket, f"{prefix}/{key}" if prefix else key


def raw_read(store: ArtifactStore, key: str) -> bytes:
    if isinstance(store, LocalArtifactStore):
        return (store.path / key).read_bytes()
    client, bucket, name = _s3(store, key)
    body: bytes = client.get_object(Bucket=bucket, Key=name)["Body"].read()
    return body


def raw_write(store: ArtifactStore, key: str, data: bytes) -> None:
    if isinstance(store, LocalArtifactStore):
        (store.path / key).write_bytes(data)
        return
    client, bucket, name = _s3(store, key)
    client.put_object(Bucket=bucket, Key=name, Body=data)


def raw_delete(store: ArtifactStore, key: str) -> None:
    if isinstance(store, LocalArtifactStore):
        (store.path / key).unlink()
        return
    client, bucket, name = _s3(store, key)
    client.delete_object(Bucket=bucket, Key=name)


def set_wrapped(meta: MetadataStore, key: str, wrapped: str) -> None:
    t = artifacts_table
    with meta.write() as conn:
        conn.execute(t.update().where(t.c.key == key).values(wrapped_key=wrapped))


def wrapped_of(meta: MetadataStore, key: str) -> str:
    t = artifacts_table
    with meta.read() as conn:
        return str(conn.execute(sa.select(t.c.wrapped_key).where(t.c.key == key)).scalar_one())


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def key() -> str:
    return secrets.token_hex(32)


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetadataStore]:
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    yield store
    store.dispose()


@pytest.fixture
def store(artifacts_root: str, meta: MetadataStore, key: str) -> ArtifactStore:
    return open_artifact_store(artifacts_root, meta, encryption_key=key)


def refused(call: Callable[[], object], error: type[ModelplaneError]) -> ModelplaneError:
    """``call`` raises ``error``, whose HTTP status is not a 500."""
    with pytest.raises(error) as info:
        call()
    assert info.value.http_status != 500
    return info.value


# --- round trips -------------------------------------------------------------------------------

SIZES = [0, 1, 1000, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE + 17]


def test_round_trip_on_every_backend_and_database(
    artifacts_root: str, db_url: str, key: str, tmp_path: Path
) -> None:
    meta = MetadataStore(db_url)
    try:
        store = open_artifact_store(artifacts_root, meta, encryption_key=key)
        key_id = MasterKey.parse(key).key_id
        for n in SIZES:
            data = plaintext(n)
            name = f"blobs/{n}.bin"
            assert store.put_bytes(name, data) == ArtifactInfo(name, sha(data), n)
            assert store.record(name) == ArtifactInfo(name, sha(data), n)  # of the plaintext
            assert store.key_id(name) == key_id
            assert store.get_bytes(name) == data
            assert store.get_file(name, tmp_path / "out" / str(n)).read_bytes() == data
            stored = raw_read(store, name)
            assert len(stored) == HEADER + n + chunks(n) * OVERHEAD
            assert MARKER not in stored

        folder = tmp_path / "model"
        folder.mkdir()
        (folder / "weights.bin").write_bytes(plaintext(CHUNK_SIZE + 5))
        (folder / "config.json").write_bytes(b'{"marker": "' + MARKER + b'"}')
        files = store.put_dir("models/m/1", folder)
        fetched = store.get_dir("models/m/1", files, tmp_path / "cache")
        for rel in files:
            assert (fetched / rel).read_bytes() == (folder / rel).read_bytes()
            assert MARKER not in raw_read(store, f"models/m/1/{rel}")
    finally:
        meta.dispose()


def test_plaintext_artifacts_from_before_the_key_keep_working(
    store: ArtifactStore, artifacts_root: str, meta: MetadataStore
) -> None:
    before = open_artifact_store(artifacts_root, meta)  # no key configured yet
    before.put_bytes("old/a.bin", MARKER)
    assert store.key_id("old/a.bin") is None
    assert store.get_bytes("old/a.bin") == MARKER
    store.put_bytes("new/b.bin", MARKER)
    assert store.key_id("new/b.bin") is not None
    assert raw_read(store, "old/a.bin") == MARKER  # left as it was
    assert MARKER not in raw_read(store, "new/b.bin")


def test_same_bytes_restore_an_encrypted_object_lost_from_the_backend(
    store: ArtifactStore, meta: MetadataStore
) -> None:
    store.put_bytes("k/v", MARKER)
    wrapped = wrapped_of(meta, "k/v")
    raw_delete(store, "k/v")
    store.put_bytes("k/v", MARKER)
    assert store.get_bytes("k/v") == MARKER
    assert wrapped_of(meta, "k/v") == wrapped  # restored under the data key on record


def test_concurrent_writers_of_the_same_content_agree_on_the_key(
    db_url: str, tmp_path: Path, key: str
) -> None:
    """Content-addressed artifacts (datasets) are written by whoever registers them, possibly at
    once: whichever file lands last must open with the wrapped key that was recorded."""
    meta = MetadataStore(db_url)
    try:
        store = open_artifact_store(str(tmp_path / "store"), meta, encryption_key=key)
        barrier = threading.Barrier(6)
        results: list[object] = []

        def put(i: int) -> None:
            barrier.wait()
            for round_ in range(4):
                try:
                    results.append(store.put_bytes(f"shared/{round_}", plaintext(5000 + round_)))
                except Exception as exc:
                    results.append(exc)

        threads = [threading.Thread(target=put, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert all(isinstance(r, ArtifactInfo) for r in results), results
        for round_ in range(4):
            assert store.get_bytes(f"shared/{round_}") == plaintext(5000 + round_)
    finally:
        meta.dispose()


# --- tampering -----------------------------------------------------------------------------------


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


TAMPERING: dict[str, Callable[[bytes], bytes]] = {
    "header byte": lambda b: _flip(b, 6),
    "first chunk's nonce": lambda b: _flip(b, HEADER + 3),
    "first chunk's ciphertext": lambda b: _flip(b, HEADER + 12 + 1000),
    "last chunk's tag": lambda b: _flip(b, len(b) - 1),
    "cut inside the last chunk": lambda b: b[:-5],
    "cut at a chunk boundary": lambda b: b[: HEADER + BLOCK],
    "only the header left": lambda b: b[:HEADER],
    "emptied": lambda b: b"",
    "chunks reordered": lambda b: (
        b[:HEADER]
        + b[HEADER + BLOCK : HEADER + 2 * BLOCK]
        + b[HEADER : HEADER + BLOCK]
        + b[HEADER + 2 * BLOCK :]
    ),
    "a chunk appended": lambda b: b + b[-(OVERHEAD + 17) :],
    "a chunk duplicated": lambda b: b[: HEADER + BLOCK] + b[HEADER:],
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_tampered_ciphertext_is_refused(store: ArtifactStore, tmp_path: Path, how: str) -> None:
    data = plaintext(2 * CHUNK_SIZE + 17)  # three chunks
    store.put_bytes("models/m/1/model.pkl", data)
    raw_write(
        store, "models/m/1/model.pkl", TAMPERING[how](raw_read(store, "models/m/1/model.pkl"))
    )

    error = refused(lambda: store.get_bytes("models/m/1/model.pkl"), DecryptionError)
    assert "models/m/1/model.pkl" in error.message
    assert isinstance(error, IntegrityError)  # callers refusing bad bytes catch it as before

    dest = tmp_path / "out" / "model.pkl"
    refused(lambda: store.get_file("models/m/1/model.pkl", dest), DecryptionError)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no partial plaintext left behind


def test_swapped_wrapped_keys_are_refused(store: ArtifactStore, meta: MetadataStore) -> None:
    store.put_bytes("a/model.bin", plaintext(3000))
    store.put_bytes("b/model.bin", plaintext(4000))
    a, b = wrapped_of(meta, "a/model.bin"), wrapped_of(meta, "b/model.bin")
    set_wrapped(meta, "a/model.bin", b)
    set_wrapped(meta, "b/model.bin", a)
    for name in ("a/model.bin", "b/model.bin"):
        error = refused(lambda name=name: store.get_bytes(name), DecryptionError)
        assert name in error.message and "wrapped data key" in error.message


def test_altered_wrapped_key_is_refused(store: ArtifactStore, meta: MetadataStore) -> None:
    store.put_bytes("a/model.bin", MARKER)
    raw = bytearray(base64.b64decode(wrapped_of(meta, "a/model.bin")))
    raw[-1] ^= 0x01
    set_wrapped(meta, "a/model.bin", base64.b64encode(bytes(raw)).decode())
    refused(lambda: store.get_bytes("a/model.bin"), DecryptionError)
    set_wrapped(meta, "a/model.bin", "not base64 at all!")
    refused(lambda: store.get_bytes("a/model.bin"), DecryptionError)


# --- missing and wrong keys ----------------------------------------------------------------------


@pytest.mark.parametrize("configured", ["none", "another key"])
def test_reading_without_the_right_key_names_the_key_needed(
    store: ArtifactStore,
    artifacts_root: str,
    meta: MetadataStore,
    key: str,
    tmp_path: Path,
    configured: str,
) -> None:
    store.put_bytes("p/weights.bin", MARKER)
    files = store.put_dir("p/dir", _folder(tmp_path))
    other = None if configured == "none" else secrets.token_hex(32)
    reader = open_artifact_store(artifacts_root, meta, encryption_key=other)
    needed = MasterKey.parse(key).key_id

    for call in (
        lambda: reader.get_bytes("p/weights.bin"),
        lambda: reader.get_file("p/weights.bin", tmp_path / "out"),
        lambda: reader.get_dir("p/dir", files, tmp_path / "dir-out"),
    ):
        error = refused(call, EncryptionKeyError)
        assert error.http_status == 503
        assert needed in error.message and error.details["key_id"] == needed
        assert "MODELPLANE_ENCRYPTION_KEY" in error.message
    assert not (tmp_path / "out").exists()
    # Nor can it restore a lost object in a form the recorded wrapped key would not open.
    raw_delete(store, "p/weights.bin")
    refused(lambda: reader.put_bytes("p/weights.bin", MARKER), EncryptionKeyError)
    store.put_bytes("p/weights.bin", MARKER)
    assert store.get_bytes("p/weights.bin") == MARKER


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    (folder / "a.txt").write_bytes(MARKER)
    return folder


# --- key formats -------------------------------------------------------------------------------


def _urlsafe_key() -> bytes:
    while True:
        raw = secrets.token_bytes(32)
        if set(base64.urlsafe_b64encode(raw)) & set(b"-_"):
            return raw


def test_key_formats_all_name_the_same_key(tmp_path: Path) -> None:
    raw = _urlsafe_key()
    hex_file = tmp_path / "key.hex"
    hex_file.write_text(raw.hex() + "\n")
    b64_file = tmp_path / "key.b64"
    b64_file.write_text(base64.b64encode(raw).decode())
    forms = [
        raw.hex(),
        raw.hex().upper(),
        f"  {raw.hex()}\n",
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        str(hex_file),
        str(b64_file),
    ]
    ids = {MasterKey.parse(form).key_id for form in forms}
    assert len(ids) == 1
    key_id = ids.pop()
    assert len(key_id) == 16 and raw.hex()[:16] != key_id  # a fingerprint, not the key
    assert raw.hex() not in repr(MasterKey.parse(raw.hex()))


def test_bad_keys_are_refused_without_echoing_them(tmp_path: Path) -> None:
    junk = tmp_path / "junk.key"
    junk.write_text("this file holds no key at all")
    almost = secrets.token_hex(31)  # 31 bytes
    cases = {
        almost: "neither a 32-byte key",
        base64.b64encode(secrets.token_bytes(33)).decode(): "neither a 32-byte key",
        "secret": "neither a 32-byte key",
        str(junk): "does not hold a 32-byte key",
        str(tmp_path / "missing.key"): "no key file",
    }
    for value, expected in cases.items():
        with pytest.raises(InvalidInputError) as info:
            MasterKey.parse(value)
        assert info.value.field == "encryption_key"
        assert expected in info.value.message
        assert "MODELPLANE_ENCRYPTION_KEY" in info.value.message
        if value != str(junk) and "/" not in value:
            assert value not in info.value.message
    with pytest.raises(InvalidInputError):
        open_artifact_store(str(tmp_path / "a"), MetadataStore("sqlite://"), encryption_key=almost)


# --- streaming ---------------------------------------------------------------------------------


def test_large_artifacts_stream_in_bounded_memory(
    meta: MetadataStore, key: str, tmp_path: Path
) -> None:
    store = open_artifact_store(str(tmp_path / "store"), meta, encryption_key=key)
    size = 16 * CHUNK_SIZE + 123
    src = tmp_path / "big.bin"
    with open(src, "wb") as out:
        for i in range(17):
            out.write(hashlib.sha256(b"%d" % i).digest() * (CHUNK_SIZE // 32))
        out.truncate(size)
    store.record("warm-up")  # open (and migrate) the database outside the measurement

    tracemalloc.start()
    try:
        info = store.put_file("big/blob.bin", src)
        put_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        dest = store.get_file("big/blob.bin", tmp_path / "out.bin")
        get_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.size == size
    assert sha(dest.read_bytes()) == sha(src.read_bytes())
    assert (tmp_path / "store" / "big" / "blob.bin").stat().st_size == HEADER + size + 17 * OVERHEAD
    # A handful of chunks in memory at a time, never the 16 MiB artifact.
    assert put_peak < 8 * CHUNK_SIZE, put_peak
    assert get_peak < 8 * CHUNK_SIZE, get_peak


# --- the SDK end to end ------------------------------------------------------------------------


@pytest.fixture
def keyed_ws(home: Path, db_url: str, key: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("MODELPLANE_ENCRYPTION_KEY", key)
    workspace = mp.configure(home=home, db_url=db_url, actor="tester")
    yield workspace
    workspace.close()


def test_registered_model_and_dataset_round_trip_encrypted(
    keyed_ws: Any, home: Path, db_url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(int)
    ds = mp.register_dataset("train", X.assign(y=y))
    mv = mp.register_model("churn", LogisticRegression().fit(X, y), X.head(), datasets=[ds])

    store = keyed_ws.artifacts
    stored = list(store.keys())
    assert stored and all(store.key_id(k) == MasterKey.parse(key).key_id for k in stored)
    root = home / "artifacts"
    for path in (p for p in root.rglob("*") if p.is_file()):
        head = path.read_bytes()[:4]
        assert head == b"MPAE", path  # neither Parquet (PAR1) nor a pickle on disk

    expected = LogisticRegression().fit(X, y).predict(X)
    assert (mp.load_model(mv.uri).predict(X) == expected).all()
    pd.testing.assert_frame_equal(mp.load_dataset("train"), X.assign(y=y))

    # Another process without the key (and without this one's decrypted cache) is refused.
    keyed_ws.registry.clear_cache()
    monkeypatch.delenv("MODELPLANE_ENCRYPTION_KEY")
    mp.configure(home=home, db_url=db_url, actor="tester")
    error = refused(lambda: mp.load_model(mv.uri), EncryptionKeyError)
    assert MasterKey.parse(key).key_id in error.message
    refused(lambda: mp.load_dataset("train"), EncryptionKeyError)
