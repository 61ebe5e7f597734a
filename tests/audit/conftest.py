"""Fixtures of the audit log tests: a metadata store per backend and an installation's secrets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.audit import AuditLog
from modelplane.audit.keys import KEY_NAME
from modelplane.core.secrets import Secrets, env_var
from modelplane.stores.metadata import MetadataStore


@pytest.fixture
def meta(db_url: str) -> Iterator[MetadataStore]:
    store = MetadataStore(db_url)
    yield store
    store.dispose()


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The secrets folder of the installation (the audit key is created there on first use)."""
    monkeypatch.delenv(env_var(KEY_NAME), raising=False)
    return tmp_path / "secrets"


@pytest.fixture
def log(meta: MetadataStore, secrets_dir: Path) -> AuditLog:
    return AuditLog(meta, Secrets(secrets_dir))
