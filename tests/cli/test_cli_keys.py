"""``modelplane keys status|rotate``: counts per key, rotation that re-wraps data keys without
touching any artifact file (bytes and mtimes compared), reads with the new key and refusals with
the old one, idempotent reruns, an interrupted rotation finished by a rerun, audit entries without
key material, artifacts under a third key, and bad keys (exit 2, one line)."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import modelplane as mp
from modelplane.audit import AuditLog
from modelplane.stores.artifacts import open_artifact_store
from modelplane.stores.artifacts.crypto import EncryptionKeyError, MasterKey
from modelplane.stores.metadata.schema import artifacts as artifacts_table

MARKER = b"plaintext-marker:keys"
BLOBS = 7


@dataclass
class Keys:
    home: Path
    old: str  # a key file (hex)
    new: str  # a key file (base64)
    old_hex: str
    new_hex: str
    old_id: str
    new_id: str
    model_uri: str
    encrypted: int  # artifacts under the old key


def _key_file(path: Path, text: str) -> str:
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def keys(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Keys]:
    """A plaintext artifact from before a key was set, then blobs and a model under the old key."""
    import base64

    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    old_raw, new_raw = secrets.token_bytes(32), secrets.token_bytes(32)
    old = _key_file(tmp_path / "old.key", old_raw.hex())
    new = _key_file(tmp_path / "new.key", base64.b64encode(new_raw).decode())
    monkeypatch.setenv("MODELPLANE_ACTOR", "key-admin")

    ws = mp.configure(home=home)
    ws.artifacts.put_bytes("legacy/notes.txt", MARKER)
    monkeypatch.setenv("MODELPLANE_ENCRYPTION_KEY", old)
    ws = mp.configure(home=home)
    for i in range(BLOBS):
        ws.artifacts.put_bytes(f"blobs/{i}.bin", MARKER * (i + 1))
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 2)), columns=["a", "b"])
    mv = mp.register_model("m", LogisticRegression().fit(X, X["a"] > 0), X.head())
    encrypted = len(list(ws.artifacts.keys())) - 1
    ws.close()
    yield Keys(
        home,
        old,
        new,
        old_raw.hex(),
        new_raw.hex(),
        MasterKey(old_raw).key_id,
        MasterKey(new_raw).key_id,
        mv.uri,
        encrypted,
    )
    mp.configure(home=home).close()


def snapshot(home: Path) -> dict[str, tuple[str, int]]:
    """Every artifact file: its SHA-256 and modification time (ns)."""
    root = home / "artifacts"
    return {
        p.relative_to(root).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in root.rglob("*")
        if p.is_file()
    }


def wrapped_keys(ws: Any) -> set[str]:
    t = artifacts_table
    with ws.meta.read() as conn:
        return set(
            conn.execute(sa.select(t.c.wrapped_key).where(t.c.wrapped_key.is_not(None))).scalars()
        )


def reopen(home: Path, key: str | None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A workspace as a new process would have it: this key, no decrypted model cache."""
    if key is None:
        monkeypatch.delenv("MODELPLANE_ENCRYPTION_KEY", raising=False)
    else:
        monkeypatch.setenv("MODELPLANE_ENCRYPTION_KEY", key)
    ws = mp.configure(home=home)
    ws.registry.clear_cache()
    return ws


def status(cli: Any) -> dict[str, Any]:
    return cli.json("keys", "status")  # type: ignore[no-any-return]


# --- status --------------------------------------------------------------------------------------


def test_status_counts_artifacts_per_key(cli: Any, keys: Keys) -> None:
    doc = status(cli)
    assert doc == {
        "configured_key_id": keys.old_id,
        "by_key_id": {keys.old_id: keys.encrypted},
        "plaintext": 1,
        "total": keys.encrypted + 1,
    }
    result = cli("keys", "status")
    assert result.exit_code == 0, result.output
    assert keys.old_id in result.stdout and "plaintext" in result.stdout


# --- rotation ------------------------------------------------------------------------------------


def test_rotation_rewraps_without_touching_files(
    cli: Any, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    before_files = snapshot(keys.home)
    before_wrapped = wrapped_keys(mp.configure(home=keys.home))

    result = cli("keys", "rotate", "--new-key", keys.new, "--batch-size", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    assert (
        f"re-wrapped {keys.encrypted} data key(s) from {keys.old_id} to {keys.new_id}" in lines[0]
    )

    assert snapshot(keys.home) == before_files  # not one artifact file rewritten
    batches = -(-keys.encrypted // 3)
    assert status(cli)["by_key_id"] == {keys.new_id: keys.encrypted}

    # Reads work with the new key (also the plaintext artifact) ...
    ws = reopen(keys.home, keys.new, monkeypatch)
    assert status(cli)["configured_key_id"] == keys.new_id
    assert ws.artifacts.get_bytes("blobs/3.bin") == MARKER * 4
    assert ws.artifacts.get_bytes("legacy/notes.txt") == MARKER
    assert mp.load_model(keys.model_uri).predict([[1.0, 0.0]]).tolist() == [True]
    after_wrapped = wrapped_keys(ws)
    assert not after_wrapped & before_wrapped

    # ... and fail with the old one, naming the key needed.
    ws = reopen(keys.home, keys.old, monkeypatch)
    with pytest.raises(EncryptionKeyError) as info:
        ws.artifacts.get_bytes("blobs/3.bin")
    assert keys.new_id in info.value.message
    with pytest.raises(EncryptionKeyError):
        mp.load_model(keys.model_uri)

    # One audit entry per batch, as the workspace's actor, without key material.
    entries = ws.audit.list(action="keys.rotate")
    assert len(entries) == batches
    assert {e.actor for e in entries} == {"key-admin"}
    assert sum(e.after["rewrapped"] for e in entries) == keys.encrypted
    assert {e.after["new_key_id"] for e in entries} == {keys.new_id}
    text = json.dumps([e.to_dict() for e in entries])
    secrets_seen = [keys.old_hex, keys.new_hex, *before_wrapped, *after_wrapped]
    assert not [s for s in secrets_seen if s in text]
    assert cli("audit", "verify").exit_code == 0


def test_rotating_again_is_a_no_op(cli: Any, keys: Keys) -> None:
    first = cli.json("keys", "rotate", "--new-key", keys.new)
    assert (first["rewrapped"], first["already_under_new_key"]) == (keys.encrypted, 0)
    files = snapshot(keys.home)
    again = cli.json("keys", "rotate", "--new-key", keys.new)
    assert again == {
        "old_key_id": keys.old_id,
        "new_key_id": keys.new_id,
        "rewrapped": 0,
        "already_under_new_key": keys.encrypted,
        "batches": 0,
        "under_other_keys": {},
        "failed": [],
        "complete": True,
    }
    assert snapshot(keys.home) == files


def test_an_interrupted_rotation_is_finished_by_a_rerun(
    cli: Any, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_append = AuditLog.append
    calls = {"n": 0}

    def dies_in_the_second_batch(self: AuditLog, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed mid-rotation")
        return real_append(self, *args, **kwargs)

    files = snapshot(keys.home)
    with monkeypatch.context() as patch:
        patch.setattr(AuditLog, "append", dies_in_the_second_batch)
        result = cli("keys", "rotate", "--new-key", keys.new, "--batch-size", "3")
    assert result.exit_code == 1
    cli.one_error_line(result.stderr, "killed mid-rotation")
    # The first batch committed (with its audit entry); the second rolled back entirely.
    assert status(cli)["by_key_id"] == {keys.new_id: 3, keys.old_id: keys.encrypted - 3}

    rerun = cli.json("keys", "rotate", "--new-key", keys.new, "--batch-size", "3")
    assert (rerun["rewrapped"], rerun["already_under_new_key"]) == (keys.encrypted - 3, 3)
    assert status(cli)["by_key_id"] == {keys.new_id: keys.encrypted}
    assert snapshot(keys.home) == files

    ws = reopen(keys.home, keys.new, monkeypatch)
    for i in range(BLOBS):
        assert ws.artifacts.get_bytes(f"blobs/{i}.bin") == MARKER * (i + 1)
    assert mp.load_model(keys.model_uri).predict([[1.0, 0.0]]).tolist() == [True]
    assert cli("audit", "verify").exit_code == 0


def test_artifacts_under_a_third_key_are_left_and_reported(
    cli: Any, keys: Keys, tmp_path: Path
) -> None:
    third = secrets.token_hex(32)
    ws = mp.configure(home=keys.home)
    store = open_artifact_store(str(keys.home / "artifacts"), ws.meta, encryption_key=third)
    store.put_bytes("elsewhere/x.bin", MARKER)

    result = cli("keys", "rotate", "--new-key", keys.new)
    assert result.exit_code == 1
    assert f"re-wrapped {keys.encrypted} data key(s)" in result.stdout
    third_id = MasterKey.parse(third).key_id
    cli.one_error_line(result.stderr, f"{third_id} (1)", "left as they are")
    assert status(cli)["by_key_id"] == {keys.new_id: keys.encrypted, third_id: 1}


def test_a_tampered_wrapped_key_is_reported_not_rotated(cli: Any, keys: Keys) -> None:
    ws = mp.configure(home=keys.home)
    t = artifacts_table
    with ws.meta.write() as conn:
        a = conn.execute(sa.select(t.c.wrapped_key).where(t.c.key == "blobs/1.bin")).scalar()
        conn.execute(t.update().where(t.c.key == "blobs/2.bin").values(wrapped_key=a))
    result = cli("keys", "rotate", "--new-key", keys.new)
    assert result.exit_code == 1
    cli.one_error_line(result.stderr, "'blobs/2.bin'", "did not open")
    assert status(cli)["by_key_id"] == {keys.new_id: keys.encrypted - 1, keys.old_id: 1}


# --- bad input -----------------------------------------------------------------------------------


def test_bad_new_keys_exit_2_with_one_line(cli: Any, keys: Keys, tmp_path: Path) -> None:
    junk = tmp_path / "junk.key"
    junk.write_text("no key in here")
    mistyped = keys.new_hex[:-2]
    cases = {
        mistyped: "neither a 32-byte key",
        str(junk): "does not hold a 32-byte key",
        str(tmp_path / "absent.key"): "no key file",
        keys.old: "is the configured key",
    }
    for value, expected in cases.items():
        result = cli("keys", "rotate", "--new-key", value)
        assert result.exit_code == 2, (value, result.output)
        line = cli.one_error_line(result.stderr, expected, "(field: new_key)")
        assert mistyped not in line
    assert status(cli)["by_key_id"] == {keys.old_id: keys.encrypted}  # nothing changed

    proc = cli.subprocess("keys", "rotate", "--new-key", mistyped)
    assert proc.returncode == 2
    cli.one_error_line(proc.stderr, "--new-key", "(field: new_key)")


def test_rotation_needs_the_current_key(
    cli: Any, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELPLANE_ENCRYPTION_KEY")
    result = cli("keys", "rotate", "--new-key", keys.new)
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "no current encryption key", "(field: encryption_key)")
    assert cli("keys", "rotate").exit_code == 2  # --new-key is required


def test_a_bad_configured_key_exits_2_with_one_line(
    cli: Any, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPLANE_ENCRYPTION_KEY", "not-a-key")
    result = cli("keys", "status")
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "MODELPLANE_ENCRYPTION_KEY", "(field: encryption_key)")
    proc = cli.subprocess("keys", "status")
    assert proc.returncode == 2
    cli.one_error_line(proc.stderr, "MODELPLANE_ENCRYPTION_KEY is neither a 32-byte key")
