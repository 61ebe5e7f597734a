"""``modelplane models …`` on a workspace with data, as tables and as --json."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import yaml

MODEL = "iris-like"


def test_list_table_and_json(cli: Any, populated: Any) -> None:
    result = cli("models", "list")
    assert result.exit_code == 0, result.output
    assert MODEL in result.stdout
    assert "v2" in result.stdout
    assert "@champion" in result.stdout
    assert result.stderr == ""

    doc = cli.json("models", "list")
    assert [m["name"] for m in doc] == [MODEL]
    assert doc[0]["latest_version"] == 2
    assert doc[0]["aliases"] == {"champion": 2}


def test_list_empty(cli: Any, sqlite_ws: object) -> None:
    result = cli("models", "list")
    assert result.exit_code == 0
    assert "no models" in result.stdout
    assert cli.json("models", "list") == []


def test_show_model_versions(cli: Any, populated: Any) -> None:
    result = cli("models", "show", MODEL)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Versions" in out and "v1" in out and "v2" in out
    assert "sklearn" in out and "auc=0.95" in out and "@champion" in out

    doc = cli.json("models", "show", MODEL)
    assert doc["model"]["name"] == MODEL
    assert [v["version"] for v in doc["versions"]] == [1, 2]
    assert doc["versions"][1]["aliases"] == ["champion"]


def test_show_version_details(cli: Any, populated: Any) -> None:
    doc = cli.json("models", "show", MODEL, "--version", "1")
    assert doc["version"] == 1
    assert doc["uri"] == f"models:/{MODEL}/1"
    assert doc["run_id"] == populated.run_ids[0]
    assert doc["datasets"][0]["name"] == populated.dataset
    assert [c["name"] for c in doc["signature"]["inputs"]] == ["a", "b", "c"]
    digest = next(iter(doc["files"].values()))
    assert len(digest) == 64

    result = cli("models", "show", MODEL, "--version", "1")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("Signature inputs", "Metrics", "Params", "Lineage", "Files", populated.dataset):
        assert text in out, text
    assert digest in out
    assert populated.run_ids[0] in out


def test_show_by_alias_and_uri(cli: Any, populated: Any) -> None:
    assert cli.json("models", "show", MODEL, "--alias", "champion")["version"] == 2
    assert cli.json("models", "show", f"models:/{MODEL}@champion")["version"] == 2
    assert cli.json("models", "show", f"models:/{MODEL}/1")["version"] == 1
    assert cli.json("models", "show", f"models:/{MODEL}@latest")["version"] == 2
    whole = cli.json("models", "show", f"models:/{MODEL}")
    assert len(whole["versions"]) == 2
    result = cli("models", "show", f"models:/{MODEL}/1")
    assert result.exit_code == 0
    assert f"models:/{MODEL}/1" in result.stdout


def test_show_card(cli: Any, populated: Any) -> None:
    result = cli("models", "show", MODEL, "--version", "2", "--card")
    assert result.exit_code == 0, result.output
    card = result.stdout
    assert card.lstrip().startswith("#")  # raw markdown when stdout is not a terminal
    assert MODEL in card

    doc = cli.json("models", "show", MODEL, "--card")
    assert doc["version"] == 2  # without --version/--alias: the latest version
    assert doc["model_card"].strip() == card.strip()


def _mlflow_dir(root: Path) -> Path:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    root.mkdir()
    (root / "model.pkl").write_bytes(pickle.dumps(model))
    mlmodel = {
        "artifact_path": "model",
        "mlflow_version": "2.14.1",
        "model_uuid": "0f6c1e9a4b8d4a52b1f3c2d4e5f60718",
        "utc_time_created": "2024-06-01 12:00:00.000000",
        "flavors": {
            "python_function": {
                "loader_module": "mlflow.sklearn",
                "model_path": "model.pkl",
                "python_version": "3.11.7",
            },
            "sklearn": {
                "pickled_model": "model.pkl",
                "serialization_format": "pickle",
                "sklearn_version": "1.5.0",
            },
        },
    }
    (root / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return root


def test_import(cli: Any, sqlite_ws: object, tmp_path: Path) -> None:
    path = _mlflow_dir(tmp_path / "mlflow-model")
    result = cli(
        "models", "import", str(path), "--name", "imported", "--description", "from mlflow"
    )
    assert result.exit_code == 0, result.output
    assert "models:/imported/1" in result.stdout
    assert "sklearn" in result.stdout

    doc = cli.json("models", "import", str(path), "--name", "imported")
    assert doc["uri"] == "models:/imported/2"
    assert doc["tags"]["source"] == "mlflow"
    shown = cli.json("models", "show", "imported", "--version", "1")
    assert shown["description"] == "from mlflow"


def test_alias_set_move_delete_and_history(cli: Any, populated: Any) -> None:
    result = cli("models", "alias", MODEL, "challenger", "1", "--reason", "ab test")
    assert result.exit_code == 0, result.output
    assert "@challenger" in result.stdout and "v1" in result.stdout

    doc = cli.json("models", "alias", MODEL, "champion", "1")
    assert doc["version"] == 1
    assert doc["previous_version"] == 2
    assert doc["model_version"]["aliases"] == ["challenger", "champion"]

    result = cli("models", "alias", MODEL, "challenger", "--delete")
    assert result.exit_code == 0, result.output
    assert "deleted @challenger" in result.stdout
    doc = cli.json("models", "alias", MODEL, "champion", "--delete")
    assert doc == {"name": MODEL, "alias": "champion", "deleted": True, "previous_version": 1}

    history = cli.json("models", "aliases", MODEL)
    moves = [(h["alias"], h["old_version"], h["new_version"]) for h in history]
    assert moves == [
        ("champion", None, 1),
        ("champion", 1, 2),
        ("challenger", None, 1),
        ("champion", 2, 1),
        ("challenger", 1, None),
        ("champion", 1, None),
    ]
    assert history[1]["reason"] == "auc 0.85"
    assert history[2]["reason"] == "ab test"
    assert history[0]["actor"] == "tester"
    assert history[0]["time"]

    result = cli("models", "aliases", MODEL)
    assert result.exit_code == 0, result.output
    for text in ("Alias history", "ab test", "(deleted)", "tester"):
        assert text in result.stdout, text


def test_alias_needs_version_unless_delete(cli: Any, populated: Any) -> None:
    result = cli("models", "alias", MODEL, "champion")
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "missing VERSION")
    result = cli("models", "alias", MODEL, "champion", "1", "--delete")
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "--delete")
    result = cli("models", "alias", MODEL, "champion", "9")
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "no version 9")
