"""PII: input columns marked with ``mp.register_model(..., pii=[...])`` (flag in the signature,
shown by ``modelplane models show``), refusals of unknown or malformed names, signatures from
before the flag, and ``modelplane.core.pii.pii_hasher`` (keyed, stable, salt kept as a private
server secret outside the database)."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import modelplane as mp
from modelplane.cli.app import app
from modelplane.core.pii import pii_hasher
from modelplane.core.secrets import Secrets
from modelplane.errors import InvalidInputError, NotFoundError
from modelplane.registry.signature import Signature


def _data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        {
            "user_id": rng.integers(1, 10_000, size=50),
            "zip": rng.integers(10_000, 99_999, size=50),
            "amount": rng.normal(size=50),
        }
    )
    return X, (X.amount > 0).astype(int)


def _register(pii: Any, name: str = "scoring") -> Any:
    X, y = _data()
    return mp.register_model(name, LogisticRegression().fit(X, y), X.head(), pii=pii)


def test_pii_columns_are_marked_in_the_signature(ws: mp.Workspace) -> None:
    mv = _register(["user_id", "zip"])
    columns = {c["name"]: c for c in mv.signature["inputs"]}
    assert columns["user_id"]["pii"] is True and columns["zip"]["pii"] is True
    assert "pii" not in columns["amount"]  # absent means not PII: old readers see no change
    assert mp.get_model_version("scoring", mv.version).signature == mv.signature
    assert Signature.from_dict(mv.signature).pii_columns == ("user_id", "zip")
    X, y = _data()
    assert (mp.load_model(mv.uri).predict(X) == LogisticRegression().fit(X, y).predict(X)).all()

    unmarked = _register(None, name="plain")
    assert all("pii" not in c for c in unmarked.signature["inputs"])


@pytest.mark.parametrize(
    ("pii", "expected"),
    [
        (["email"], "'email' is not an input column"),
        (["zip", "email", "phone"], "'email', 'phone' are not input columns"),
        ("user_id", "pii must be a list of input column names"),
        ([7], "pii must list column names as strings"),
    ],
)
def test_bad_pii_names_are_refused_before_anything_is_registered(
    ws: mp.Workspace, pii: Any, expected: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        _register(pii)
    assert info.value.field == "pii"
    assert expected in info.value.message
    if "not" in expected:
        assert "'user_id', 'zip', 'amount'" in info.value.message  # what there is
    with pytest.raises(NotFoundError):
        mp.get_model("scoring")


def test_pii_without_an_input_example_is_refused(ws: mp.Workspace) -> None:
    X, y = _data()
    with pytest.raises(InvalidInputError) as info:
        mp.register_model("scoring", LogisticRegression().fit(X, y), None, pii=["user_id"])
    assert "no input example" in info.value.message


def test_signatures_from_before_the_flag_read_as_before() -> None:
    old = {
        "inputs": [{"name": "a", "dtype": "float64"}],
        "input_kind": "dataframe",
        "tensor_shape": None,
        "output_kind": "regression",
        "output_dtype": "float64",
        "classes": None,
    }
    parsed = Signature.from_dict(old)
    assert parsed.inputs[0].pii is False and parsed.pii_columns == ()
    assert parsed.to_dict() == old
    with pytest.raises(InvalidInputError) as info:
        Signature.from_dict({**old, "inputs": [{"name": "a", "dtype": "float64", "pii": "yes"}]})
    assert info.value.field == "signature"


def test_models_show_marks_pii_columns(sqlite_ws: mp.Workspace) -> None:
    _register(["user_id"])
    runner = CliRunner()
    shown = runner.invoke(app, ["models", "show", "scoring", "--version", "1"])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert any(line.split() == ["┃", "name", "┃", "dtype", "┃", "pii", "┃"] for line in lines)
    assert ["│", "user_id", "│", "int64", "│", "yes", "│"] in [line.split() for line in lines]
    assert ["│", "amount", "│", "float64", "│", "-", "│"] in [line.split() for line in lines]
    doc = json.loads(
        runner.invoke(app, ["models", "show", "scoring", "--version", "1", "--json"]).stdout
    )
    assert [c.get("pii", False) for c in doc["signature"]["inputs"]] == [True, False, False]


# --- the hasher ----------------------------------------------------------------------------------


def test_same_value_same_hash_and_numbers_however_they_arrive(tmp_path: Path) -> None:
    secrets = Secrets(tmp_path / "secrets")
    hash_value = pii_hasher(secrets)
    salt = secrets.get("pii_salt")
    assert salt is not None and len(salt) == 32

    expected = hmac.new(salt, b"s:alice@example.com", hashlib.sha256).hexdigest()
    assert hash_value("alice@example.com") == expected
    assert pii_hasher(Secrets(tmp_path / "secrets"))("alice@example.com") == expected  # re-read
    assert len({hash_value(v) for v in (42, 42.0, np.int64(42), np.float64(42.0), "42")}) == 1
    assert hash_value("e\u0301") == hash_value("\u00e9")  # one text, two Unicode spellings
    assert hash_value(None) == hash_value(float("nan")) == hash_value(pd.NA)
    distinct = ["alice@example.com", "bob@example.com", "null", "", None, True, 1.5]
    assert len({hash_value(v) for v in distinct}) == len(distinct)


def test_a_different_salt_gives_different_hashes(tmp_path: Path) -> None:
    one = pii_hasher(Secrets(tmp_path / "one"))
    two = pii_hasher(Secrets(tmp_path / "two"))
    assert one("alice@example.com") != two("alice@example.com")


def test_salt_is_a_private_server_secret_outside_the_database(sqlite_ws: mp.Workspace) -> None:
    ws: Any = sqlite_ws
    _register(["user_id"])  # the database exists and holds data
    hash_value = pii_hasher(ws.secrets)
    path = ws.settings.secrets_path / "pii_salt.key"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    salt = bytes.fromhex(path.read_text().strip())
    assert hash_value("x") == hmac.new(salt, b"s:x", hashlib.sha256).hexdigest()
    database = Path(ws.settings.db_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert salt not in stored and salt.hex().encode() not in stored


def test_salt_from_the_environment_is_shared_by_replicas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    salt = bytes(range(32))
    monkeypatch.setenv("MODELPLANE_SECRET_PII_SALT", salt.hex())
    a = pii_hasher(Secrets(tmp_path / "a"))
    b = pii_hasher(Secrets(tmp_path / "b"))
    assert a("alice") == b("alice") == hmac.new(salt, b"s:alice", hashlib.sha256).hexdigest()
    assert not (tmp_path / "a").exists()  # nothing written when the environment holds it
