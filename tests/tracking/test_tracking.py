"""Tracking through the SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import pytest

import modelplane as mp
from modelplane.errors import ConflictError, InvalidInputError, NotFoundError


def test_run_lifecycle_and_status(ws: mp.Workspace) -> None:
    with mp.start_run("exp", "first", tags={"team": "risk"}) as run:
        run.log_params({"C": 1.0, "penalty": "l2"})
        run.log_metrics({"auc": 0.91, "f1": 0.8})
    info = mp.get_run(run.id)
    assert info.status == "FINISHED"
    assert info.end_time is not None and info.end_time >= info.start_time
    assert info.params == {"C": 1.0, "penalty": "l2"}  # params keep their type
    assert info.metrics == {"auc": 0.91, "f1": 0.8}
    assert info.tags == {"team": "risk"}
    assert info.experiment == "exp" and info.name == "first"
    assert info.user == "tester"

    with pytest.raises(RuntimeError), mp.start_run("exp") as failing:
        raise RuntimeError("boom")
    assert mp.get_run(failing.id).status == "FAILED"


def test_metric_series_steps_and_latest(ws: mp.Workspace) -> None:
    with mp.start_run("exp") as run:
        run.log_metric("loss", 0.9)  # step 0
        run.log_metric("loss", 0.5)  # step 1
        run.log_metrics({"loss": 0.7}, step=0)  # a late point for step 0
        run.log_metric("loss", float("nan"))  # step 2
        run.log_series("acc", [0.1, 0.2, 0.3], start_step=10)
    hist = run.metric_history("loss")
    assert [p.step for p in hist] == [0, 0, 1, 2]
    assert [p.value for p in hist[:3]] == [0.9, 0.7, 0.5]
    assert math.isnan(hist[3].value)
    assert [p.step for p in run.metric_history("acc")] == [10, 11, 12]
    latest = mp.get_run(run.id).metrics
    assert math.isnan(latest["loss"])  # highest step wins, even when NaN
    assert latest["acc"] == 0.3


def test_log_batch_thousands_of_points_one_call(ws: mp.Workspace) -> None:
    with mp.start_run("exp") as run:
        n = run.log_batch((f"m{i % 3}", i / 10, i // 3, None) for i in range(6000))
    assert n == 6000
    assert len(run.metric_history("m0")) == 2000
    assert mp.get_run(run.id).metrics["m2"] == pytest.approx(599.9)


def test_params_are_immutable(ws: mp.Workspace) -> None:
    with mp.start_run("exp") as run:
        run.log_param("C", 1)
        run.log_param("C", "1")  # same value again is fine
        with pytest.raises(ConflictError, match="immutable"):
            run.log_param("C", 2)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda r: r.log_metric("auc", "high"), "metrics.auc"),
        (lambda r: r.log_metric("auc", None), "metrics.auc"),
        (lambda r: r.log_metric("auc", True), "metrics.auc"),
        (lambda r: r.log_metric("bad\x00key", 1.0), "metric name"),
        (lambda r: r.log_metric("x" * 300, 1.0), "metric name"),
        (lambda r: r.log_metric("auc", 1.0, step=1.5), "step"),
        (lambda r: r.log_params({"p": "v" * 7000}), "params.p"),
        (lambda r: r.log_params(["not", "a", "mapping"]), "params"),
        (lambda r: r.set_tags({"t\n": "x"}), "tag name"),
        (lambda r: r.log_batch([("a", 1.0)]), "metrics"),
    ],
)
def test_bad_tracking_input(ws: mp.Workspace, call: object, field: str) -> None:
    with mp.start_run("exp") as run, pytest.raises(InvalidInputError) as err:
        call(run)  # type: ignore[operator]
    assert err.value.field == field


def test_unknown_run_and_bad_run_ids(ws: mp.Workspace) -> None:
    tracking = ws.tracking
    with pytest.raises(NotFoundError):
        tracking.log_metrics("0" * 32, {"a": 1.0})
    with pytest.raises(NotFoundError):
        mp.get_run("f" * 32)
    with pytest.raises(InvalidInputError):
        tracking.log_metrics("x" * 100, {"a": 1.0})
    with pytest.raises(InvalidInputError):
        mp.start_run("../etc")


def _populate(n: int) -> None:
    for r in range(n):
        with mp.start_run(
            "search", f"run{r}", tags={"kind": "even" if r % 2 == 0 else "odd"}
        ) as run:
            run.log_params({"p0": f"v{r % 2}", "p1": f"v{r % 3}"})
            run.log_metrics({"m0": r / n, "m1": (r * 7) % 5})


def test_search_runs_filters_and_frame(ws: mp.Workspace) -> None:
    _populate(30)
    df = mp.search_runs("search")
    assert len(df) == 30
    assert {"run_id", "status", "metrics.m0", "params.p0", "tags.kind"} <= set(df.columns)
    assert str(df["start_time"].dtype).startswith("datetime64")

    df = mp.search_runs("search", "metrics.m0 > 0.5 and params.p0 = 'v0'")
    expected = {f"run{r}" for r in range(30) if r / 30 > 0.5 and r % 2 == 0}
    assert set(df["run_name"]) == expected

    assert len(mp.search_runs("search", "tags.kind = 'odd'")) == 15
    assert len(mp.search_runs("search", "params.p1 IN ('v0', 'v1')")) == 20
    assert len(mp.search_runs("search", "params.p1 NOT IN ('v0')")) == 20
    assert set(mp.search_runs("search", "run_name LIKE 'run2%'")["run_name"]) == {
        "run2",
        *(f"run2{i}" for i in range(10)),
    }
    assert len(mp.search_runs("search", "attributes.status = 'FINISHED' AND metrics.m1 >= 3")) == 12
    assert len(mp.search_runs("search", "metrics.`m0` <= 0")) == 1
    with pytest.raises(NotFoundError, match="no experiment named 'nope'"):
        mp.search_runs("nope")  # as the CLI and the HTTP API answer (exit 2, 404)

    top = mp.search_runs("search", order_by=["metrics.m0 DESC"], max_results=3)
    assert list(top["run_name"]) == ["run29", "run28", "run27"]
    listed = ws.tracking.list_runs(
        "search", "params.p0 = 'v1'", order_by=["run_name"], max_results=5
    )
    assert [r.name for r in listed] == ["run1", "run11", "run13", "run15", "run17"]


@pytest.mark.parametrize(
    "bad",
    [
        "metrics.auc >",
        "metrics.auc > 'high'",
        "params.C > '1'",  # compares text: the error says to leave the number unquoted
        "params.x = 'a' OR 1=1",
        "metrics.auc > 0.9; DROP TABLE runs",
        "metrics.auc > 0.9 and",
        "nosuch.field = 1",
        "params.C = 'unterminated",
        "params.C = '1' ) --",
        "metrics.auc LIKE 'x'",
        "x" * 20000,
        "attributes.nosuch = 'x'",
        "params.C IN ('a'",
    ],
)
def test_bad_filters_are_clear_errors(ws: mp.Workspace, bad: str) -> None:
    with mp.start_run("exp"):
        pass
    with pytest.raises(InvalidInputError) as err:
        mp.search_runs("exp", bad)
    assert err.value.field == "filter"
    assert len(mp.search_runs("exp")) == 1  # nothing was dropped


def test_bad_order_by(ws: mp.Workspace) -> None:
    with pytest.raises(InvalidInputError):
        mp.search_runs(order_by=["start_time; DROP TABLE runs"])
    with pytest.raises(InvalidInputError):
        mp.search_runs(order_by=["nosuch"])


def test_search_uses_indexes_sqlite(sqlite_ws: mp.Workspace) -> None:
    """Filters are index lookups, not scans: the plan names the (key, value) indexes."""
    from modelplane.tracking.filters import parse_filter, to_sql

    where, params = to_sql(parse_filter("metrics.auc > 0.9 and params.C = '1'"), "?")
    sql = f"SELECT r.id FROM runs r WHERE {' AND '.join(where)}"
    with sqlite_ws.meta.engine.connect() as conn:
        plan = " ".join(
            str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(params))
        )
    assert "ix_latest_metrics_key_value" in plan
    assert "ix_run_params_key_value" in plan
