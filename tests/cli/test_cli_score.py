"""``modelplane score``: --json summary, human output, options, and one-line errors with exit 2."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelplane as mp

FEATURES = ["a", "b", "c"]


@pytest.fixture
def scored(sqlite_ws: Any, tmp_path: Path) -> dict[str, Any]:
    """Model ``clf`` v1, an endpoint ``ens`` over it, and input files with an id column."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=FEATURES)
    y = (X["a"] - X["b"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    mp.register_model("clf", model, X.head(30))
    sqlite_ws.endpoints.deploy(  # type: ignore[attr-defined]
        "ens",
        {
            "graph": {
                "models": [{"uri": "models:/clf/1"}, {"uri": "models:/clf@latest"}],
                "ensemble": "vote",
                "label_map": {"0": "no", "1": "yes"},
            }
        },
    )
    data = pd.DataFrame(rng.normal(size=(250, 3)), columns=FEATURES).assign(id=range(250))
    data.to_parquet(tmp_path / "in.parquet", index=False)
    data.to_csv(tmp_path / "in.csv", index=False)
    return {"model": model, "data": data, "dir": tmp_path}


def test_score_json_summary(cli: Any, scored: dict[str, Any]) -> None:
    d = scored["dir"]
    doc = cli.json(
        "score",
        "models:/clf/1",
        str(d / "in.parquet"),
        "-o",
        str(d / "out.parquet"),
        "--keep",
        "id",
        "--batch-size",
        "100",
        "--no-accelerate",
    )
    assert doc["rows"] == 250
    assert doc["batches"] == 3
    assert doc["model_versions"] == ["clf/1"]
    assert doc["output"] == str(d / "out.parquet")
    assert doc["columns"] == ["prediction", "proba_0", "proba_1", "id", "model"]
    assert doc["seconds"] >= 0
    out = pd.read_parquet(d / "out.parquet")
    data = scored["data"]
    np.testing.assert_array_equal(out["prediction"], scored["model"].predict(data[FEATURES]))
    assert out["id"].tolist() == list(range(250))


def test_score_endpoint_with_human_output(cli: Any, scored: dict[str, Any]) -> None:
    d = scored["dir"]
    result = cli("score", "ens", str(d / "in.csv"), "-o", str(d / "out.csv"), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "scored 250 rows with clf/1 in" in result.stdout
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    out = pd.read_csv(d / "out.csv")
    assert list(out.columns) == ["prediction", "proba_no", "proba_yes", "model"]
    assert set(out["prediction"]) <= {"no", "yes"}
    assert set(out["model"]) == {"clf/1"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models:/clf/1", "{d}/in.parquet", "-o", "{d}/o.json"], "must end in .csv or .parquet"),
        (["models:/clf/1", "{d}/missing.csv", "-o", "{d}/o.csv"], "does not exist"),
        (["models:/clf/7", "{d}/in.csv", "-o", "{d}/o.csv"], "no version 7"),
        (["nosuch", "{d}/in.csv", "-o", "{d}/o.csv"], "no endpoint named 'nosuch'"),
        (["models:/clf/1", "{d}/in.csv", "-o", "{d}/o.csv", "--keep", "zz"], "no column 'zz'"),
        (["models:/clf/1", "{d}/nob.parquet", "-o", "{d}/o.csv"], "no column 'b'"),
        (["models:/clf/1", "{d}/in.csv", "-o", "{d}/o.csv", "--batch-size", "0"], "batch-size"),
    ],
)
def test_score_errors_exit_2_with_one_line(
    cli: Any, scored: dict[str, Any], args: list[str], message: str
) -> None:
    d = scored["dir"]
    scored["data"].drop(columns="b").to_parquet(d / "nob.parquet", index=False)
    result = cli("score", *[a.format(d=d) for a in args])
    assert result.exit_code == 2, result.output
    cli.one_error_line(result.stderr, message)
    assert not (d / "o.csv").exists() and not (d / "o.json").exists()


def test_score_needs_output(cli: Any, scored: dict[str, Any]) -> None:
    result = cli("score", "models:/clf/1", str(scored["dir"] / "in.csv"))
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "--output")


def test_progress_bar_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelplane.batch.scoring import ScoreProgress
    from modelplane.cli.score import _progress_bar

    buffer = io.StringIO()
    monkeypatch.setattr("sys.stderr", buffer)
    with _progress_bar(True, "rows") as update:
        assert update is not None
        update(ScoreProgress(rows=50, done=50, total=100, unit="rows"))
        update(ScoreProgress(rows=100, done=100, total=100, unit="rows"))
    with _progress_bar(False, "bytes") as nothing:
        assert nothing is None


def test_score_help_lists_options(cli: Any) -> None:
    result = cli("score", "--help")
    assert result.exit_code == 0
    for option in ("--output", "--keep", "--batch-size", "--no-progress", "--json"):
        assert option in result.stdout
