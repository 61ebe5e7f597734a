"""Params keep their type; filters compare params as text (quoted) or numbers (unquoted);
datasets:/ URIs are accepted wherever a dataset is named; names of metrics, tags and aliases
are validated — through the SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import modelplane as mp
from modelplane.errors import ConflictError, InvalidInputError, NotFoundError

TYPED = {
    "C": 1.0,
    "n": 3,
    "big": 2**60,
    "flag": True,
    "none": None,
    "name": "lbfgs",
    "conf": {"depth": 3, "layers": [64, 32], "opt": {"lr": 0.01}},
    "grid": [0.1, 1, "x"],
    "np": np.float32(0.5),
    "npint": np.int64(7),
}
EXPECTED = {**TYPED, "np": 0.5, "npint": 7}


def test_params_come_back_with_their_type(ws: mp.Workspace) -> None:
    with mp.start_run("types") as run:
        run.log_params(TYPED)
        run.log_param("text", "1.0")  # a string stays a string
    info = mp.get_run(run.id)
    assert info.params == {**EXPECTED, "text": "1.0"}
    for key, value in EXPECTED.items():
        assert type(info.params[key]) is type(value), key
    assert run.info.params == info.params

    frame = mp.search_runs("types")
    row = frame.iloc[0]
    assert row["params.conf"] == TYPED["conf"]
    assert row["params.n"] == 3 and frame["params.n"].dtype.kind == "i"  # a column of ints
    assert row["params.none"] is None and bool(row["params.flag"]) is True
    assert mp.list_runs("types")[0].params == info.params
    assert info.to_dict()["params"]["conf"] == TYPED["conf"]


def test_params_stay_immutable_and_bounded(ws: mp.Workspace) -> None:
    with mp.start_run("types") as run:
        run.log_params({"conf": {"a": 1}, "x": float("nan")})
        run.log_params({"conf": {"a": 1}})  # the same value again
        with pytest.raises(ConflictError, match="immutable"):
            run.log_params({"conf": {"a": 2}})
        with pytest.raises(InvalidInputError) as err:
            run.log_params({"huge": {"k": "v" * 7000}})
        assert err.value.field == "params.huge"
        with pytest.raises(InvalidInputError) as err:
            run.log_params({"bad": {"f": float("nan")}})
        assert err.value.field == "params.bad"
        with pytest.raises(InvalidInputError):
            run.log_params({"obj": {1: object()}})
    assert mp.get_run(run.id).params["x"] == "nan"  # no JSON for NaN: its text


def test_filters_compare_params_as_text_or_numbers(ws: mp.Workspace) -> None:
    ids = {}
    for c, n in ((0.1, 2), (1.0, 3), (10.0, 4)):
        with mp.start_run("filters") as run:
            run.log_params({"C": c, "n": n, "s": str(c), "label": f"c{c}"})
        ids[c] = run.id

    def found(flt: str) -> set[str]:
        return set(mp.search_runs("filters", flt)["run_id"])

    assert found("params.C = '1.0'") == {ids[1.0]}  # MLflow's text comparison
    assert found("params.C > 0.5") == {ids[1.0], ids[10.0]}
    assert found("params.C >= 0.1 and params.C < 10") == {ids[0.1], ids[1.0]}
    assert found("params.n = 3") == {ids[1.0]}
    assert found("params.n != 3") == {ids[0.1], ids[10.0]}
    assert found("params.C = 1") == {ids[1.0]}  # numerically equal
    assert found("params.n IN (2, 4)") == {ids[0.1], ids[10.0]}
    assert found("params.s > 5") == {ids[10.0]}  # a string spelling a number has that number
    assert found("params.label > 0") == set()  # no number: never matches numerically
    assert found("params.label LIKE 'c1%'") == {ids[1.0], ids[10.0]}

    for bad, says in (
        ("params.C > '0.5'", "leave the number unquoted"),
        ("params.C LIKE 1", "quote the pattern"),
        ("params.C IN (1, '2')", "mixes numbers"),
        ("tags.t > 1", "tags are strings"),
    ):
        with pytest.raises(InvalidInputError, match=says) as err:
            mp.search_runs("filters", bad)
        assert err.value.field == "filter"


def test_unknown_experiment_is_an_error_naming_it(ws: mp.Workspace) -> None:
    with pytest.raises(NotFoundError, match="no experiment named 'nope'") as err:
        mp.search_runs(experiment="nope")
    assert err.value.field == "experiment"
    with pytest.raises(NotFoundError):
        mp.list_runs(["Default", "nope"])
    with pytest.raises(InvalidInputError):
        mp.search_runs(experiment="../etc")


def test_dataset_uris_are_accepted_everywhere(ws: mp.Workspace) -> None:
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    v1 = mp.register_dataset("uri-ds", X)
    v2 = mp.register_dataset("uri-ds", X.assign(a=X["a"] * 2))
    assert v1.uri == "datasets:/uri-ds/1"
    assert mp.get_dataset("datasets:/uri-ds/1").version == 1
    for latest in ("datasets:/uri-ds", "datasets:/uri-ds@latest"):
        assert mp.get_dataset(latest).version == 2
    assert mp.load_dataset("datasets:/uri-ds/2")["a"].tolist() == [0.0, 2.0, 4.0, 6.0]
    with mp.start_run("uris") as run:
        run.log_dataset("datasets:/uri-ds/1")
        run.log_dataset("datasets:/uri-ds", context="eval")
        mv = mp.register_model(
            "uri-model", LogisticRegression().fit(X, [0, 0, 1, 1]), X, run=run,
            datasets=["datasets:/uri-ds/2"],
        )  # fmt: skip
    assert {(d["version"], d["context"]) for d in mp.get_run(run.id).datasets} == {
        (1, "training"),
        (2, "eval"),
        (2, "training"),
    }
    assert [d["version"] for d in mv.datasets] == [v2.version]

    for bad in ("datasets:/", "datasets:/uri-ds/0", "datasets:/uri-ds@v1", "datasets:/a/b/c"):
        with pytest.raises(InvalidInputError) as err:
            mp.get_dataset(bad)
        assert err.value.field in ("dataset", "dataset name"), bad
    with pytest.raises(NotFoundError):
        mp.get_dataset("datasets:/uri-ds/9")
    with pytest.raises(NotFoundError):
        run.log_dataset("datasets:/nope/1")
    with pytest.raises(InvalidInputError):
        mp.get_dataset("datasets:/uri-ds/1", version=2)


@pytest.mark.parametrize(
    "key", ["", "a..b/../c", "../x", "/abs", "a//b", "x/", "bell\x07", "tab\tkey", "é" * 3, "a;b"]
)
def test_metric_and_tag_keys_are_validated(ws: mp.Workspace, key: str) -> None:
    with mp.start_run("names") as run:
        for call, field in (
            (lambda: run.log_metric(key, 1.0), "metric name"),
            (lambda: run.set_tag(key, "v"), "tag name"),
            (lambda: run.log_param(key, 1), "param name"),
        ):
            with pytest.raises(InvalidInputError) as err:
                call()
            assert err.value.field == field


def test_mlflow_style_keys_are_accepted(ws: mp.Workspace) -> None:
    keys = ["val/loss", "lr-schedule.step", "f1 score", "a:b", "x" * 250, "a..b"]
    with mp.start_run("names") as run:
        run.log_metrics({k: 1.0 for k in keys})
        run.set_tags({k: "v" for k in keys})
    info = mp.get_run(run.id)
    assert set(info.metrics) == set(keys) and set(info.tags) == set(keys)
    assert not math.isnan(info.metrics["f1 score"])


@pytest.mark.parametrize("alias", ["3", "v3", "V12", "v0"])
def test_version_like_aliases_are_refused(ws: mp.Workspace, alias: str) -> None:
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    mp.register_model("alias-model", LogisticRegression().fit(X, [0, 0, 1, 1]), X)
    with pytest.raises(InvalidInputError) as err:
        mp.set_alias("alias-model", alias, 1)
    assert err.value.field == "alias"
    mp.set_alias("alias-model", "v3-candidate", 1)  # a word that starts like one is fine
