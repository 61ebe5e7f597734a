"""The progress ``score_file`` reports moves with the work: one report per chunk scored, growing
in proportion to the rows scored (not jumping to the end while Arrow reads ahead)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelplane as mp
from modelplane.batch.scoring import ScoreProgress, score_file

FEATURES = ["a", "b", "c", "d", "e"]
ROWS = 30_000  # about 3 MiB of CSV: a dozen of the reader's blocks, all read ahead at once
CHUNK = 2_000


@pytest.fixture
def scored_input(sqlite_ws: Any, tmp_path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, len(FEATURES))), columns=FEATURES)
    mp.register_model("clf", LogisticRegression().fit(X, X["a"] > 0), X.head(5))
    data = pd.DataFrame(rng.normal(size=(ROWS, len(FEATURES))), columns=FEATURES)
    data.to_csv(tmp_path / "in.csv", index=False)
    data.to_parquet(tmp_path / "in.parquet", index=False)
    return data


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_progress_grows_chunk_by_chunk(
    sqlite_ws: Any, tmp_path: Path, scored_input: pd.DataFrame, suffix: str
) -> None:
    seen: list[ScoreProgress] = []
    summary = score_file(
        sqlite_ws,
        "models:/clf/1",
        tmp_path / f"in.{suffix}",
        tmp_path / "out.parquet",
        batch_size=CHUNK,
        progress=seen.append,
        accelerate=False,
    )
    chunks = ROWS // CHUNK
    assert summary.batches == chunks
    assert len(seen) == chunks + 1  # one report per chunk, and the final one
    assert [p.rows for p in seen[:chunks]] == [CHUNK * (i + 1) for i in range(chunks)]
    total = seen[0].total
    assert total is not None and all(p.total == total for p in seen)
    done = [p.done for p in seen]
    assert done == sorted(done)
    assert seen[-1].done == total
    # each report is near the share of rows scored so far (within one reader block)
    slack = 0.15 * total if suffix == "csv" else 0
    for p in seen:
        assert abs(p.done - total * p.rows / ROWS) <= slack, (p, total)
    assert done[0] < total / 4  # the first chunk is not reported as most of the work
    assert len(set(done)) >= chunks // 2  # it moves all along, not 0 → 100 at the end
