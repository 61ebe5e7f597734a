"""``modelplane runs show|delete|restore``, ``models delete|restore``, ``experiments list``,
``datasets show`` with URIs, and the bad-input paths (exit 2, one ``error:`` line)."""

from __future__ import annotations

from typing import Any


def test_runs_show_delete_restore(cli: Any, populated: Any) -> None:
    run_id = populated.run_ids[0]
    shown = cli.json("runs", "show", run_id)
    assert shown["id"] == run_id and shown["experiment"] == populated.experiment
    assert shown["params"] == {"C": 1.0, "solver": "lbfgs"}
    assert shown["metrics"]["auc"] == 0.95 and shown["tags"] == {"team": "cli"}
    assert shown["datasets"][0]["name"] == populated.dataset
    assert shown["status"] == "FINISHED" and shown["lifecycle"] == "active"
    table = cli("runs", "show", run_id)
    assert table.exit_code == 0, table.output
    for text in (run_id, "solver", "lbfgs", "auc", f"datasets:/{populated.dataset}/1"):
        assert text in table.stdout

    deleted = cli("runs", "delete", run_id)
    assert deleted.exit_code == 0 and "restore" in deleted.stdout
    listed = {r["id"] for r in cli.json("runs", "list")}
    assert listed == {populated.run_ids[1]}
    gone = cli.json("runs", "list", "--lifecycle", "deleted")
    assert [r["id"] for r in gone] == [run_id]
    assert cli.json("runs", "show", run_id)["lifecycle"] == "deleted"
    assert cli("runs", "restore", run_id).exit_code == 0
    assert {r["id"] for r in cli.json("runs", "list")} == set(populated.run_ids)
    audit = cli.json("audit", "list", "--target", f"runs/{run_id}")
    assert [e["action"] for e in audit[:2]] == ["run.restore", "run.delete"]


def test_models_delete_restore(cli: Any, populated: Any) -> None:
    name = populated.model
    refused = cli("models", "delete", name, "2")  # @champion points at version 2
    assert refused.exit_code == 1
    cli.one_error_line(refused.stderr, "@champion", "field: version")
    assert cli("models", "delete", name).exit_code == 1

    assert cli("models", "delete", name, "1").exit_code == 0
    versions = cli.json("models", "show", name)["versions"]
    assert [v["version"] for v in versions] == [2]
    assert cli("models", "restore", name, "1").exit_code == 0

    assert cli("models", "alias", name, "champion", "--delete").exit_code == 0
    assert cli("models", "delete", name).exit_code == 0
    assert cli.json("models", "list") == []
    assert cli("models", "restore", name).exit_code == 0
    assert [m["name"] for m in cli.json("models", "list")] == [name]


def test_models_list_and_show_by_lifecycle(cli: Any, populated: Any) -> None:
    name = populated.model
    assert cli("models", "delete", name, "1").exit_code == 0
    shown = cli.json("models", "show", name, "--lifecycle", "deleted")
    assert [(v["version"], v["lifecycle"]) for v in shown["versions"]] == [(1, "deleted")]
    assert shown["versions"][0]["deleted_at"] and shown["model"]["lifecycle"] == "active"
    every = cli.json("models", "show", name, "--lifecycle", "all")["versions"]
    assert [(v["version"], v["lifecycle"]) for v in every] == [(1, "deleted"), (2, "active")]
    table = cli("models", "show", name, "--lifecycle", "all")
    assert table.exit_code == 0, table.output
    assert "deleted" in table.stdout and "v1" in table.stdout and "v2" in table.stdout
    assert "deleted" not in cli("models", "show", name).stdout

    assert cli("models", "alias", name, "champion", "--delete").exit_code == 0
    assert cli("models", "delete", name).exit_code == 0
    assert cli.json("models", "list") == []
    assert cli("models", "list").stdout.strip() == "no models registered yet"
    (gone,) = cli.json("models", "list", "--lifecycle", "deleted")
    assert gone["name"] == name and gone["lifecycle"] == "deleted" and gone["deleted_at"]
    assert gone["latest_version"] == 2  # the latest once restored (v1 was deleted before)
    assert [m["name"] for m in cli.json("models", "list", "--lifecycle", "all")] == [name]
    table = cli("models", "list", "--lifecycle", "deleted")
    assert table.exit_code == 0 and name in table.stdout and "deleted" in table.stdout
    shown = cli.json("models", "show", name, "--lifecycle", "deleted")
    assert shown["model"]["lifecycle"] == "deleted"
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    table = cli("models", "show", name, "--lifecycle", "deleted")
    assert table.exit_code == 0 and f"modelplane models restore {name}" in table.stdout

    assert cli("models", "restore", name).exit_code == 0
    assert cli.json("models", "list", "--lifecycle", "deleted") == []
    assert cli("models", "list", "--lifecycle", "deleted").stdout.strip() == "no deleted models"
    assert [m["name"] for m in cli.json("models", "list")] == [name]
    assert [v["version"] for v in cli.json("models", "show", name)["versions"]] == [2]
    assert cli("models", "restore", name, "1").exit_code == 0
    assert cli.json("models", "show", name, "--lifecycle", "deleted")["versions"] == []


def test_experiments_list(cli: Any, populated: Any) -> None:
    experiments = {e["name"]: e for e in cli.json("experiments", "list")}
    exp = experiments[populated.experiment]
    assert exp["runs"] == 2 and exp["last_run_time"] and exp["id"] >= 1
    table = cli("experiments", "list")
    assert table.exit_code == 0 and populated.experiment in table.stdout


def test_datasets_show_takes_uris(cli: Any, populated: Any) -> None:
    uri = f"datasets:/{populated.dataset}/1"
    for target in (uri, f"datasets:/{populated.dataset}", populated.dataset):
        shown = cli.json("datasets", "show", target)
        assert shown["uri"] == uri and shown["num_rows"] == 60
    table = cli("datasets", "show", uri)
    assert table.exit_code == 0 and "target" in table.stdout


def test_bad_input_exits_2_with_one_line(cli: Any, populated: Any) -> None:
    for args, says in (
        (["runs", "show", "f" * 32], "no run with id"),
        (["runs", "delete", "f" * 32], "no run with id"),
        (["runs", "restore", "x" * 40], "invalid run id"),
        (["runs", "list", "--experiment", "nope"], "no experiment named 'nope'"),
        (["runs", "list", "--lifecycle", "gone"], "lifecycle"),
        (["models", "list", "--lifecycle", "gone"], "lifecycle must be one of"),
        (["models", "show", populated.model, "--lifecycle", "gone"], "lifecycle must be one of"),
        (["models", "show", populated.model, "-v", "1", "--lifecycle", "all"], "--lifecycle"),
        (["runs", "list", "--filter", "params.C > '1'"], "unquoted"),
        (["models", "delete", "nope"], "no model named 'nope'"),
        (["models", "delete", "../etc"], "invalid model name"),
        (["models", "restore", populated.model, "9"], "has no version 9"),
        (["datasets", "show", "datasets:/x/0"], "invalid dataset version"),
        (["datasets", "show", "datasets:/nope/1"], "no dataset"),
        (["models", "alias", populated.model, "v1", "1"], "reads as a version number"),
    ):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        cli.one_error_line(result.stderr, says)
