"""Drift engine: values equal scipy's, verdicts on the benchmark scenario, false-positive rates,
categorical edge cases, missing values, bad and hostile input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelplane.errors import InvalidInputError
from modelplane.monitoring import DriftReport, compare

SHIFTS = (0.2, 0.3, 0.5, 0.75, 1.0)


def scenario(n: int, k: int = 20, *, seed: int = 0, shifted: bool = True) -> tuple[Any, Any]:
    """Column j ~ Normal(j, 1 + j/10); in current, f0..f4 move by SHIFTS standard deviations."""
    rng = np.random.default_rng(seed)
    mean = np.arange(k, dtype=float)
    sd = 1 + np.arange(k) / 10
    reference = rng.normal(mean, sd, size=(n, k))
    current = rng.normal(mean, sd, size=(n, k))
    if shifted:
        current[:, : len(SHIFTS)] += np.array(SHIFTS) * sd[: len(SHIFTS)]
    names = [f"f{j}" for j in range(k)]
    return pd.DataFrame(reference, columns=names), pd.DataFrame(current, columns=names)


def test_import_stays_light() -> None:
    code = (
        "import sys, modelplane, modelplane.monitoring, modelplane.monitoring.drift; "
        "assert 'scipy' not in sys.modules, 'scipy'; assert 'pandas' not in sys.modules, 'pandas'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- values equal scipy's -------------------------------------------------------------------


def test_numeric_values_equal_scipy() -> None:
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(0, 2, 800), rng.normal(0.3, 2, 600)
    data_ref, data_cur = {"x": ref}, {"x": cur}

    ks = compare(data_ref, data_cur).columns["x"]
    expected = stats.ks_2samp(ref, cur)
    assert ks.test == "ks"
    assert ks.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert ks.p_value == pytest.approx(expected.pvalue, abs=1e-9)

    ws = compare(data_ref, data_cur, tests={"x": "wasserstein"}).columns["x"]
    assert ws.statistic == pytest.approx(
        stats.wasserstein_distance(ref, cur) / np.std(ref), abs=1e-9
    )
    assert ws.p_value is None and ws.p_adjusted is None

    psi = compare(data_ref, data_cur, tests={"x": "psi"}).columns["x"]
    cuts = np.quantile(ref, np.linspace(0, 1, 11)[1:-1])
    r = np.bincount(np.digitize(ref, cuts, right=True), minlength=10) / len(ref)
    c = np.bincount(np.digitize(cur, cuts, right=True), minlength=10) / len(cur)
    r, c = np.clip(r, 1e-4, None), np.clip(c, 1e-4, None)
    assert psi.statistic == pytest.approx(float(np.sum((c - r) * np.log(c / r))), abs=1e-9)


def test_large_numeric_defaults_to_normed_wasserstein() -> None:
    rng = np.random.default_rng(2)
    ref, cur = rng.normal(5, 3, 5000), rng.normal(5, 3, 4000)
    col = compare({"x": ref}, {"x": cur}).columns["x"]
    assert (col.test, col.threshold, col.kind) == ("wasserstein", 0.1, "numeric")
    assert col.statistic == pytest.approx(
        stats.wasserstein_distance(ref, cur) / np.std(ref), abs=1e-9
    )
    assert col.drifted is False


def test_categorical_values_equal_scipy() -> None:
    rng = np.random.default_rng(3)
    ref = rng.choice(["a", "b", "c", "d"], 700, p=[0.4, 0.3, 0.2, 0.1])
    cur = rng.choice(["a", "b", "c", "e"], 500, p=[0.3, 0.3, 0.3, 0.1])  # e new, d absent
    keys = ["a", "b", "c", "d", "e"]
    r = np.array([(ref == k).sum() for k in keys])
    c = np.array([(cur == k).sum() for k in keys])

    chi = compare({"s": ref}, {"s": cur}).columns["s"]
    expected = stats.chi2_contingency(np.vstack([r, c]), correction=False)
    assert (chi.test, chi.kind) == ("chi2", "categorical")
    assert chi.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert chi.p_value == pytest.approx(expected.pvalue, abs=1e-9)
    assert chi.drifted is True

    js = compare({"s": ref}, {"s": cur}, tests={"s": "jensenshannon"}).columns["s"]
    assert js.statistic == pytest.approx(jensenshannon(r / r.sum(), c / c.sum(), base=2), abs=1e-9)

    psi = compare({"s": ref}, {"s": cur}, tests={"s": "psi"}).columns["s"]
    rp, cp = np.clip(r / r.sum(), 1e-4, None), np.clip(c / c.sum(), 1e-4, None)
    assert psi.statistic == pytest.approx(float(np.sum((cp - rp) * np.log(cp / rp))), abs=1e-9)
    assert psi.to_dict()["categories"]["new"] == ["e"]
    assert psi.to_dict()["categories"]["absent"] == ["d"]


def test_bh_adjustment_equals_scipy() -> None:
    rng = np.random.default_rng(4)
    ref = {f"c{j}": rng.normal(0, 1, 300) for j in range(12)}
    cur = {f"c{j}": rng.normal(j * 0.04, 1, 300) for j in range(12)}
    report = compare(ref, cur)
    raw = np.array([report.columns[f"c{j}"].p_value for j in range(12)])
    adjusted = np.array([report.columns[f"c{j}"].p_adjusted for j in range(12)])
    np.testing.assert_allclose(
        adjusted, stats.false_discovery_control(raw, method="bh"), atol=1e-12
    )
    bonf = compare(ref, cur, correction="bonferroni")
    assert [bonf.columns[f"c{j}"].p_adjusted for j in range(12)] == pytest.approx(
        np.minimum(raw * 12, 1.0)
    )
    plain = compare(ref, cur, correction="none")
    assert all(c.p_adjusted == c.p_value for c in plain.columns.values())


# --- verdicts -------------------------------------------------------------------------------


def test_benchmark_scenario_flags_exactly_the_shifted_columns() -> None:
    reference, current = scenario(20_000)
    report = compare(reference, current)
    body = report.to_dict()
    assert body["summary"]["drifted_columns"] == ["f0", "f1", "f2", "f3", "f4"]
    assert body["summary"]["share"] == 0.25
    assert body["summary"]["correction"] == "bh"
    assert body["window"] == {"reference_rows": 20_000, "current_rows": 20_000}
    for j, shift in enumerate(SHIFTS):
        assert body["columns"][f"f{j}"]["statistic"] == pytest.approx(shift, abs=0.05)


def test_no_shift_false_positives_over_twenty_seeds() -> None:
    flags = 0
    for seed in range(20):
        reference, current = scenario(10_000, seed=seed, shifted=False)
        flags += len(compare(reference, current).drifted_columns)
    assert flags <= 1


def test_small_samples_ks_with_bh_keeps_false_positives_low() -> None:
    false_alarms = 0
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        ref = rng.normal(0, 1, size=(500, 30))
        cur = rng.normal(0, 1, size=(500, 30))
        cur[:, 7] += 1.0  # one clearly shifted column
        report = compare(ref, cur)
        assert {c.test for c in report.columns.values()} == {"ks"}
        assert report.columns["f7"].drifted is True
        false_alarms += len([n for n in report.drifted_columns if n != "f7"])
    # BH at 5 % keeps the false discoveries to a handful over 290 null columns; uncorrected
    # tests would give about 15
    assert false_alarms <= 3


def test_threshold_and_test_overrides() -> None:
    reference, current = scenario(5_000)
    report = compare(
        reference,
        current,
        tests={"f0": "ks", "f5": "psi"},
        thresholds={"f0": 0.01, "f1": 0.5, "f5": 0.25},
    )
    assert report.columns["f0"].test == "ks" and report.columns["f0"].threshold == 0.01
    assert report.columns["f0"].drifted is True  # 0.2 sd at n = 5000: p is tiny
    assert report.columns["f1"].threshold == 0.5 and report.columns["f1"].drifted is False
    assert report.columns["f5"].test == "psi" and report.columns["f5"].drifted is False


def test_prediction_drift_is_reported_apart() -> None:
    reference, current = scenario(3_000)
    reference["score"] = reference["f0"] * 2
    current["score"] = current["f0"] * 2
    body = compare(reference, current, prediction="score").to_dict()
    assert "score" not in body["columns"]
    assert body["prediction"]["test"] == "wasserstein"
    assert body["prediction"]["drifted"] is True
    assert body["summary"]["prediction_drifted"] is True
    assert compare(reference, current).to_dict()["prediction"] == {}
    alone = compare(reference, current, columns=[], prediction="score").to_dict()
    assert alone["columns"] == {} and alone["prediction"]["drifted"] is True
    assert alone["summary"]["share"] == 0.0


# --- categorical ----------------------------------------------------------------------------


def test_categorical_unseen_and_absent_categories() -> None:
    ref = pd.DataFrame({"colour": ["red", "green", "blue"] * 400})
    cur = pd.DataFrame({"colour": ["red", "green", "purple"] * 400})
    col = compare(ref, cur).columns["colour"]
    assert (col.test, col.kind, col.drifted) == ("jensenshannon", "categorical", True)
    assert col.categories is not None
    assert col.categories["new"] == ["purple"] and col.categories["absent"] == ["blue"]
    assert math.isfinite(col.statistic or math.nan)
    small = compare(ref.head(300), cur.head(300)).columns["colour"]
    assert small.test == "chi2" and small.drifted is True


def test_bool_category_and_few_valued_numeric_columns() -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame(
        {
            "flag": rng.random(800) < 0.3,
            "rating": rng.integers(1, 6, 800),
            "kind": pd.Categorical(rng.choice(["a", "b"], 800)),
        }
    )
    cur = pd.DataFrame(
        {
            "flag": rng.random(800) < 0.6,
            "rating": rng.integers(1, 6, 800),
            "kind": pd.Categorical(rng.choice(["a", "b"], 800)),
        }
    )
    report = compare(ref, cur)
    assert {c.kind for c in report.columns.values()} == {"categorical"}
    assert report.columns["flag"].drifted is True
    expected = stats.chi2_contingency(
        np.array(
            [
                [np.sum(~ref["flag"]), np.sum(ref["flag"])],
                [np.sum(~cur["flag"]), np.sum(cur["flag"])],
            ]
        ),
        correction=False,
    )
    assert report.columns["flag"].p_value == pytest.approx(expected.pvalue, abs=1e-9)
    assert report.columns["rating"].drifted is False
    numeric = compare(ref, cur, categorical={"rating": False}).columns["rating"]
    assert numeric.kind == "numeric" and numeric.test == "ks"


def test_numbers_declared_categorical() -> None:
    ref = {"zip": np.array([1000, 2000, 3000, 4000, 5000, 6000] * 50)}
    cur = {"zip": np.array([1000, 2000, 3000, 4000, 5000, 7000] * 50)}
    col = compare(ref, cur, categorical=["zip"]).columns["zip"]
    assert col.kind == "categorical" and col.categories is not None
    assert col.categories["new"] == ["7000"]


# --- missing values -------------------------------------------------------------------------


def test_missing_values_are_dropped_and_counted() -> None:
    ref = {"x": [1.0, None, 2.0, 3.0, float("nan"), 4.0] * 50, "s": ["a", None, "b"] * 100}
    cur = {"x": [1.0, 2.0, float("inf"), 3.0, 4.0, 5.0] * 50, "s": ["a", "b", "b"] * 100}
    body = compare(ref, cur, categorical={"x": False}).to_dict()
    assert body["columns"]["x"]["missing"] == {"reference": 100, "current": 50}
    assert body["columns"]["x"]["size"] == {"reference": 200, "current": 250}
    assert body["columns"]["s"]["missing"] == {"reference": 100, "current": 0}
    frame = pd.DataFrame({"x": pd.array([1, None, 3] * 100, dtype="Int64")})
    counted = compare(frame, frame, categorical={"x": False}).columns["x"]
    assert (counted.missing_reference, counted.drifted) == (100, False)


def test_column_empty_on_one_side_is_reported_not_raised() -> None:
    ref = {"x": np.arange(50.0), "s": ["a", "b"] * 25, "y": np.arange(50.0)}
    cur = {"x": np.full(50, np.nan), "s": [None] * 50, "y": np.arange(50.0)}
    body = compare(ref, cur).to_dict()
    for name in ("x", "s"):
        assert body["columns"][name]["drifted"] is None
        assert body["columns"][name]["reason"] == "no non-missing values in current"
        assert body["columns"][name]["statistic"] is None
    assert body["columns"]["y"]["drifted"] is False
    assert body["summary"]["share"] == 0.0
    json.dumps(body)  # JSON-ready


# --- input forms, bad and hostile input ------------------------------------------------------


def test_input_forms_agree() -> None:
    rng = np.random.default_rng(6)
    ref, cur = rng.normal(size=(400, 3)), rng.normal(0.5, 1, size=(400, 3))
    names = ["f0", "f1", "f2"]
    from_arrays = compare(ref, cur).to_dict()
    from_frames = compare(pd.DataFrame(ref, columns=names), pd.DataFrame(cur, columns=names))
    from_dicts = compare(dict(zip(names, ref.T, strict=True)), dict(zip(names, cur.T, strict=True)))
    assert from_arrays == from_frames.to_dict() == from_dicts.to_dict()
    assert isinstance(from_frames, DriftReport)


def _field(excinfo: pytest.ExceptionInfo[InvalidInputError]) -> str | None:
    return excinfo.value.field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tests": {"x": "anderson"}}, "tests"),
        ({"tests": {"nope": "ks"}}, "tests"),
        ({"thresholds": {"x": -0.1}}, "thresholds"),
        ({"thresholds": {"x": float("nan")}}, "thresholds"),
        ({"thresholds": {"x": float("inf")}}, "thresholds"),
        ({"thresholds": {"x": "0.1"}}, "thresholds"),
        ({"thresholds": {"x": 5.0}}, "thresholds"),  # x gets KS: a significance level ≥ 1
        ({"correction": "holm"}, "correction"),
        ({"columns": ["x", "missing"]}, "columns"),
        ({"columns": []}, "columns"),
        ({"columns": "x"}, "columns"),
        ({"prediction": "missing"}, "prediction"),
        ({"categorical": ["missing"]}, "categorical"),
        ({"categorical": {"s": False}}, "s"),  # strings in a column declared numeric
        ({"tests": {"s": "ks"}}, "s"),
        ({"categorical": ["x"], "tests": {"x": "wasserstein"}}, "tests"),
    ],
)
def test_bad_options_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    ref = {"x": np.arange(100.0), "s": ["a", "b"] * 50}
    with pytest.raises(InvalidInputError) as excinfo:
        compare(ref, ref, **kwargs)
    assert _field(excinfo) == field


def test_bad_samples_name_the_argument() -> None:
    good = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    cases: list[tuple[Any, Any, str]] = [
        (good, good[["a"]], "current"),  # mismatched columns
        (good.iloc[:0], good, "reference"),  # no rows
        (good, pd.DataFrame(), "current"),  # no columns
        (np.arange(5.0), good, "reference"),  # 1-D array
        ([1, 2, 3], good, "reference"),  # not a table
        ({"a": [1.0, 2.0], "b": [1.0]}, good, "reference"),  # ragged
        ({1: [1.0]}, good, "reference"),  # non-string name
        ({"a": np.zeros((2, 2)), "b": [1.0, 2.0]}, good, "a"),  # 2-D column
    ]
    for reference, current, field in cases:
        with pytest.raises(InvalidInputError) as excinfo:
            compare(reference, current)
        assert _field(excinfo) == field, (reference, current)
    dates = pd.DataFrame({"a": pd.date_range("2024-01-01", periods=2), "b": [1.0, 2.0]})
    with pytest.raises(InvalidInputError) as excinfo:
        compare(dates, dates)
    assert _field(excinfo) == "a"


def test_hostile_column_names_pass_through() -> None:
    names = ["__proto__", "<script>alert(1)</script>", "constructor", "a.b[0]", "' OR 1=1 --"]
    rng = np.random.default_rng(7)
    ref = {name: rng.normal(size=200) for name in names}
    cur = {name: rng.normal(size=200) for name in names}
    cur["<script>alert(1)</script>"] = ["<img src=x onerror=alert(1)>"] * 200
    ref["<script>alert(1)</script>"] = ["<b>"] * 200
    body = compare(ref, cur, tests={"__proto__": "psi"}).to_dict()
    assert list(body["columns"]) == names
    assert body["columns"]["__proto__"]["test"] == "psi"
    assert body["columns"]["<script>alert(1)</script>"]["categories"]["new"] == [
        "<img src=x onerror=alert(1)>"
    ]
