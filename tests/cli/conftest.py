"""Fixtures for the CLI tests: a CliRunner, a workspace holding data, helpers to run commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from modelplane.cli.app import app

MODEL = "iris-like"
DATASET = "toy-train"
EXPERIMENT = "exp-cli"


@dataclass
class Populated:
    """What the ``populated`` fixture created."""

    home: Path
    model: str
    dataset: str
    experiment: str
    run_ids: list[str]
    dataset_version: int
    model_versions: list[int]


class Cli:
    """Runs the CLI in-process (CliRunner on the Typer app) or as ``python -m modelplane``."""

    def __init__(self, runner: CliRunner, cwd: Path) -> None:
        self.runner = runner
        self.cwd = cwd

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return self.runner.invoke(app, list(args), env=env, catch_exceptions=False)

    def json(self, *args: str) -> Any:
        """Run with --json appended; stdout must be exactly one JSON document."""
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def subprocess(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "modelplane", *args],
            check=False,
            cwd=self.cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    @staticmethod
    def one_error_line(stderr: str, *contains: str) -> str:
        """stderr is exactly one ``error: …`` line (no traceback) containing ``contains``."""
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, stderr
        assert lines[0].startswith("error: "), stderr
        assert "Traceback" not in stderr
        for text in contains:
            assert text in lines[0], lines[0]
        return lines[0]


@pytest.fixture
def cli(home: Path) -> Cli:
    """The CLI on the isolated home (``MODELPLANE_HOME`` set, cwd a temp folder)."""
    return Cli(CliRunner(), Path.cwd())


@pytest.fixture
def populated(sqlite_ws: Any, home: Path) -> Populated:
    """Two runs, a dataset, model versions 1 and 2 with @champion moved from 1 to 2."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import modelplane as mp

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = (X["a"] + X["b"] > 0).astype(int)
    ds = mp.register_dataset(DATASET, X.assign(target=y), source="unit test")
    run_ids = []
    versions = []
    for c, auc in ((1.0, 0.95), (0.1, 0.85)):
        with mp.start_run(EXPERIMENT, tags={"team": "cli"}) as run:
            run.log_params({"C": c, "solver": "lbfgs"})
            run.log_metrics({"auc": auc, "f1": auc - 0.05})
            run.log_series("loss", [0.9, 0.5, 0.3])
        run_ids.append(run.id)
        model = LogisticRegression(C=c).fit(X, y)
        mv = mp.register_model(
            MODEL, model, X.head(3), run=run, datasets=[ds], metrics={"auc": auc}
        )
        versions.append(mv.version)
        mp.set_alias(MODEL, "champion", mv.version, reason=f"auc {auc}")
    return Populated(home, MODEL, DATASET, EXPERIMENT, run_ids, ds.version, versions)
