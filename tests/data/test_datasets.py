"""Datasets: content-hashed versions, profiles, files, hostile input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelplane as mp
from modelplane.errors import InvalidInputError, NotFoundError


def frame(n: int = 100, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50_000, 10_000, n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "churned": rng.random(n) > 0.7,
        }
    ).assign(income=lambda d: d.income.mask(d.index % 10 == 0))


def test_same_content_same_version(ws: mp.Workspace) -> None:
    v1 = mp.register_dataset("churn", frame())
    again = mp.register_dataset("churn", frame())
    assert (again.version, again.content_hash) == (1, v1.content_hash)
    v2 = mp.register_dataset("churn", frame(seed=1))
    assert v2.version == 2 and v2.content_hash != v1.content_hash
    # column order and dtype are part of the content
    assert mp.register_dataset("churn", frame()[["city", "age", "income", "churned"]]).version == 3
    assert mp.register_dataset("churn", frame().astype({"age": "float64"})).version == 4
    assert [d.version for d in mp.list_datasets("churn")] == [1, 2, 3, 4]
    assert mp.get_dataset("churn").version == 4
    assert mp.get_dataset("churn", 1).content_hash == v1.content_hash
    actions = [e.action for e in ws.audit.list(target="datasets/churn")]
    assert actions.count("dataset.register") == 4


def test_schema_and_profile(ws: mp.Workspace) -> None:
    ds = mp.register_dataset("churn", frame())
    assert ds.schema == {
        "age": "int64",
        "income": "float64",
        "city": "object",
        "churned": "bool",
    } or (ds.schema["city"] in ("object", "str", "string"))
    assert (ds.num_rows, ds.num_columns) == (100, 4)
    income = ds.profile["columns"]["income"]
    assert income["kind"] == "numeric"
    assert income["null_rate"] == pytest.approx(0.1)
    assert income["min"] <= income["quantiles"]["p50"] <= income["max"]
    assert sum(income["histogram"]["counts"]) == 90
    city = ds.profile["columns"]["city"]
    assert city["kind"] == "categorical" and city["distinct"] == 3
    assert sum(t["count"] for t in city["top"]) == 100
    assert ds.profile["columns"]["churned"]["kind"] == "boolean"


def test_round_trip_and_files(ws: mp.Workspace, tmp_path: Path) -> None:
    df = frame()
    csv = tmp_path / "data.csv"
    df.to_csv(csv, index=False)
    from_csv = mp.register_dataset("from-csv", csv)
    assert from_csv.source == str(csv.resolve())
    pq = tmp_path / "data.parquet"
    df.to_parquet(pq)
    from_pq = mp.register_dataset("from-pq", str(pq))
    loaded = mp.load_dataset("from-pq")
    pd.testing.assert_frame_equal(loaded, df.reset_index(drop=True), check_dtype=False)
    assert from_pq.num_rows == from_csv.num_rows == 100


@pytest.mark.parametrize(
    "data",
    [
        "s3://bucket/x.csv",
        "file:///etc/passwd",
        "/etc/passwd",
        "missing.parquet",
        42,
        [1, 2, 3],
        pd.DataFrame(),
    ],
)
def test_bad_dataset_input(ws: mp.Workspace, data: object) -> None:
    with pytest.raises(InvalidInputError):
        mp.register_dataset("bad", data)


def test_malformed_files(ws: mp.Workspace, tmp_path: Path) -> None:
    bad_pq = tmp_path / "bad.parquet"
    bad_pq.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InvalidInputError, match="cannot read"):
        mp.register_dataset("bad", bad_pq)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_bytes(b'a,b\n1,"unterminated\n')
    with pytest.raises(InvalidInputError):
        mp.register_dataset("bad", bad_csv)
    dup = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(InvalidInputError, match="unique"):
        mp.register_dataset("dup", dup)


@pytest.mark.parametrize("name", ["../x", "a/b", "", " x", "x" * 300, "a\x00", "..", "%2e%2e"])
def test_hostile_dataset_names(ws: mp.Workspace, name: str) -> None:
    with pytest.raises(InvalidInputError):
        mp.register_dataset(name, frame(5))


def test_unknown_dataset(ws: mp.Workspace) -> None:
    with pytest.raises(NotFoundError):
        mp.get_dataset("nope")
    mp.register_dataset("d", frame(5))
    with pytest.raises(NotFoundError):
        mp.get_dataset("d", 9)


def test_tampered_dataset_is_refused(sqlite_ws: mp.Workspace) -> None:
    from modelplane.errors import IntegrityError

    ds = mp.register_dataset("d", frame(20))
    path = Path(sqlite_ws.artifacts.uri(ds.artifact_key).removeprefix("file://"))
    path.write_bytes(path.read_bytes()[:-8] + b"12345678")
    with pytest.raises(IntegrityError):
        mp.load_dataset("d")
