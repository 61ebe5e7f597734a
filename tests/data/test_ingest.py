"""Datasets registered from files are read in chunks (bounded memory) and give the version a
whole-table read gives: the same content hash (so the same version as the DataFrame), schema,
profile and stored data — over many chunks, nulls, mixed columns, categories and indexes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import modelplane as mp
import modelplane.data.ingest as ingest


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 100 rows, so the files below span dozens of them."""
    monkeypatch.setattr(ingest, "CHUNK_CELLS", 300)
    monkeypatch.setattr(ingest, "MIN_CHUNK_ROWS", 100)


N = 2_500
RNG = np.random.default_rng(7)
FRAMES = {
    "numeric": pd.DataFrame(
        {
            "x": RNG.normal(size=N),
            "n": RNG.integers(0, 1000, N),
            "city": RNG.choice(["paris", "rome", "oslo"], N),
        }
    ),
    "nulls": pd.DataFrame(
        {
            "int_with_gaps": [float(i) if i % 700 else None for i in range(N)],
            "late_text": [None if i < 1_200 else f"v{i % 5}" for i in range(N)],
            "flags": [None if i == 2_400 else bool(i % 3) for i in range(N)],
        }
    ),
    "mixed": pd.DataFrame({"turns_text": [str(i) for i in range(N - 1)] + ["x"], "f": [1.0] * N}),
}


def whole(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


@pytest.mark.parametrize("name", sorted(FRAMES))
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_file_is_the_version_its_whole_table_is(
    sqlite_ws: Any, tmp_path: Path, name: str, suffix: str
) -> None:
    path = tmp_path / f"{name}{suffix}"
    frame = FRAMES[name]
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False, row_group_size=300)
    read_whole = whole(path)
    from_file = mp.register_dataset(name, path)
    from_frame = mp.register_dataset(name, read_whole)
    assert from_frame.version == from_file.version == 1  # one content hash
    assert from_file.num_rows == N
    assert from_file.schema == {c: str(t) for c, t in read_whole.dtypes.items()}
    from modelplane.data.profile import profile_frame

    assert from_file.profile == profile_frame(read_whole)
    # stored as the whole table would be (a nullable flag column reads back with None)
    buffer = io.BytesIO()
    read_whole.to_parquet(buffer, index=False)
    pd.testing.assert_frame_equal(mp.load_dataset(name), pd.read_parquet(buffer))


def test_parquet_with_a_stored_index_and_categories(sqlite_ws: Any, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"k": pd.Categorical(RNG.choice(["p", "q"], N)), "v": RNG.normal(size=N)},
        index=pd.RangeIndex(N) * 3,  # stored as a column: not data
    )
    path = tmp_path / "indexed.parquet"
    frame.to_parquet(path, row_group_size=250)
    read_whole = pd.read_parquet(path).reset_index(drop=True)
    dv = mp.register_dataset("indexed", path)
    assert dv.schema == {"k": "category", "v": "float64"}
    assert mp.register_dataset("indexed", read_whole).version == dv.version
    assert dv.profile["columns"]["k"]["top"][0]["count"] == read_whole["k"].value_counts().max()


def test_bad_files_are_named(sqlite_ws: Any, tmp_path: Path) -> None:
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet")
    with pytest.raises(mp.errors.InvalidInputError, match="cannot read as parquet"):
        mp.register_dataset("junk", junk)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(mp.errors.InvalidInputError, match="cannot read as csv"):
        mp.register_dataset("empty", empty)
    header = tmp_path / "header.csv"
    header.write_text("a,b\n", encoding="utf-8")
    assert mp.register_dataset("header", header).num_rows == 0
