"""``modelplane runs list``, ``datasets list``, ``init`` and the global options."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_runs_list_table_and_json(cli: Any, populated: Any) -> None:
    result = cli("runs", "list")
    assert result.exit_code == 0, result.output
    for run_id in populated.run_ids:
        assert run_id in result.stdout  # ids are never folded or truncated
    assert "FINISHED" in result.stdout and populated.experiment in result.stdout

    runs = cli.json("runs", "list")
    assert {r["id"] for r in runs} == set(populated.run_ids)
    newest = runs[0]
    assert newest["id"] == populated.run_ids[1]  # newest first by default
    assert newest["params"] == {"C": 0.1, "solver": "lbfgs"}
    assert newest["metrics"]["auc"] == 0.85
    assert newest["metrics"]["loss"] == 0.3
    assert newest["tags"] == {"team": "cli"}
    assert newest["datasets"] == [{"name": populated.dataset, "version": 1, "context": "training"}]


def test_runs_filter_order_limit(cli: Any, populated: Any) -> None:
    good = cli.json("runs", "list", "--filter", "metrics.auc > 0.9 and params.C = '1.0'")
    assert [r["id"] for r in good] == [populated.run_ids[0]]

    ordered = cli.json("runs", "list", "--order-by", "metrics.auc ASC")
    assert [r["id"] for r in ordered] == [populated.run_ids[1], populated.run_ids[0]]

    limited = cli.json(
        "runs",
        "list",
        "--experiment",
        populated.experiment,
        "--order-by",
        "metrics.auc DESC",
        "--limit",
        "1",
    )
    assert [r["id"] for r in limited] == [populated.run_ids[0]]

    none = cli("runs", "list", "--filter", "metrics.auc > 0.99")
    assert none.exit_code == 0
    assert "no runs match" in none.stdout
    assert cli.json("runs", "list", "--filter", "metrics.auc > 0.99") == []


def test_runs_unknown_experiment(cli: Any, populated: Any) -> None:
    result = cli("runs", "list", "--experiment", "nope")
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "no experiment named 'nope'", "(field: experiment)")


def test_datasets_list(cli: Any, populated: Any) -> None:
    result = cli("datasets", "list")
    assert result.exit_code == 0, result.output
    assert populated.dataset in result.stdout and "60" in result.stdout

    doc = cli.json("datasets", "list")
    assert len(doc) == 1
    entry = doc[0]
    assert entry["name"] == populated.dataset
    assert entry["version"] == 1
    assert entry["num_rows"] == 60 and entry["num_columns"] == 4
    assert len(entry["content_hash"]) == 64
    assert entry["uri"] == f"datasets:/{populated.dataset}/1"

    assert cli.json("datasets", "list", populated.dataset) == doc
    result = cli("datasets", "list", populated.dataset)
    assert result.exit_code == 0
    assert entry["content_hash"][:16] in result.stdout


def test_datasets_unknown_and_empty(cli: Any, sqlite_ws: object) -> None:
    result = cli("datasets", "list")
    assert result.exit_code == 0
    assert "no datasets" in result.stdout
    assert cli.json("datasets", "list") == []
    result = cli("datasets", "list", "missing")
    assert result.exit_code == 2
    cli.one_error_line(result.stderr, "no dataset named 'missing'")


def test_init(cli: Any, home: Path) -> None:
    assert not home.exists()
    result = cli("init")
    assert result.exit_code == 0, result.output
    assert str(home) in result.stdout
    assert (home / "modelplane.db").is_file()
    assert (home / "artifacts").is_dir()

    doc = cli.json("init")
    assert doc == {
        "home": str(home),
        "db_url": f"sqlite:///{home / 'modelplane.db'}",
        "database": "sqlite",
        "schema_revision": doc["schema_revision"],
        "artifacts": str(home / "artifacts"),
    }
    assert doc["schema_revision"]


def test_global_home_option_moves_defaults(cli: Any, populated: Any, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    doc = cli.json("--home", str(other), "init")
    assert doc["home"] == str(other)
    assert doc["db_url"] == f"sqlite:///{other / 'modelplane.db'}"
    assert doc["artifacts"] == str(other / "artifacts")
    assert cli.json("--home", str(other), "models", "list") == []
    # the environment's home still has the data
    assert len(cli.json("models", "list")) == 1


def test_global_db_url_and_artifacts(cli: Any, home: Path, tmp_path: Path) -> None:
    db = tmp_path / "x" / "meta.db"
    store = tmp_path / "x" / "blobs"
    doc = cli.json("--db-url", f"sqlite:///{db}", "--artifacts", str(store), "init")
    assert doc["db_url"] == f"sqlite:///{db}"
    assert doc["artifacts"] == str(store)
    assert db.is_file() and store.is_dir()


def test_env_db_url_wins_over_home_default(cli: Any, home: Path, tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    result = cli(
        "--home",
        str(tmp_path / "h2"),
        "init",
        "--json",
        env={"MODELPLANE_DB_URL": f"sqlite:///{db}"},
    )
    assert result.exit_code == 0, result.output
    assert db.is_file()
    assert not (tmp_path / "h2" / "modelplane.db").exists()


def test_init_hides_password(cli: Any, home: Path) -> None:
    from modelplane.cli.output import hide_password

    assert hide_password("postgresql+psycopg://me:s3cret@db:5432/mp") == (
        "postgresql+psycopg://me:***@db:5432/mp"
    )
    assert hide_password("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_db_url_option_on_each_backend(cli: Any, home: Path, db_url: str) -> None:
    """--db-url points the CLI at SQLite or PostgreSQL; the SDK's data shows up there."""
    import pandas as pd

    import modelplane as mp

    doc = cli.json("--db-url", db_url, "init")
    assert doc["database"] == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    ws = mp.configure(home=home, db_url=db_url, actor="tester")
    try:
        mp.register_dataset("backend-check", pd.DataFrame({"x": [1, 2, 3]}))
    finally:
        ws.close()
    listed = cli.json("--db-url", db_url, "datasets", "list")
    assert [(d["name"], d["num_rows"]) for d in listed] == [("backend-check", 3)]
    assert cli.json("--db-url", db_url, "audit", "verify")["ok"] is True
    assert cli.json("datasets", "list") == []  # the home's own SQLite file is untouched
