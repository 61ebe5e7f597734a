"""Quality engine: values equal scikit-learn's per window, group and slice; epoch-aligned windows;
missing labels; undefined metrics; calibration and fairness by hand; label and probability forms;
bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from modelplane.errors import InvalidInputError
from modelplane.monitoring import QualityReport, quality
from modelplane.monitoring.quality import MAX_CELLS, Metric, WindowQuality

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
HOUR = 3600


def close(actual: float | None, expected: float) -> None:
    assert actual is not None
    assert actual == pytest.approx(float(expected), abs=1e-12)


def binary_frame(n: int = 4000, *, seed: int = 0, missing: float = 0.1) -> pd.DataFrame:
    """Served predictions over three hours, two versions × two variants, some labels missing.

    Probabilities are rounded to two places so that ties exercise the ROC AUC's tie handling.
    """
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n).astype(float)
    proba = np.round(np.clip(0.3 * label + 0.7 * rng.random(n), 0, 1), 2)
    label[rng.random(n) < missing] = np.nan
    return pd.DataFrame(
        {
            "time": T0 + rng.uniform(0, 3 * HOUR, n),
            "version": rng.choice([1, 2], n),
            "variant": rng.choice(["blue", "green"], n),
            "label": label,
            "prediction": (proba > 0.5).astype(int),
            "proba": proba,
        }
    )


def multiclass_frame(n: int = 3000, *, k: int = 4, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(k), n)
    label = np.where(rng.random(n) < 0.5, proba.argmax(axis=1), rng.integers(0, k, n))
    return pd.DataFrame(
        {
            "time": T0 + rng.uniform(0, 2 * HOUR, n),
            "variant": rng.choice(["blue", "green"], n),
            "label": label,
            "prediction": proba.argmax(axis=1),
            "proba": list(proba),
        }
    )


def only(report: QualityReport) -> WindowQuality:
    assert len(report.windows) == 1
    return report.windows[0]


def value(window: WindowQuality, name: str) -> float | None:
    return window.metrics[name].value


def iso(seconds: float) -> str:
    return pd.Timestamp(seconds, unit="s", tz="UTC").isoformat().replace("+00:00", "Z")


# --- the package surface --------------------------------------------------------------------


def test_import_stays_light() -> None:
    code = (
        "import sys, modelplane.monitoring, modelplane.monitoring.quality; "
        "heavy = {'pandas', 'sklearn', 'scipy'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "first",
    [
        "import modelplane.monitoring.quality",
        "from modelplane.monitoring import quality",
        "from modelplane.monitoring.quality import QualityReport",
        "import modelplane.monitoring",
    ],
)
def test_module_and_function_agree_whichever_import_runs_first(first: str) -> None:
    """``quality`` names the submodule and its function; every spelling must work either way."""
    code = (
        f"{first}\n"
        "import inspect\n"
        "import pandas as pd\n"
        "import modelplane.monitoring as monitoring\n"
        "import modelplane.monitoring.quality as module\n"
        "from modelplane.monitoring import QualityReport, quality\n"
        "assert quality is module is monitoring.quality, (quality, module)\n"
        "assert module.QualityReport is QualityReport\n"
        "assert list(inspect.signature(quality).parameters)[:2] == ['frame', 'task']\n"
        "frame = pd.DataFrame({'label': [1, 0], 'prediction': [1, 1]})\n"
        "report = quality(frame, task='classification')\n"
        "assert isinstance(report, QualityReport), type(report)\n"
        "assert report.windows[0].metrics['accuracy'].value == 0.5\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_exported_in_all() -> None:
    import modelplane.monitoring as monitoring

    assert {"quality", "QualityReport"} <= set(monitoring.__all__)
    assert monitoring.QualityReport is QualityReport


# --- values equal scikit-learn's ------------------------------------------------------------


def test_binary_values_equal_sklearn() -> None:
    frame = binary_frame(missing=0.0)
    window = only(quality(frame, task="classification", probability="proba", by=()))
    y, yp, p = frame["label"], frame["prediction"], frame["proba"]
    close(value(window, "accuracy"), skm.accuracy_score(y, yp))
    close(value(window, "precision"), skm.precision_score(y, yp))
    close(value(window, "recall"), skm.recall_score(y, yp))
    close(value(window, "f1"), skm.f1_score(y, yp))
    close(value(window, "roc_auc"), skm.roc_auc_score(y, p))
    close(value(window, "log_loss"), skm.log_loss(y, p))
    assert {m.n for m in window.metrics.values()} == {len(frame)}


def test_binary_values_per_window_and_group_equal_sklearn() -> None:
    frame = binary_frame()
    report = quality(frame, task="classification", probability="proba", window="1h")
    start = (frame["time"] // HOUR * HOUR).astype(int)
    expected_cells = frame.assign(start=start).groupby(["start", "version", "variant"])
    assert len(report.windows) == expected_cells.ngroups == 4 * 2 * 2  # T0 is mid-hour
    seen = []
    for window in report.windows:
        begin = pd.Timestamp(window.start).timestamp()
        assert window.end == iso(begin + HOUR)
        seen.append((begin, window.group["version"], window.group["variant"]))
        rows = frame[
            (start == begin)
            & (frame["version"] == window.group["version"])
            & (frame["variant"] == window.group["variant"])
        ]
        assert window.n == len(rows) > 0
        labelled = rows[rows["label"].notna()]
        y, yp, p = labelled["label"], labelled["prediction"], labelled["proba"]
        assert window.metrics["accuracy"].n == window.metrics["roc_auc"].n == len(labelled)
        close(value(window, "accuracy"), skm.accuracy_score(y, yp))
        close(value(window, "precision"), skm.precision_score(y, yp))
        close(value(window, "recall"), skm.recall_score(y, yp))
        close(value(window, "f1"), skm.f1_score(y, yp))
        close(value(window, "roc_auc"), skm.roc_auc_score(y, p))
        close(value(window, "log_loss"), skm.log_loss(y, p))
    assert seen == sorted(seen), "windows come in time order, then by group"
    assert set(report.windows[0].group) == {"version", "variant"}


def test_multiclass_values_equal_sklearn() -> None:
    frame = multiclass_frame()
    report = quality(frame, task="classification", probability="proba", by="variant")
    assert report.classes == (0, 1, 2, 3) and report.positive is None
    assert [w.group for w in report.windows] == [{"variant": "blue"}, {"variant": "green"}]
    for window in report.windows:
        rows = frame[frame["variant"] == window.group["variant"]]
        y, yp, p = rows["label"], rows["prediction"], np.vstack(rows["proba"].to_list())
        close(value(window, "accuracy"), skm.accuracy_score(y, yp))
        for name, score in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            close(value(window, name), score(y, yp, average="macro", zero_division=np.nan))
            close(value(window, name), score(y, yp, average="macro"))  # every class predicted
        close(value(window, "roc_auc"), skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
        close(value(window, "log_loss"), skm.log_loss(y, p, labels=[0, 1, 2, 3]))


def test_macro_leaves_out_the_precision_of_a_class_never_predicted() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, 500)
    right = (rng.random(500) < 0.6) & (y != 3)
    yp = np.where(right, y, rng.integers(0, 3, 500))  # class 3 is never predicted
    window = only(quality(pd.DataFrame({"label": y, "prediction": yp}), task="classification"))
    expected = skm.precision_score(y, yp, average="macro", zero_division=np.nan)
    close(value(window, "precision"), expected)
    assert value(window, "precision") != pytest.approx(
        skm.precision_score(y, yp, average="macro", zero_division=0), abs=1e-6
    )
    close(value(window, "recall"), skm.recall_score(y, yp, average="macro"))
    close(value(window, "f1"), skm.f1_score(y, yp, average="macro"))


def test_regression_values_equal_sklearn() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    y = rng.normal(10, 3, n)
    frame = pd.DataFrame(
        {
            "time": T0 + rng.uniform(0, 2 * HOUR, n),
            "version": rng.choice(["3", "4"], n),
            "label": y,
            "prediction": y + rng.normal(0.5, 1, n),
        }
    )
    frame.loc[rng.random(n) < 0.05, "label"] = None
    report = quality(frame, task="regression", window=HOUR, by=["version"])
    assert report.classes == () and report.positive is None
    assert len(report.windows) == 3 * 2  # T0 is mid-hour
    for window in report.windows:
        begin = pd.Timestamp(window.start).timestamp()
        rows = frame[
            (frame["time"] >= begin)
            & (frame["time"] < begin + HOUR)
            & (frame["version"] == window.group["version"])
        ]
        assert window.n == len(rows)
        rows = rows.dropna()
        assert {m.n for m in window.metrics.values()} == {len(rows)}
        y, yp = rows["label"], rows["prediction"]
        close(value(window, "mae"), skm.mean_absolute_error(y, yp))
        close(value(window, "rmse"), skm.root_mean_squared_error(y, yp))
        close(value(window, "r2"), skm.r2_score(y, yp))


def test_auc_with_heavy_ties_equals_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 1000)
    p = rng.choice([0.0, 0.2, 0.5, 0.8, 1.0], 1000)
    frame = pd.DataFrame({"label": y, "prediction": (p > 0.5).astype(int), "p": p})
    window = only(quality(frame, task="classification", probability="p"))
    close(value(window, "roc_auc"), skm.roc_auc_score(y, p))
    close(value(window, "log_loss"), skm.log_loss(y, p))  # 0 and 1 clipped as sklearn does


# --- windows ---------------------------------------------------------------------------------


def test_windows_are_tumbling_epoch_aligned_start_inclusive() -> None:
    times = pd.to_datetime(
        [
            "2024-05-01T12:59:59.999999999Z",  # last nanosecond of 12:00-13:00
            "2024-05-01T13:00:00Z",  # a window's start belongs to it
            "2024-05-01T13:30:00Z",
            "2024-05-01T15:30:00Z",  # 14:00-15:00 holds no row and is omitted
        ],
        format="ISO8601",
    )
    frame = pd.DataFrame({"time": times, "label": [1, 0, 1, 1], "prediction": [1, 1, 1, 0]})
    report = quality(frame, task="classification", window="1h")
    assert [(w.start, w.end, w.n) for w in report.windows] == [
        ("2024-05-01T12:00:00Z", "2024-05-01T13:00:00Z", 1),
        ("2024-05-01T13:00:00Z", "2024-05-01T14:00:00Z", 2),
        ("2024-05-01T15:00:00Z", "2024-05-01T16:00:00Z", 1),
    ]
    assert [value(w, "accuracy") for w in report.windows] == [1.0, 0.5, 0.0]

    spellings: list[Any] = [3600, 3600.0, timedelta(hours=1), pd.Timedelta("60min"), "3600s"]
    for window in spellings:
        assert quality(frame, task="classification", window=window).to_dict() == report.to_dict()

    boundary = pd.Timestamp("2024-05-01T13:00:00Z").timestamp()
    seconds = frame.assign(time=[boundary - 0.5, boundary, boundary + 1800, boundary + 9000])
    assert quality(seconds, task="classification", window="1h").to_dict() == report.to_dict()
    whole = seconds.assign(time=seconds["time"].round().astype("int64") - [1, 0, 0, 0])
    assert quality(whole, task="classification", window="1h").to_dict() == report.to_dict()

    aware = frame.assign(time=times.tz_convert("America/New_York"))
    naive = frame.assign(time=times.tz_localize(None))
    for other in (aware, naive):
        assert quality(other, task="classification", window="1h").to_dict() == report.to_dict()


def test_windows_align_on_the_epoch_not_on_the_first_row() -> None:
    seconds = [T0, T0 + 5400, T0 + 20_000, -1]
    frame = pd.DataFrame({"time": seconds, "label": [1] * 4, "prediction": [1] * 4})
    report = quality(frame, task="classification", window="90min")
    assert [w.start for w in report.windows] == [iso(s // 5400 * 5400) for s in sorted(seconds)]
    assert report.windows[0].start == "1969-12-31T22:30:00Z"  # floor, also before 1970
    days = quality(frame.iloc[:3], task="classification", window="1D")
    assert [w.start for w in days.windows] == ["2023-11-14T00:00:00Z", "2023-11-15T00:00:00Z"]
    assert [w.n for w in days.windows] == [2, 1]


def test_no_window_spans_the_times_of_each_group() -> None:
    frame = pd.DataFrame(
        {
            "time": [T0 + 10, T0, T0 + 99, None],
            "variant": ["a", "a", "b", "b"],
            "label": [1, 0, 1, 1],
            "prediction": [1, 0, 1, 1],
        }
    )
    report = quality(frame, task="classification")
    assert [(w.group, w.start, w.end, w.n) for w in report.windows] == [
        ({"variant": "a"}, iso(T0), iso(T0 + 10), 2),
        ({"variant": "b"}, iso(T0 + 99), iso(T0 + 99), 2),
    ]
    untimed = quality(frame.drop(columns="time"), task="classification", by=())
    assert (only(untimed).start, only(untimed).end, only(untimed).n) == (None, None, 4)


# --- groups and counts -----------------------------------------------------------------------


def test_groups_default_to_the_prediction_log_columns() -> None:
    frame = binary_frame(400).assign(model="churn")
    report = quality(frame, task="classification")
    assert len(report.windows) == 4
    assert all(set(w.group) == {"model", "version", "variant"} for w in report.windows)
    assert sum(w.n for w in report.windows) == 400
    counts = frame.groupby(["version", "variant"]).size()
    for w in report.windows:
        assert w.n == counts[(w.group["version"], w.group["variant"])]
    assert only(quality(frame, task="classification", by=())).group == {}
    by_variant = quality(frame, task="classification", by="variant")
    assert [w.group for w in by_variant.windows] == [{"variant": "blue"}, {"variant": "green"}]


def test_a_missing_group_value_is_its_own_group() -> None:
    frame = pd.DataFrame(
        {
            "version": pd.array([1, None, 2, None], dtype="Int64"),
            "label": [1, 0, 1, 1],
            "prediction": [1, 1, 1, 0],
        }
    )
    report = quality(frame, task="classification", by=["version"])
    assert [(w.group["version"], w.n) for w in report.windows] == [(1, 1), (2, 1), (None, 2)]
    assert value(report.windows[2], "accuracy") == 0.0


def test_missing_labels_are_excluded_and_counted() -> None:
    frame = pd.DataFrame(
        {
            "label": pd.Series([1, 0, None, np.nan, pd.NA, 1], dtype=object),
            "prediction": [1, 1, 0, 1, 1, None],
            "p": [0.9, 0.6, 0.2, 0.7, 0.8, np.nan],
        }
    )
    report = quality(frame, task="classification", probability="p")
    window = only(report)
    assert window.n == 6
    assert (report.rows, report.labelled) == (6, 3)
    assert window.metrics["accuracy"] == Metric(0.5, 2)  # rows 0 and 1
    assert window.metrics["roc_auc"].n == 2  # row 5 has a label but no probability
    close(value(window, "roc_auc"), skm.roc_auc_score([1, 0], [0.9, 0.6]))
    close(value(window, "log_loss"), skm.log_loss([1, 0], [0.9, 0.6]))

    unlabelled = only(quality(frame.assign(label=None), task="classification", probability="p"))
    assert unlabelled.n == 6
    for metric in unlabelled.metrics.values():
        assert metric.value is None and metric.n == 0 and metric.reason


# --- undefined values ------------------------------------------------------------------------


def test_undefined_metrics_are_null_with_a_reason() -> None:
    one_class = pd.DataFrame({"label": [1, 1, 1], "prediction": [1, 0, 1], "p": [0.9, 0.4, 0.6]})
    window = only(quality(one_class, task="classification", probability="p"))
    auc = window.metrics["roc_auc"]
    assert auc.value is None and auc.n == 3 and "both classes" in str(auc.reason)
    close(value(window, "recall"), 2 / 3)
    close(value(window, "log_loss"), skm.log_loss([1, 1, 1], [0.9, 0.4, 0.6], labels=[0, 1]))

    never_positive = pd.DataFrame({"label": [1, 0, 0], "prediction": [0, 0, 0]})
    window = only(quality(never_positive, task="classification"))
    assert window.metrics["precision"].value is None
    assert "no positive predictions" in str(window.metrics["precision"].reason)
    assert window.metrics["recall"].value == 0.0 and window.metrics["f1"].value == 0.0
    assert window.metrics["roc_auc"] == Metric(None, 0, "no probability column given")

    no_positive = pd.DataFrame({"label": [0, 0], "prediction": [0, 0]})
    window = only(quality(no_positive, task="classification"))
    assert window.metrics["accuracy"].value == 1.0
    for name in ("precision", "recall", "f1"):
        assert window.metrics[name].value is None and window.metrics[name].reason

    frame = multiclass_frame(60)
    frame = frame[frame["label"] != 3]  # class 3 only among the predictions
    window = only(quality(frame, task="classification", probability="proba", by=()))
    assert window.metrics["roc_auc"].value is None
    assert "all 4 classes" in str(window.metrics["roc_auc"].reason)
    assert window.metrics["log_loss"].value is not None


def test_regression_r2_undefined_and_overflow() -> None:
    one = only(quality(pd.DataFrame({"label": [1.0], "prediction": [2.0]}), task="regression"))
    assert one.metrics["mae"] == Metric(1.0, 1)
    assert one.metrics["r2"].value is None and "two rows" in str(one.metrics["r2"].reason)

    constant = pd.DataFrame({"label": [0.1, 0.1, 0.1], "prediction": [0.0, 0.1, 0.3]})
    window = only(quality(constant, task="regression"))
    assert window.metrics["r2"].value is None and "constant" in str(window.metrics["r2"].reason)
    close(value(window, "rmse"), skm.root_mean_squared_error(constant.label, constant.prediction))

    huge = pd.DataFrame({"label": [1e308, -1e308], "prediction": [-1e308, 1e308]})
    window = only(quality(huge, task="regression"))
    for name in ("mae", "rmse", "r2"):
        assert window.metrics[name].value is None
        assert "not finite" in str(window.metrics[name].reason)
    json.dumps(quality(huge, task="regression").to_dict(), allow_nan=False)


# --- calibration -----------------------------------------------------------------------------


def test_binary_ece_matches_hand_computation() -> None:
    p = [0.1, 0.2, 0.25, 0.6, 0.7, 1.0, 0.9]
    y = [0, 1, 1, 1, 0, 1, 1]
    frame = pd.DataFrame({"label": y, "prediction": [int(v > 0.5) for v in p], "p": p})
    window = only(quality(frame, task="classification", probability="p", bins=4))
    # bins [0, .25) [.25, .5) [.5, .75) [.75, 1]: 0.25 opens bin 1, 1.0 closes the last
    expected = (
        2 * abs(1 / 2 - (0.1 + 0.2) / 2)
        + 1 * abs(1 - 0.25)
        + 2 * abs(1 / 2 - (0.6 + 0.7) / 2)
        + 2 * abs(1 - (1.0 + 0.9) / 2)
    ) / 7
    close(value(window, "ece"), expected)
    assert window.metrics["ece"].n == 7
    ten = only(quality(frame, task="classification", probability="p"))
    expected_ten = (
        abs(0 - 0.1)
        + abs(1 - 0.2)
        + abs(1 - 0.25)
        + abs(1 - 0.6)
        + abs(0 - 0.7)
        + 2 * abs(1 - 0.95)
    ) / 7
    close(value(ten, "ece"), expected_ten)


def test_multiclass_top_label_ece_matches_hand_computation() -> None:
    proba = [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.4, 0.4, 0.2], [0.1, 0.1, 0.8]]
    frame = pd.DataFrame({"label": [0, 2, 1, 2], "prediction": [0, 1, 0, 2], "p": proba})
    window = only(quality(frame, task="classification", probability="p", bins=2))
    # confidences .6 (right), .5 (wrong), .4 (tie → class 0, wrong), .8 (right)
    expected = (1 * abs(0 - 0.4) + 3 * abs(2 / 3 - (0.6 + 0.5 + 0.8) / 3)) / 4
    close(value(window, "ece"), expected)


# --- slices and fairness ---------------------------------------------------------------------


def fairness_frame() -> pd.DataFrame:
    rows = [
        ("a", 1, 1),
        ("a", 1, 0),
        ("a", 0, 1),
        ("a", 0, 0),
        ("a", 1, None),  # no prediction: counts for neither gap
        ("b", 1, 1),
        ("b", 1, 1),
        ("b", 0, 0),
        ("c", 0, 1),
        ("c", 0, 0),
        ("c", None, 1),  # unlabelled: counts for the positive prediction share only
    ]
    return pd.DataFrame(rows, columns=["group", "label", "prediction"])


def test_fairness_gaps_match_hand_computation() -> None:
    frame = fairness_frame()
    window = only(quality(frame, task="classification", slice_by="group"))
    assert window.fairness is not None and window.slices is not None
    share = {"a": 2 / 4, "b": 2 / 3, "c": 2 / 3}
    tpr = {"a": 1 / 2, "b": 2 / 2}  # c has no positive label and does not count
    close(window.fairness.demographic_parity_difference, max(share.values()) - min(share.values()))
    close(window.fairness.equal_opportunity_difference, max(tpr.values()) - min(tpr.values()))
    assert window.fairness.reason is None

    assert list(window.slices) == ["a", "b", "c"]
    assert [s.n for s in window.slices.values()] == [5, 3, 3]
    for key, part in window.slices.items():
        rows = frame[(frame["group"] == key)].dropna()
        close(part.metrics["accuracy"].value, skm.accuracy_score(rows.label, rows.prediction))
        assert part.metrics["accuracy"].n == len(rows)
    c = window.slices["c"].metrics
    assert c["recall"].value is None and c["recall"].reason


def test_fairness_gaps_per_window_and_group_are_independent() -> None:
    frame = fairness_frame()
    twice = pd.concat([frame.assign(variant="x"), frame.assign(variant="y")], ignore_index=True)
    twice.loc[twice["variant"] == "y", "prediction"] = 1  # every y prediction positive
    report = quality(twice, task="classification", slice_by="group", by="variant")
    x, y = report.windows
    assert x.fairness is not None and y.fairness is not None
    close(x.fairness.demographic_parity_difference, 2 / 3 - 1 / 2)
    close(y.fairness.demographic_parity_difference, 0.0)
    close(y.fairness.equal_opportunity_difference, 0.0)


def test_fairness_needs_two_slices_and_a_binary_task() -> None:
    frame = fairness_frame()
    single = only(quality(frame[frame.group == "a"], task="classification", slice_by="group"))
    assert single.fairness is not None
    assert single.fairness.demographic_parity_difference is None
    assert single.fairness.equal_opportunity_difference is None
    assert "two slices" in str(single.fairness.reason)

    eo_only = frame[frame.group != "b"]  # c has no positive label: one slice counts for EO
    window = only(quality(eo_only, task="classification", slice_by="group"))
    assert window.fairness is not None
    close(window.fairness.demographic_parity_difference, 2 / 3 - 1 / 2)
    assert window.fairness.equal_opportunity_difference is None
    assert "equal opportunity" in str(window.fairness.reason)

    multi = multiclass_frame(200)
    window = only(quality(multi, task="classification", slice_by="variant", by=()))
    assert window.fairness is not None and "binary" in str(window.fairness.reason)
    assert window.slices is not None and set(window.slices) == {"blue", "green"}


def test_slices_key_missing_values_as_null_and_numbers_as_text() -> None:
    frame = pd.DataFrame(
        {
            "region": [1.0, 2.0, np.nan, 1.0],
            "label": [1, 0, 1, 1],
            "prediction": [1, 0, 0, 1],
        }
    )
    window = only(quality(frame, task="classification", slice_by="region"))
    assert window.slices is not None
    assert {k: s.n for k, s in window.slices.items()} == {"1": 2, "2": 1, "null": 1}
    assert window.to_dict()["slices"]["null"]["metrics"]["accuracy"]["value"] == 0.0


# --- label and probability forms -------------------------------------------------------------


def test_string_labels_and_the_positive_class() -> None:
    rng = np.random.default_rng(4)
    y = rng.choice(["cat", "dog"], 300)
    yp = np.where(rng.random(300) < 0.7, y, rng.choice(["cat", "dog"], 300))
    p_dog = np.where(yp == "dog", 0.8, 0.3)
    frame = pd.DataFrame({"label": y, "prediction": yp, "p": p_dog})
    report = quality(frame, task="classification", probability="p")
    assert (report.classes, report.positive) == (("cat", "dog"), "dog")
    window = only(report)
    close(value(window, "precision"), skm.precision_score(y, yp, pos_label="dog"))
    close(value(window, "roc_auc"), skm.roc_auc_score(y == "dog", p_dog))

    cats = only(
        quality(frame.assign(p=1 - p_dog), task="classification", probability="p", positive="cat")
    )
    close(value(cats, "precision"), skm.precision_score(y, yp, pos_label="cat"))
    close(value(cats, "recall"), skm.recall_score(y, yp, pos_label="cat"))
    close(value(cats, "roc_auc"), skm.roc_auc_score(y == "cat", 1 - p_dog))
    close(value(cats, "log_loss"), skm.log_loss(y == "cat", 1 - p_dog))


def test_boolean_labels_with_gaps_and_integer_predictions() -> None:
    frame = pd.DataFrame(
        {
            "label": pd.Series([True, False, None, True, False], dtype=object),
            "prediction": [1, 0, 1, 0, 1],
            "p": [0.8, 0.1, 0.9, 0.4, 0.7],
        }
    )
    report = quality(frame, task="classification", probability="p")
    assert report.classes == (False, True) and report.positive is True
    window = only(report)
    y, yp, p = [1, 0, 1, 0], [1, 0, 0, 1], [0.8, 0.1, 0.4, 0.7]
    close(value(window, "accuracy"), skm.accuracy_score(y, yp))
    close(value(window, "precision"), skm.precision_score(y, yp))
    close(value(window, "roc_auc"), skm.roc_auc_score(y, p))
    assert report.to_dict()["classes"] == [False, True]


def test_float_labels_with_missing_values_and_integer_predictions() -> None:
    frame = binary_frame(500)
    assert frame["label"].dtype == np.float64 and frame["label"].isna().any()
    report = quality(frame, task="classification", probability="proba", by=())
    assert report.positive == 1
    labelled = frame.dropna()
    close(value(only(report), "f1"), skm.f1_score(labelled.label, labelled.prediction))


def test_window_holding_one_class_stays_binary() -> None:
    frame = pd.DataFrame({"label": [0, 0, 1], "prediction": [0, 0, 1], "variant": ["a", "a", "b"]})
    report = quality(frame, task="classification", by="variant")
    a = report.windows[0]
    assert a.metrics["precision"].value is None  # class 1 is positive in every window
    assert a.metrics["accuracy"].value == 1.0


@pytest.mark.parametrize(
    "form",
    ["number", "dict", "dict_text_keys", "list", "array"],
)
def test_binary_probability_forms_agree(form: str) -> None:
    frame = binary_frame(300, missing=0.0)
    p = frame["proba"].to_numpy()
    column: Any = {
        "number": p,
        "dict": [{0: 1 - v, 1: v} for v in p],
        "dict_text_keys": [json.loads(json.dumps({0: 1 - v, 1: v})) for v in p],
        "list": [[1 - v, v] for v in p],
        "array": list(np.column_stack([1 - p, p])),
    }[form]
    window = only(quality(frame.assign(q=column), task="classification", probability="q", by=()))
    y = frame["label"]
    close(value(window, "roc_auc"), skm.roc_auc_score(y, p))
    close(value(window, "log_loss"), skm.log_loss(y, p))


def test_multiclass_dicts_keyed_by_text_and_partial_dicts() -> None:
    frame = multiclass_frame(400, k=3)
    matrix = np.vstack(frame["proba"].to_list())
    keyed = [json.loads(json.dumps(dict(enumerate(row)))) for row in matrix]
    window = only(quality(frame.assign(q=keyed), task="classification", probability="q", by=()))
    y = frame["label"]
    close(value(window, "roc_auc"), skm.roc_auc_score(y, matrix, multi_class="ovr"))
    close(value(window, "log_loss"), skm.log_loss(y, matrix))

    sparse = pd.DataFrame(
        {
            "label": ["a", "b", "c"],
            "prediction": ["a", "b", "b"],
            "q": [{"a": 1.0}, {"b": 1.0}, {"b": 0.6, "c": 0.4}],
        }
    )
    window = only(quality(sparse, task="classification", probability="q"))
    dense = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.6, 0.4]]
    close(value(window, "log_loss"), skm.log_loss(["a", "b", "c"], dense))


def test_boolean_classes_match_json_keys() -> None:
    frame = pd.DataFrame(
        {
            "label": [True, False, True],
            "prediction": [True, True, True],
            "q": [
                {"true": 0.9, "false": 0.1},
                {"true": 0.6, "false": 0.4},
                {"true": 0.3, "false": 0.7},
            ],
        }
    )
    report = quality(frame, task="classification", probability="q")
    assert report.classes == (False, True)
    close(value(only(report), "roc_auc"), skm.roc_auc_score([1, 0, 1], [0.9, 0.6, 0.3]))


def test_dict_keys_add_classes_never_labelled_or_predicted() -> None:
    frame = pd.DataFrame(
        {
            "label": ["a", "b", "a"],
            "prediction": ["a", "b", "b"],
            "q": [{"a": 0.5, "b": 0.3, "c": 0.2}] * 3,
        }
    )
    report = quality(frame, task="classification", probability="q")
    assert report.classes == ("a", "b", "c")
    assert "all 3 classes" in str(only(report).metrics["roc_auc"].reason)


def test_dicts_in_varying_key_order_with_gaps_and_missing_rows() -> None:
    frame = pd.DataFrame(
        {
            "label": ["a", "b", "c", "a", "b"],
            "prediction": ["a", "b", "b", "c", "b"],
            "q": [
                {"a": 0.7, "b": 0.2, "c": 0.1},
                {"c": 0.1, "b": 0.8, "a": 0.1},  # another key order
                {"a": None, "b": 0.6, "c": 0.4},  # None: probability 0
                None,  # no probability: out of ROC AUC, log loss and ECE only
                [0.2, 0.5, 0.3],  # a list in sorted class order
            ],
        }
    )
    window = only(quality(frame, task="classification", probability="q"))
    dense = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.0, 0.6, 0.4], [0.2, 0.5, 0.3]]
    y = ["a", "b", "c", "b"]
    assert window.metrics["log_loss"].n == 4 and window.metrics["accuracy"].n == 5
    close(value(window, "log_loss"), skm.log_loss(y, dense))
    close(value(window, "roc_auc"), skm.roc_auc_score(y, dense, multi_class="ovr"))


def test_both_grouping_paths_give_the_same_report(monkeypatch: pytest.MonkeyPatch) -> None:
    import modelplane.monitoring.quality as module

    binary = binary_frame(2000).assign(segment=lambda f: f.index % 4)
    multi = multiclass_frame(2000).assign(segment=lambda f: f.index % 3)
    runs = [
        (binary, {"probability": "proba", "window": "30min", "slice_by": "segment", "bins": 7}),
        (multi, {"probability": "proba", "window": "1h", "slice_by": "segment"}),
    ]
    expected = [quality(f, task="classification", **o).to_dict() for f, o in runs]
    monkeypatch.setattr(module, "DENSE_KEYS", 0)  # grouped sums by sorting, not one bincount
    monkeypatch.setattr(module, "RADIX_UNITS", 0)  # ROC AUC's unit sort on int64
    again = [quality(f, task="classification", **o).to_dict() for f, o in runs]
    assert json.dumps(again) == json.dumps(expected)


def test_regression_slices_equal_sklearn_and_have_no_fairness() -> None:
    rng = np.random.default_rng(6)
    y = rng.normal(0, 1, 600)
    frame = pd.DataFrame(
        {
            "label": y,
            "prediction": y + rng.normal(0, 0.5, 600),
            "region": rng.choice(["n", "s"], 600),
        }
    )
    window = only(quality(frame, task="regression", slice_by="region"))
    assert window.fairness is not None and "binary" in str(window.fairness.reason)
    assert window.slices is not None
    for key, part in window.slices.items():
        rows = frame[frame["region"] == key]
        close(part.metrics["mae"].value, skm.mean_absolute_error(rows.label, rows.prediction))
        close(part.metrics["r2"].value, skm.r2_score(rows.label, rows.prediction))


# --- the JSON form ---------------------------------------------------------------------------


def test_to_dict_is_json_ready() -> None:
    frame = binary_frame(800).assign(segment=lambda f: np.where(f.index % 3 == 0, "x", "y"))
    frame.loc[frame.index < 5, "version"] = None
    report = quality(
        frame, task="classification", probability="proba", window="1h", slice_by="segment"
    )
    body = report.to_dict()
    text = json.dumps(body, allow_nan=False)
    assert json.loads(text) == body
    assert body["task"] == "classification"
    assert body["classes"] == [0, 1] and body["positive"] == 1
    assert body["summary"] == {
        "rows": 800,
        "labelled": int(frame["label"].notna().sum()),
        "windows": len(report.windows),
    }
    first = body["windows"][0]
    assert set(first) == {"start", "end", "group", "n", "metrics", "slices", "fairness"}
    assert set(first["metrics"]) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "ece",
    }
    assert set(first["metrics"]["f1"]) == {"value", "n", "reason"}
    assert set(first["slices"]) == {"x", "y"}
    unsliced = quality(frame, task="regression", label="proba", prediction="prediction").to_dict()
    assert set(unsliced["windows"][0]) == {"start", "end", "group", "n", "metrics"}
    assert set(unsliced["windows"][0]["metrics"]) == {"mae", "rmse", "r2"}
    assert unsliced["classes"] == [] and unsliced["positive"] is None


def test_empty_frame_gives_no_windows() -> None:
    frame = binary_frame(10).iloc[:0]
    report = quality(frame, task="classification", probability="proba", window="1h")
    assert report.windows == () and report.to_dict()["summary"]["windows"] == 0
    with pytest.raises(InvalidInputError, match="'nope'"):
        quality(frame, task="classification", label="nope")


# --- bad input -------------------------------------------------------------------------------

GOOD = pd.DataFrame(
    {
        "time": [T0, T0 + 1.0, T0 + 2.0],
        "label": [0, 1, 1],
        "prediction": [0, 1, 0],
        "p": [0.2, 0.9, 0.4],
        "text": ["x", "y", "z"],
    }
)


@pytest.mark.parametrize(
    ("frame", "options", "field", "words"),
    [
        (GOOD, {"task": "ranking"}, "task", "ranking"),
        (GOOD, {"task": None}, "task", "None"),
        (GOOD, {"label": "y"}, "label", "'y'"),
        (GOOD, {"prediction": "yhat"}, "prediction", "'yhat'"),
        (GOOD, {"probability": "proba"}, "probability", "'proba'"),
        (GOOD.drop(columns="time"), {"window": "1h"}, "time", "'time'"),
        (GOOD, {"by": ["version"]}, "by", "'version'"),
        (GOOD, {"by": 3}, "by", "by"),
        (GOOD, {"slice_by": "region"}, "slice_by", "'region'"),
        (GOOD, {"label": ""}, "label", "label"),
        (GOOD.assign(p=[0.2, 1.5, 0.4]), {"probability": "p"}, "probability", "outside [0, 1]"),
        (GOOD.assign(p=[0.2, -0.1, 0.4]), {"probability": "p"}, "probability", "outside [0, 1]"),
        (GOOD.assign(p=["0.2", "high", 0.4]), {"probability": "p"}, "probability", "numbers"),
        (
            GOOD.assign(p=[[0.8, 0.2], [0.3, 0.3], [0.5, 0.5]]),
            {"probability": "p"},
            "probability",
            "do not sum to 1",
        ),
        (
            GOOD.assign(p=[{0: 0.8, 1: 0.1}, {0: 0.5, 1: 0.5}, {0: 0.5, 1: 0.5}]),
            {"probability": "p"},
            "probability",
            "do not sum to 1",
        ),
        (
            GOOD.assign(p=[[0.8, 0.2], [0.1, 0.1, 0.8], [0.5, 0.5]]),
            {"probability": "p"},
            "probability",
            "'p'",
        ),
        (
            GOOD.assign(p=[{0: 0.8, 1: "lots"}, {0: 0.5, 1: 0.5}, {0: 0.5, 1: 0.5}]),
            {"probability": "p"},
            "probability",
            "non-number",
        ),
        (GOOD.assign(p=[[0.8, 0.2], 0.5, [0.5, 0.5]]), {"probability": "p"}, "probability", "mix"),
        (
            GOOD.assign(label=[0, 1, 2], prediction=[0, 1, 2]),
            {"probability": "p"},
            "probability",
            "multiclass",
        ),
        (GOOD, {"window": "soon"}, "window", "'soon'"),
        (GOOD, {"window": "5"}, "window", "unit"),
        (GOOD, {"window": 0}, "window", "positive"),
        (GOOD, {"window": -60}, "window", "positive"),
        (GOOD, {"window": float("nan")}, "window", "finite"),
        (GOOD, {"window": True}, "window", "True"),
        (GOOD, {"window": [1]}, "window", "[1]"),
        (GOOD.assign(time=["a", "b", "c"]), {"window": "1h"}, "time", "'time'"),
        (GOOD.assign(time=[T0, None, T0]), {"window": "1h"}, "time", "missing"),
        (GOOD.assign(time=[T0, 1e12, T0]), {"window": "1h"}, "time", "epoch seconds"),
        (GOOD, {"window": "1s", "by": ()}, None, None),  # fine: three windows
        (GOOD, {"bins": 0}, "bins", "bins"),
        (GOOD, {"bins": 2.5}, "bins", "bins"),
        (GOOD, {"positive": 7}, "positive", "7"),
        (
            GOOD.assign(label=["a", "b", "c"], prediction=["a", "b", "a"]),
            {"positive": "a"},
            "positive",
            "binary",
        ),
        (GOOD.assign(label=["0", "1", "1"]), {}, "label", "mix"),
        (GOOD.assign(label=[[0], [1], [1]]), {}, "label", "'label'"),
        (GOOD.assign(version=[[1], [2], [3]]), {"by": "version"}, "by", "'version'"),
        (GOOD.assign(group=[[1], [2], [3]]), {"slice_by": "group"}, "slice_by", "'group'"),
    ],
)
def test_bad_classification_input_is_refused(
    frame: pd.DataFrame, options: dict[str, Any], field: str | None, words: str | None
) -> None:
    arguments = {"task": "classification", **options}
    if field is None:
        quality(frame, **arguments)
        return
    with pytest.raises(InvalidInputError) as caught:
        quality(frame, **arguments)
    assert caught.value.field == field
    assert words is not None and words in str(caught.value)


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"label": "text"}, "label", "'text'"),
        ({"prediction": "text"}, "prediction", "'text'"),
        ({"probability": "p"}, "probability", "classification"),
        ({"positive": 1}, "positive", "classification"),
    ],
)
def test_bad_regression_input_is_refused(options: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        quality(GOOD, task="regression", **options)
    assert caught.value.field == field and words in str(caught.value)


def test_infinite_regression_values_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="infinite") as caught:
        quality(GOOD.assign(label=[1.0, np.inf, 2.0]), task="regression")
    assert caught.value.field == "label"


def test_not_a_frame_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        quality({"label": [1]}, task="classification")  # type: ignore[arg-type]
    assert caught.value.field == "frame"


def test_too_many_windows_are_refused() -> None:
    frame = pd.DataFrame({"time": np.arange(MAX_CELLS + 1), "label": 1, "prediction": 1})
    with pytest.raises(InvalidInputError, match="longer window") as caught:
        quality(frame, task="classification", window="1s")
    assert caught.value.field == "window"
    assert len(quality(frame, task="classification", window="1min").windows) == 167
