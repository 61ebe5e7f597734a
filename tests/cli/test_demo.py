"""``modelplane demo`` runs twice on a fresh home.

Each run registers the trained model and, for the hot swap, a challenger: run 1 makes v1 (trained)
and v2 (challenger, @champion after the swap); run 2 makes v3 and v4. The dataset stays v1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.mark.slow
def test_demo_twice(cli: Any, home: Path) -> None:
    first = cli.subprocess("demo")
    assert first.returncode == 0, first.stderr + first.stdout
    out = first.stdout
    for text in (
        "datasets:/breast-cancer-train/1",
        "models:/breast-cancer/1",
        "@champion",
        "predictions identical",
        "intact",
        "breast-cancer/1 → breast-cancer/2",
        " 0 failed",
        "batch scoring",
        str(home),
    ):
        assert text in out, text
    # the last lines say how to find this home again from any directory, and what to run
    tail = out[out.index("Next steps") :]
    assert f"export MODELPLANE_HOME={home}" in tail
    assert "modelplane models show breast-cancer" in tail
    assert "modelplane serve 'models:/breast-cancer@champion'" in tail

    second = cli("demo")  # in-process this time, through the Typer app
    assert second.exit_code == 0, second.output
    assert "models:/breast-cancer/3" in second.stdout
    assert "v2 → v3" in second.stdout
    assert "breast-cancer/3 → breast-cancer/4" in second.stdout
    assert "datasets:/breast-cancer-train/1" in second.stdout

    import modelplane as mp

    ws = mp.configure(home=home)
    try:
        assert [d.version for d in mp.list_datasets("breast-cancer-train")] == [1]
        model = mp.get_model("breast-cancer")
        assert model.latest_version == 4
        assert model.aliases == {"champion": 4}
        assert mp.get_model_version("models:/breast-cancer@champion").flavor == "sklearn"
        trained = mp.get_model_version("models:/breast-cancer/3")
        assert {m for m in trained.metrics} == {"accuracy", "auc", "f1"}
        assert trained.metrics["auc"] > 0.95
        assert [d["name"] for d in trained.datasets] == ["breast-cancer-train"]
        ep = ws.endpoints.get("breast-cancer")
        assert ep.config.model == "models:/breast-cancer@champion"
        assert (home / "demo-scores.parquet").is_file()
        runs = mp.search_runs("demo", "metrics.auc > 0.9")
        assert len(runs) == 2
        assert ws.audit.verify().ok
    finally:
        ws.close()

    verify = cli.json("audit", "verify")
    assert verify["ok"] is True
    history = cli.json("models", "aliases", "breast-cancer")
    assert [(h["old_version"], h["new_version"]) for h in history] == [
        (None, 1),
        (1, 2),
        (2, 3),
        (3, 4),
    ]


@pytest.mark.slow
def test_demo_on_explicit_home(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "demo-home"
    result = cli("--home", str(target), "demo")
    assert result.exit_code == 0, result.output
    assert (target / "modelplane.db").is_file()
    assert str(target) in result.stdout
    assert f"export MODELPLANE_HOME={target}" in result.stdout


def test_demo_refuses_a_home_whose_parent_does_not_exist(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "demo-home"
    result = cli("--home", str(target), "demo")
    assert result.exit_code == 2, result.output
    cli.one_error_line(result.stderr, "--home", "does not exist")
    assert not target.parent.exists()
