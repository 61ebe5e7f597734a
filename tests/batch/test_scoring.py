"""Batch scoring (``score_file``): Parquet and CSV in and out, bounded memory on a 200,000-row
file, passthrough columns, endpoint graphs, and errors that leave no output behind."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import modelplane as mp
from modelplane.batch.scoring import ScoreProgress, score_file
from modelplane.errors import InvalidInputError, NotFoundError, SchemaValidationError

FEATURES = ["a", "b", "c", "d"]


def training(n: int = 400, seed: int = 0, columns: list[str] = FEATURES) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(columns))), columns=columns)
    y = (X[columns[0]] + 0.5 * X[columns[1]] - X[columns[2]] > 0).astype(int)
    return X, y


def rows(n: int, seed: int = 1, columns: list[str] = FEATURES) -> pd.DataFrame:
    """Input rows: an id, the features (in another order than the signature), a text column."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(columns))), columns=columns[::-1])
    X.insert(0, "id", np.arange(1000, 1000 + n))
    X["note"] = "row"
    return X


@pytest.fixture
def models(sqlite_ws: Any) -> SimpleNamespace:
    X, y = training()
    lr = LogisticRegression().fit(X, y)
    dt = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    mp.register_model("clf", lr, X.head(50))
    mp.register_model("tree", dt, X.head(50))
    return SimpleNamespace(ws=sqlite_ws, lr=lr, dt=dt)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- files in, files out ----------------------------------------------------------------------------


def test_parquet_to_parquet(models: SimpleNamespace, tmp_path: Path) -> None:
    data = rows(2_500)
    data.to_parquet(tmp_path / "in.parquet", index=False)
    seen: list[ScoreProgress] = []
    summary = score_file(
        models.ws,
        "models:/clf/1",
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        batch_size=1_000,
        keep_columns=["id"],
        progress=seen.append,
        accelerate=False,
    )
    assert summary.rows == 2_500
    assert summary.batches == 3
    assert summary.model_versions == ["clf/1"]
    assert summary.output == str(tmp_path / "out.parquet")
    assert summary.seconds > 0
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == ["prediction", "proba_0", "proba_1", "id", "model"]
    assert summary.columns == list(out.columns)
    np.testing.assert_array_equal(out["prediction"], models.lr.predict(data[FEATURES]))
    np.testing.assert_allclose(
        out[["proba_0", "proba_1"]].to_numpy(), models.lr.predict_proba(data[FEATURES])
    )
    np.testing.assert_array_equal(out["id"], data["id"])
    assert set(out["model"]) == {"clf/1"}
    assert [p.rows for p in seen[:3]] == [1_000, 2_000, 2_500]
    assert all(p.total == 2_500 and p.unit == "rows" for p in seen)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("src", "dst"), [("csv", "csv"), ("csv", "parquet"), ("parquet", "csv")])
def test_csv_input_and_output(models: SimpleNamespace, tmp_path: Path, src: str, dst: str) -> None:
    data = rows(3_000, seed=2)
    if src == "csv":
        data.to_csv(tmp_path / "in.csv", index=False)
    else:
        data.to_parquet(tmp_path / "in.parquet", index=False)
    seen: list[ScoreProgress] = []
    summary = score_file(
        models.ws,
        "models:/clf@latest",
        tmp_path / f"in.{src}",
        tmp_path / f"out.{dst}",
        batch_size=700,
        keep_columns=["id", "note"],
        progress=seen.append,
        accelerate=False,
    )
    assert summary.rows == 3_000
    assert summary.batches == 5
    out = (
        pd.read_csv(tmp_path / "out.csv")
        if dst == "csv"
        else pd.read_parquet(tmp_path / "out.parquet")
    )
    assert list(out.columns) == ["prediction", "proba_0", "proba_1", "id", "note", "model"]
    np.testing.assert_array_equal(out["prediction"], models.lr.predict(data[FEATURES]))
    np.testing.assert_allclose(
        out[["proba_0", "proba_1"]].to_numpy(), models.lr.predict_proba(data[FEATURES]), atol=1e-12
    )
    assert out["id"].tolist() == data["id"].tolist()
    assert set(out["note"]) == {"row"}
    if src == "csv":
        size = (tmp_path / "in.csv").stat().st_size
        assert seen[-1].unit == "bytes" and seen[-1].total == size and seen[-1].done == size
        assert all(0 <= p.done <= size for p in seen)


def test_large_parquet_in_bounded_memory(sqlite_ws: Any, tmp_path: Path) -> None:
    """200,000 rows scored 10,000 at a time: peak Python allocations (tracemalloc) stay far below
    the size of the input as a DataFrame, Arrow's own allocations stay flat, and the result
    equals the model's predictions on the whole data."""
    wide = [f"x{i}" for i in range(10)]
    X, y = training(2_000, seed=3, columns=wide)
    model = LogisticRegression().fit(X, y)
    mp.register_model("wide", model, X.head(100))

    data = rows(200_000, seed=4, columns=wide).drop(columns="note")
    frame_bytes = int(data.memory_usage(deep=True, index=True).sum())
    table = pa.Table.from_pandas(data, preserve_index=False)
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=20_000)
    expected = model.predict(data[wide])
    expected_proba = model.predict_proba(data[wide])
    ids = data["id"].to_numpy()
    del data, table

    # warm up (imports, the model cache) so that only scoring itself is measured
    small = pd.DataFrame(np.zeros((10, 10)), columns=wide).assign(id=0)
    small.to_parquet(tmp_path / "small.parquet", index=False)
    score_file(sqlite_ws, "models:/wide/1", tmp_path / "small.parquet", tmp_path / "w.parquet")

    arrow_base = pa.total_allocated_bytes()
    arrow_samples: list[int] = []

    def progress(p: ScoreProgress) -> None:
        arrow_samples.append(pa.total_allocated_bytes() - arrow_base)

    tracemalloc.start()
    try:
        summary = score_file(
            sqlite_ws,
            "models:/wide/1",
            tmp_path / "big.parquet",
            tmp_path / "scored.parquet",
            batch_size=10_000,
            keep_columns=["id"],
            progress=progress,
            accelerate=False,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    print(
        f"input as DataFrame: {frame_bytes / 1e6:.1f} MB; peak Python allocations while "
        f"scoring: {peak / 1e6:.2f} MB; Arrow allocations: max "
        f"{max(arrow_samples) / 1e6:.1f} MB"
    )
    assert summary.rows == 200_000
    assert summary.batches == 20
    assert peak < frame_bytes / 3, (peak, frame_bytes)
    assert max(arrow_samples) < frame_bytes / 2, (arrow_samples, frame_bytes)
    # flat, not growing with the rows read
    assert max(arrow_samples[10:]) <= max(arrow_samples[:10]) * 1.2 + 1e6, arrow_samples

    out = pq.read_table(tmp_path / "scored.parquet")
    np.testing.assert_array_equal(out.column("prediction").to_numpy(), expected)
    np.testing.assert_allclose(out.column("proba_1").to_numpy(), expected_proba[:, 1])
    np.testing.assert_array_equal(out.column("id").to_numpy(), ids)
    assert pq.ParquetFile(tmp_path / "scored.parquet").metadata.num_rows == 200_000


def test_accelerated_runtime_agrees(models: SimpleNamespace, tmp_path: Path) -> None:
    data = rows(1_000, seed=5)
    data.to_parquet(tmp_path / "in.parquet", index=False)
    score_file(models.ws, "models:/clf/1", tmp_path / "in.parquet", tmp_path / "out.parquet")
    out = pd.read_parquet(tmp_path / "out.parquet")
    agree = (out["prediction"].to_numpy() == models.lr.predict(data[FEATURES])).mean()
    assert agree > 0.99
    np.testing.assert_allclose(
        out["proba_1"].to_numpy(), models.lr.predict_proba(data[FEATURES])[:, 1], atol=1e-4
    )


def test_regressor_and_string_classes(sqlite_ws: Any, tmp_path: Path) -> None:
    X, y = training(300, seed=6)
    reg = LinearRegression().fit(X, X["a"] * 2 + 1)
    mp.register_model("reg", reg, X.head(20))
    labels = np.where(y == 1, "yes", "no")
    named = LogisticRegression().fit(X, labels)
    mp.register_model("named", named, X.head(20))
    data = rows(500, seed=7)
    data.to_parquet(tmp_path / "in.parquet", index=False)

    score_file(sqlite_ws, "models:/reg/1", tmp_path / "in.parquet", tmp_path / "reg.parquet")
    out = pd.read_parquet(tmp_path / "reg.parquet")
    assert list(out.columns) == ["prediction", "model"]
    np.testing.assert_allclose(out["prediction"], reg.predict(data[FEATURES]), rtol=1e-4)

    score_file(
        sqlite_ws,
        "models:/named/1",
        tmp_path / "in.parquet",
        tmp_path / "named.csv",
        accelerate=False,
    )
    out = pd.read_csv(tmp_path / "named.csv")
    assert list(out.columns) == ["prediction", "proba_no", "proba_yes", "model"]
    assert out["prediction"].tolist() == named.predict(data[FEATURES]).tolist()


def test_empty_input_writes_the_columns(models: SimpleNamespace, tmp_path: Path) -> None:
    rows(0).to_parquet(tmp_path / "in.parquet", index=False)
    summary = score_file(
        models.ws,
        "models:/clf/1",
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        keep_columns=["id"],
    )
    assert summary.rows == 0
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 0
    assert list(out.columns) == ["prediction", "proba_0", "proba_1", "id", "model"]


# -- endpoints (graphs) -----------------------------------------------------------------------------


def test_endpoint_graph_mean_of_two_models(models: SimpleNamespace, tmp_path: Path) -> None:
    models.ws.endpoints.deploy(
        "churn",
        {
            "graph": {
                "models": [{"uri": "models:/clf/1"}, {"uri": "models:/tree@latest"}],
                "ensemble": "mean",
                "label_map": {"0": "stay", "1": "churn"},
            },
            "accelerate": False,
        },
    )
    data = rows(2_000, seed=8)
    data.to_csv(tmp_path / "in.csv", index=False)
    summary = score_file(
        models.ws,
        "churn",
        tmp_path / "in.csv",
        tmp_path / "out.parquet",
        batch_size=600,
        keep_columns=["id"],
    )
    assert summary.model_versions == ["clf/1", "tree/1"]
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == ["prediction", "proba_stay", "proba_churn", "id", "model"]
    proba = (models.lr.predict_proba(data[FEATURES]) + models.dt.predict_proba(data[FEATURES])) / 2
    np.testing.assert_allclose(out[["proba_stay", "proba_churn"]].to_numpy(), proba)
    expected = np.where(proba.argmax(axis=1) == 1, "churn", "stay")
    assert out["prediction"].tolist() == expected.tolist()
    assert set(out["model"]) == {"clf/1+tree/1"}


def test_endpoint_graph_with_preprocessing(models: SimpleNamespace, tmp_path: Path) -> None:
    models.ws.endpoints.deploy(
        "prep",
        {
            "graph": {
                "preprocess": [
                    {"type": "rename", "mapping": {"A": "a"}},
                    {"type": "fillna", "value": 0.0, "columns": ["a"]},
                    {"type": "clip", "lower": -1.0, "upper": 1.0, "columns": ["a"]},
                ],
                "models": [{"uri": "models:/clf/1"}],
                "threshold": 0.7,
            },
            "accelerate": False,
        },
    )
    data = rows(1_000, seed=9).rename(columns={"a": "A"})
    data.loc[5, "A"] = np.nan
    data.to_parquet(tmp_path / "in.parquet", index=False)
    score_file(models.ws, "prep", tmp_path / "in.parquet", tmp_path / "out.parquet")
    out = pd.read_parquet(tmp_path / "out.parquet")
    X = data.rename(columns={"A": "a"})[FEATURES].copy()
    X["a"] = X["a"].fillna(0.0).clip(-1, 1)
    p1 = models.lr.predict_proba(X)[:, 1]
    np.testing.assert_allclose(out["proba_1"], p1)
    np.testing.assert_array_equal(out["prediction"], (p1 >= 0.7).astype(int))


# -- errors ---------------------------------------------------------------------------------------


def test_missing_column_fails_before_any_output(models: SimpleNamespace, tmp_path: Path) -> None:
    rows(100).drop(columns="c").to_parquet(tmp_path / "in.parquet", index=False)
    with pytest.raises(SchemaValidationError, match="no column 'c'") as err:
        score_file(models.ws, "models:/clf/1", tmp_path / "in.parquet", tmp_path / "out.csv")
    assert err.value.field == "c"
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(SchemaValidationError, match="no column 'customer'"):
        score_file(
            models.ws,
            "models:/clf/1",
            tmp_path / "in.parquet",
            tmp_path / "out.csv",
            keep_columns=["customer"],
        )
    assert leftovers(tmp_path) == []


def test_failure_midway_leaves_previous_output_alone(
    models: SimpleNamespace, tmp_path: Path
) -> None:
    data = rows(5_000, seed=10)
    text = data.to_csv(index=False).splitlines()
    header = text[0].split(",")
    cells = text[4_001].split(",")
    cells[header.index("b")] = "oops"
    text[4_001] = ",".join(cells)
    (tmp_path / "in.csv").write_text("\n".join(text) + "\n")
    (tmp_path / "out.parquet").write_text("previous result")
    with pytest.raises(InvalidInputError, match="oops"):
        score_file(
            models.ws,
            "models:/clf/1",
            tmp_path / "in.csv",
            tmp_path / "out.parquet",
            batch_size=500,
        )
    assert (tmp_path / "out.parquet").read_text() == "previous result"
    assert leftovers(tmp_path) == []


def test_null_in_a_model_column_names_the_row(models: SimpleNamespace, tmp_path: Path) -> None:
    data = rows(3_000, seed=11)
    data.loc[2_345, "b"] = np.nan
    data.to_parquet(tmp_path / "in.parquet", index=False)
    with pytest.raises(SchemaValidationError, match="row 2346, column 'b'"):
        score_file(
            models.ws, "models:/clf/1", tmp_path / "in.parquet", tmp_path / "o.csv", batch_size=1000
        )
    assert not (tmp_path / "o.csv").exists()


def test_text_in_a_numeric_column(models: SimpleNamespace, tmp_path: Path) -> None:
    rows(10).assign(d="x").to_parquet(tmp_path / "in.parquet", index=False)
    with pytest.raises(SchemaValidationError, match="column 'd' must hold numbers"):
        score_file(models.ws, "models:/clf/1", tmp_path / "in.parquet", tmp_path / "o.csv")


def test_bad_files_and_targets(models: SimpleNamespace, tmp_path: Path) -> None:
    ws = models.ws
    rows(10).to_parquet(tmp_path / "in.parquet", index=False)
    (tmp_path / "in.json").write_text("{}")
    (tmp_path / "broken.parquet").write_bytes(b"not a parquet file at all")
    (tmp_path / "empty.csv").write_bytes(b"")
    cases: list[tuple[Any, ...]] = [
        ("models:/clf/1", "in.json", "out.csv", InvalidInputError, "must end in .csv or .parquet"),
        ("models:/clf/1", "in.parquet", "out.txt", InvalidInputError, "must end in .csv or"),
        ("models:/clf/1", "nope.parquet", "out.csv", NotFoundError, "does not exist"),
        ("models:/clf/1", "broken.parquet", "out.csv", InvalidInputError, "cannot read Parquet"),
        ("models:/clf/1", "empty.csv", "out.csv", InvalidInputError, "cannot read CSV"),
        ("models:/clf/1", "in.parquet", "no/such/dir/o.csv", InvalidInputError, "does not exist"),
        ("models:/clf/1", "in.parquet", "in.parquet", InvalidInputError, "replace the input"),
        ("models:/clf/9", "in.parquet", "out.csv", NotFoundError, "no version 9"),
        ("models:/nosuch@champion", "in.parquet", "out.csv", NotFoundError, "nosuch"),
        ("nosuch", "in.parquet", "out.csv", NotFoundError, "no endpoint named 'nosuch'"),
        ("s3://x/y", "in.parquet", "out.csv", InvalidInputError, "neither a models:/ URI"),
    ]
    for target, src, dst, error, message in cases:
        with pytest.raises(error, match=message):
            score_file(ws, target, tmp_path / src, tmp_path / dst)
    with pytest.raises(InvalidInputError, match="batch size"):
        score_file(ws, "models:/clf/1", tmp_path / "in.parquet", tmp_path / "o.csv", batch_size=0)
    with pytest.raises(InvalidInputError, match="own 'model' column"):
        score_file(
            ws, "models:/clf/1", tmp_path / "in.parquet", tmp_path / "o.csv", keep_columns=["model"]
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "broken.parquet",
        "empty.csv",
        "home",
        "in.json",
        "in.parquet",
    ]
