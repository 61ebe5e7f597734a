"""Encrypted artifacts over the control-plane API: a download decrypts transparently; a tampered
file answers 409 and a server without the key 503 naming the key_id it needs — never a 500, and
never the bytes."""

from __future__ import annotations

import io
import secrets
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import modelplane as mp
from modelplane.stores.artifacts.crypto import MasterKey

from .conftest import make_app

DATA = "/api/v1/datasets/train/versions/1/data"


def test_dataset_download_decrypts_and_refuses_cleanly(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = secrets.token_hex(32)
    monkeypatch.setenv("MODELPLANE_ENCRYPTION_KEY", key)
    ws = mp.configure(home=home, actor="tester")
    frame = pd.DataFrame({"email": ["a@example.com", "b@example.com"], "n": [1, 2]})
    dv = mp.register_dataset("train", frame)
    stored = home / "artifacts" / dv.artifact_key
    assert b"a@example.com" not in stored.read_bytes()

    answer = TestClient(make_app(ws)).get(DATA)
    assert answer.status_code == 200
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(answer.content)), frame)

    monkeypatch.delenv("MODELPLANE_ENCRYPTION_KEY")
    keyless = mp.configure(home=home, actor="tester")
    answer = TestClient(make_app(keyless)).get(DATA)
    assert answer.status_code == 503
    body = answer.json()
    assert body["error"] == "encryption_key_unavailable"
    assert body["details"]["key_id"] == MasterKey.parse(key).key_id

    raw = bytearray(stored.read_bytes())
    raw[-1] ^= 0x01
    stored.write_bytes(bytes(raw))
    monkeypatch.setenv("MODELPLANE_ENCRYPTION_KEY", key)
    keyed = mp.configure(home=home, actor="tester")
    answer = TestClient(make_app(keyed)).get(DATA)
    assert answer.status_code == 409
    assert answer.json()["error"] == "decryption_failed"
    assert b"example.com" not in answer.content
    keyed.close()
