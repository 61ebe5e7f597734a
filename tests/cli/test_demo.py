"""``modelplane demo`` runs twice on a fresh home: version 2, @champion moved, dataset unchanged."""

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
        str(home),
    ):
        assert text in out, text

    second = cli("demo")  # in-process this time, through the Typer app
    assert second.exit_code == 0, second.output
    assert "models:/breast-cancer/2" in second.stdout
    assert "v1 → v2" in second.stdout
    assert "datasets:/breast-cancer-train/1" in second.stdout

    import modelplane as mp

    ws = mp.configure(home=home)
    try:
        assert [d.version for d in mp.list_datasets("breast-cancer-train")] == [1]
        model = mp.get_model("breast-cancer")
        assert model.latest_version == 2
        assert model.aliases == {"champion": 2}
        champion = mp.get_model_version("models:/breast-cancer@champion")
        assert champion.flavor == "sklearn"
        assert {m for m in champion.metrics} == {"accuracy", "auc", "f1"}
        assert champion.metrics["auc"] > 0.95
        assert [d["name"] for d in champion.datasets] == ["breast-cancer-train"]
        runs = mp.search_runs("demo", "metrics.auc > 0.9")
        assert len(runs) == 2
        assert ws.audit.verify().ok
    finally:
        ws.close()

    verify = cli.json("audit", "verify")
    assert verify["ok"] is True
    history = cli.json("models", "aliases", "breast-cancer")
    assert [(h["old_version"], h["new_version"]) for h in history] == [(None, 1), (1, 2)]


@pytest.mark.slow
def test_demo_on_explicit_home(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "demo-home"
    result = cli("--home", str(target), "demo")
    assert result.exit_code == 0, result.output
    assert (target / "modelplane.db").is_file()
    assert str(target) in result.stdout
