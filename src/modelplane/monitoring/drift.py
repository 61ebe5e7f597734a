"""Drift: comparing a reference sample with a current sample, column by column.

``compare(reference, current)`` runs one two-sample test per column and returns a
:class:`DriftReport`. Inputs are pandas DataFrames, mappings of column name to 1-D array, or 2-D
numpy arrays (columns named ``f0``, ``f1``, ...), read by :mod:`modelplane.monitoring.samples` one
column at a time and never concatenated, so peak memory is a few copies of one column, not of
the frame.

Column kinds
    A column is *categorical* when its values are booleans, strings or other objects (pandas
    ``object``, ``string``, ``category`` and ``bool`` dtypes), or when it is numeric with at most
    5 distinct values in the reference sample (flags, ratings, small counts: a distance between
    CDFs of a handful of atoms mostly measures where the atoms sit, a test on the counts measures
    what changed). Everything else is *numeric*. ``categorical=`` overrides: a list of names forced
    categorical, or a mapping name → bool where ``False`` declares the column numeric (then a
    non-numeric value is an error, not a silent switch of kind). Object arrays holding only numbers
    and missing values (JSON-decoded data) count as numeric.

Default test, chosen per column as Evidently's default preset does
    ============  =========================  =================================================
    kind          reference size ≤ 1000      reference size > 1000
    ============  =========================  =================================================
    numeric       ``ks``: two-sample           ``wasserstein``: Wasserstein-1 distance divided
                  Kolmogorov–Smirnov,          by the reference standard deviation (population
                  drift when p < 0.05          sd, floored at 0.001), drift when ≥ 0.1
    categorical   ``chi2``: chi-squared        ``jensenshannon``: Jensen–Shannon distance of the
                  test of homogeneity,         two category distributions, base 2, drift when
                  drift when p < 0.05          ≥ 0.1
    ============  =========================  =================================================

    The size is the reference's non-missing count for that column: the sample the test sees.
    Why the switch: with thousands of rows a p-value test flags differences too small to matter
    (a 0.02 sd shift is "significant" at n = 100,000), so large samples are judged by an effect
    size with a fixed threshold; small samples are too noisy for a fixed distance threshold, so
    they get a test that accounts for the sample size. Evidently also uses a z-test for binary
    categorical columns; Pearson's chi-squared on a 2 × 2 table without continuity correction is
    the same test (χ² = z²), so ``chi2`` covers them. Evidently's Jensen–Shannon uses the natural
    logarithm; base 2 is used here so the distance lies in [0, 1] whatever the data.

Tests (``tests={"column": name}`` overrides the default)
    ``ks``             ``scipy.stats.ks_2samp`` (exact p for small samples, asymptotic otherwise).
    ``wasserstein``    ``scipy.stats.wasserstein_distance`` / max(sd of reference, 0.001).
    ``psi``            population stability index Σ (c − r)·ln(c / r) over the proportions r, c
                       of each bin, both clipped below at 1e-4 so an empty bin costs a large but
                       finite amount. Numeric: 10 bins cut at the reference deciles (tied cuts
                       merge), the outer bins open so current values beyond the reference range
                       count. Categorical: one bin per category of either sample. Drift when
                       ≥ 0.1, Evidently's default; 0.25 is the classic "significant shift" cut.
    ``chi2``           Pearson's chi-squared on the 2 × k table of counts over the union of
                       categories (``scipy.stats.chi2_contingency``, no Yates correction). A test
                       of homogeneity, not goodness of fit against the reference: a category
                       unseen in the reference then has a finite, meaningful contribution instead
                       of an infinite one, and the reference's own sampling noise is accounted for.
    ``jensenshannon``  ``scipy.spatial.distance.jensenshannon`` over the union of categories,
                       base 2 (a category absent on one side contributes, no clipping needed).
    ``thresholds={"column": value}`` overrides the threshold: a significance level in (0, 1)
    for ``ks`` and ``chi2``, a positive distance otherwise.

Multiple testing
    With many columns, some p-values fall under 0.05 by chance (30 undrifted columns → 79 % odds
    of at least one false alarm). The p-values of the feature columns are adjusted together with
    Benjamini–Hochberg by default (``correction="bh"``), which keeps the expected share of false
    alarms among flagged columns at the threshold, 5 %, while keeping power for the columns that
    did drift; ``"bonferroni"`` bounds the chance of any false alarm instead (stricter, less
    power); ``"none"`` judges each p alone. ``p_value`` is the raw p, ``p_adjusted`` the adjusted
    one, and the verdict uses ``p_adjusted < threshold``. Distance tests judge an effect size
    against a fixed threshold and are not corrected. The prediction column is a separate
    question and is not part of the feature family.

Missing values
    ``None``, NaN, NaT, ``pd.NA`` and, in numeric columns, ±inf (no distance is defined on them)
    are dropped per column and counted under ``missing``. A column with no values left on one
    side gets ``drifted: None`` and a ``reason``; it never raises.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from modelplane.errors import InvalidInputError
from modelplane.monitoring.samples import Side, Table

TestName = Literal["ks", "psi", "wasserstein", "chi2", "jensenshannon"]
Kind = Literal["numeric", "categorical"]
Correction = Literal["bh", "bonferroni", "none"]

TESTS: frozenset[str] = frozenset({"ks", "psi", "wasserstein", "chi2", "jensenshannon"})
P_VALUE_TESTS: frozenset[str] = frozenset({"ks", "chi2"})
NUMERIC_ONLY_TESTS: frozenset[str] = frozenset({"ks", "wasserstein"})
CATEGORICAL_ONLY_TESTS: frozenset[str] = frozenset({"chi2", "jensenshannon"})
CORRECTIONS: frozenset[str] = frozenset({"bh", "bonferroni", "none"})
DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {"ks": 0.05, "chi2": 0.05, "wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.1}
)
SMALL_SAMPLE_MAX = 1000  # reference sizes up to this get a p-value test
FEW_VALUES_MAX = 5  # numeric columns with this many distinct values or fewer are categorical
PSI_BINS = 10
PSI_EPS = 1e-4
WASSERSTEIN_MIN_SCALE = 1e-3
CATEGORY_LIST_MAX = 20  # new / absent categories listed per column (the count is always exact)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ColumnDrift:
    """The verdict on one column. ``drifted`` is ``None`` when no test could run (``reason``)."""

    name: str
    test: TestName
    kind: Kind
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    threshold: float
    drifted: bool | None
    missing_reference: int
    missing_current: int
    reference_size: int
    current_size: int
    reason: str | None = None
    categories: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "test": self.test,
            "kind": self.kind,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "missing": {"reference": self.missing_reference, "current": self.missing_current},
            "size": {"reference": self.reference_size, "current": self.current_size},
            "reason": self.reason,
        }
        if self.categories is not None:
            body["categories"] = dict(self.categories)
        return body


@dataclass(frozen=True)
class DriftReport:
    """The result of :func:`compare`; ``to_dict()`` is the stable, JSON-ready interface."""

    columns: Mapping[str, ColumnDrift]
    prediction: ColumnDrift | None
    reference_rows: int
    current_rows: int
    correction: Correction
    drifted_columns: tuple[str, ...] = field(default=())
    share: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        tested = sum(1 for c in self.columns.values() if c.drifted is not None)
        return {
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
            "prediction": self.prediction.to_dict() if self.prediction is not None else {},
            "window": {"reference_rows": self.reference_rows, "current_rows": self.current_rows},
            "summary": {
                "drifted_columns": list(self.drifted_columns),
                "share": self.share,
                "correction": self.correction,
                "tested_columns": tested,
                "prediction_drifted": (
                    self.prediction.drifted if self.prediction is not None else None
                ),
            },
        }


# --- options -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What the caller asked for one column: a test, a threshold and a kind, each optional."""

    test: str | None
    threshold: float | None
    kind: Kind | None


def _select_columns(
    ref: Table, cur: Table, columns: Sequence[str] | None, prediction: str | None
) -> list[str]:
    if prediction is not None:
        if not isinstance(prediction, str):
            raise InvalidInputError("prediction must be a column name", field="prediction")
        for table in (ref, cur):
            if prediction not in table.columns:
                raise InvalidInputError(
                    f"prediction column {prediction!r} is not in {table.argument}",
                    field="prediction",
                    column=prediction,
                )
    if columns is None:
        missing = [name for name in ref.columns if name not in cur.columns]
        extra = [name for name in cur.columns if name not in ref.columns]
        if missing or extra:
            raise InvalidInputError(
                "reference and current have different columns "
                f"(missing from current: {missing[:10]}, only in current: {extra[:10]})",
                field="current",
                missing=missing[:100],
                extra=extra[:100],
            )
        return [name for name in ref.columns if name != prediction]
    if isinstance(columns, str) or not isinstance(columns, Iterable):
        raise InvalidInputError("columns must be a list of column names", field="columns")
    chosen = list(columns)
    if len(set(chosen)) != len(chosen):
        raise InvalidInputError("columns lists a name twice", field="columns")
    for name in chosen:
        for table in (ref, cur):
            if not isinstance(name, str) or name not in table.columns:
                raise InvalidInputError(
                    f"column {name!r} is not in {table.argument}", field="columns", column=name
                )
    chosen = [name for name in chosen if name != prediction]
    if not chosen and prediction is None:
        raise InvalidInputError("columns must name at least one column", field="columns")
    return chosen


def _plans(
    names: Sequence[str],
    tests: Mapping[str, str] | None,
    thresholds: Mapping[str, float] | None,
    categorical: Iterable[str] | Mapping[str, bool] | None,
) -> dict[str, _Plan]:
    known = set(names)
    test_of = _checked_mapping(tests, "tests", known)
    threshold_of = _checked_mapping(thresholds, "thresholds", known)
    kind_of: dict[str, Kind] = {}
    if categorical is not None:
        if isinstance(categorical, Mapping):
            pairs = list(_checked_mapping(categorical, "categorical", known).items())
        elif isinstance(categorical, str) or not isinstance(categorical, Iterable):
            raise InvalidInputError(
                "categorical must be a list of column names or a mapping name → bool",
                field="categorical",
            )
        else:
            pairs = [(name, True) for name in categorical]
        for name, flag in pairs:
            if name not in known:
                raise InvalidInputError(
                    f"categorical names unknown column {name!r}", field="categorical", column=name
                )
            if not isinstance(flag, bool):
                raise InvalidInputError(
                    f"categorical[{name!r}] must be true or false", field="categorical"
                )
            kind_of[name] = "categorical" if flag else "numeric"
    plans: dict[str, _Plan] = {}
    for name in names:
        test = test_of.get(name)
        if test is not None:
            _check_test(name, test, kind_of.get(name))
        threshold = threshold_of.get(name)
        if threshold is not None:
            threshold = _check_threshold(name, threshold)
        plans[name] = _Plan(test, threshold, kind_of.get(name))
    return plans


def _checked_mapping(
    value: Mapping[Any, Any] | None, argument: str, known: set[str]
) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{argument} must be a mapping of column name", field=argument)
    for name in value:
        if name not in known:
            raise InvalidInputError(
                f"{argument} names unknown column {name!r}", field=argument, column=str(name)
            )
    return dict(value)


def _check_test(name: str, test: object, kind: Kind | None) -> None:
    if not isinstance(test, str) or test not in TESTS:
        raise InvalidInputError(
            f"unknown test {test!r} for column {name!r}; use one of {sorted(TESTS)}",
            field="tests",
            column=name,
        )
    if kind == "categorical" and test in NUMERIC_ONLY_TESTS:
        raise InvalidInputError(
            f"test {test!r} needs a numeric column, but {name!r} is declared categorical",
            field="tests",
            column=name,
        )
    if kind == "numeric" and test in CATEGORICAL_ONLY_TESTS:
        raise InvalidInputError(
            f"test {test!r} needs a categorical column, but {name!r} is declared numeric",
            field="tests",
            column=name,
        )


def _check_threshold(name: str, threshold: object) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise InvalidInputError(
            f"threshold for {name!r} must be a number", field="thresholds", column=name
        )
    value = float(threshold)
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(
            f"threshold for {name!r} must be a positive finite number, got {threshold!r}",
            field="thresholds",
            column=name,
        )
    return value


def _threshold_for(name: str, test: TestName, plan: _Plan) -> float:
    """The caller's threshold for the chosen test, or the default; a p-value test needs < 1."""
    if plan.threshold is None:
        return DEFAULT_THRESHOLDS[test]
    if test in P_VALUE_TESTS and plan.threshold >= 1:
        raise InvalidInputError(
            f"threshold for {name!r} is a significance level for {test!r}: it must be below 1",
            field="thresholds",
            column=name,
        )
    return plan.threshold


# --- statistics ----------------------------------------------------------------------------


def _ks(ref: FloatArray, cur: FloatArray) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    result = ks_2samp(ref, cur)
    return float(result.statistic), float(result.pvalue)


def _wasserstein(ref: FloatArray, cur: FloatArray) -> float:
    from scipy.stats import wasserstein_distance

    scale = max(float(np.std(ref)), WASSERSTEIN_MIN_SCALE)
    return float(wasserstein_distance(ref, cur)) / scale


def _psi(ref_share: FloatArray, cur_share: FloatArray) -> float:
    r = np.clip(ref_share, PSI_EPS, None)
    c = np.clip(cur_share, PSI_EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def _numeric_psi(ref_sorted: FloatArray, cur_sorted: FloatArray) -> float:
    """PSI over 10 bins cut at the reference deciles; both inputs sorted ascending."""
    cuts = np.unique(np.quantile(ref_sorted, np.linspace(0.0, 1.0, PSI_BINS + 1)[1:-1]))
    ref_counts = np.diff(
        np.searchsorted(ref_sorted, cuts, side="right"), prepend=0, append=len(ref_sorted)
    )
    cur_counts = np.diff(
        np.searchsorted(cur_sorted, cuts, side="right"), prepend=0, append=len(cur_sorted)
    )
    return _psi(ref_counts / len(ref_sorted), cur_counts / len(cur_sorted))


def _chi2(ref_counts: IntArray, cur_counts: IntArray) -> tuple[float, float]:
    if len(ref_counts) < 2:
        return 0.0, 1.0  # one category on both sides: nothing can differ
    from scipy.stats import chi2_contingency

    result = chi2_contingency(np.vstack([ref_counts, cur_counts]), correction=False)
    return float(result.statistic), float(result.pvalue)


def _jensenshannon(ref_counts: IntArray, cur_counts: IntArray) -> float:
    from scipy.spatial.distance import jensenshannon

    value = float(jensenshannon(ref_counts, cur_counts, base=2))
    return 0.0 if math.isnan(value) else value  # NaN only from rounding at identical inputs


def _adjust(p_values: FloatArray, correction: Correction) -> FloatArray:
    """Adjusted p-values: Benjamini–Hochberg step-up, Bonferroni, or unchanged."""
    m = len(p_values)
    if correction == "none" or m == 0:
        return p_values.copy()
    if correction == "bonferroni":
        return np.minimum(p_values * m, 1.0)
    order = np.argsort(p_values)
    ranked = p_values[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = np.minimum(ranked, 1.0)
    return adjusted


# --- one column ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Measured:
    test: TestName
    kind: Kind
    statistic: float | None
    p_value: float | None
    threshold: float
    missing: tuple[int, int]
    size: tuple[int, int]
    reason: str | None = None
    categories: Mapping[str, Any] | None = None


def _finite(values: FloatArray) -> tuple[FloatArray, int]:
    keep = np.isfinite(values)
    kept = int(np.count_nonzero(keep))
    return (values if kept == len(values) else values[keep]), len(values) - kept


def _category_counts(values: Any) -> tuple[dict[Any, int], int]:
    """Counts of each non-missing value, and the number of missing ones."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        present = values[~np.isnan(values)] if values.dtype.kind == "f" else values
        keys, counts = np.unique(present, return_counts=True)
        table = {k.item(): int(n) for k, n in zip(keys, counts, strict=True)}
        return table, len(values) - len(present)
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(values, copy=False)
    counts = series.value_counts(dropna=True, sort=False)
    table = {key: int(n) for key, n in counts.items() if n > 0}
    return table, int(series.isna().sum())


def _measure_column(name: str, ref_side: Side, cur_side: Side, plan: _Plan) -> _Measured:
    kind = _decide_kind(name, ref_side, cur_side, plan)
    if kind == "numeric":
        ref, ref_missing = _finite(_as_numeric(ref_side))
        cur, cur_missing = _finite(_as_numeric(cur_side))
        ref_sorted = np.sort(ref)
        if (
            plan.kind is None
            and plan.test is None
            and len(ref_sorted) > 0
            and 1 + np.count_nonzero(ref_sorted[1:] != ref_sorted[:-1]) <= FEW_VALUES_MAX
        ):
            return _measure_categorical(
                name,
                Side("numeric", ref_sorted),
                Side("numeric", cur),
                plan,
                (ref_missing, cur_missing),
            )
        return _measure_numeric(name, ref_sorted, cur, plan, (ref_missing, cur_missing))
    return _measure_categorical(name, ref_side, cur_side, plan, None)


def _decide_kind(name: str, ref_side: Side, cur_side: Side, plan: _Plan) -> Kind:
    declared = plan.kind
    if declared is None and plan.test in NUMERIC_ONLY_TESTS:
        declared = "numeric"
    if declared is None and plan.test in CATEGORICAL_ONLY_TESTS:
        declared = "categorical"
    if declared == "numeric":
        for side, argument in ((ref_side, "reference"), (cur_side, "current")):
            if side.typed == "categorical":
                raise InvalidInputError(
                    f"column {name!r} is numeric but {argument} holds non-numeric values",
                    field=name,
                    sample=argument,
                )
        return "numeric"
    if declared == "categorical" or "categorical" in (ref_side.typed, cur_side.typed):
        return "categorical"
    return "numeric"


def _as_numeric(side: Side) -> FloatArray:
    if side.typed == "numeric":
        return cast(FloatArray, side.values)
    return np.full(len(side.values), np.nan)  # all missing


def _measure_numeric(
    name: str, ref_sorted: FloatArray, cur: FloatArray, plan: _Plan, missing: tuple[int, int]
) -> _Measured:
    size = (len(ref_sorted), len(cur))
    test = cast(TestName, plan.test or ("ks" if size[0] <= SMALL_SAMPLE_MAX else "wasserstein"))
    threshold = _threshold_for(name, test, plan)
    reason = _empty_reason(size)
    if reason is not None:
        return _Measured(test, "numeric", None, None, threshold, missing, size, reason)
    p_value: float | None = None
    if test == "ks":
        statistic, p_value = _ks(ref_sorted, cur)
    elif test == "wasserstein":
        statistic = _wasserstein(ref_sorted, cur)
    else:
        statistic = _numeric_psi(ref_sorted, np.sort(cur))
    return _Measured(test, "numeric", statistic, p_value, threshold, missing, size)


def _measure_categorical(
    name: str, ref_side: Side, cur_side: Side, plan: _Plan, missing: tuple[int, int] | None
) -> _Measured:
    ref_table, ref_missing = _category_counts(ref_side.values)
    cur_table, cur_missing = _category_counts(cur_side.values)
    if missing is not None:  # values already cleaned: the missing counts come from the caller
        ref_missing, cur_missing = missing
    size = (sum(ref_table.values()), sum(cur_table.values()))
    test = cast(TestName, plan.test or ("chi2" if size[0] <= SMALL_SAMPLE_MAX else "jensenshannon"))
    threshold = _threshold_for(name, test, plan)
    keys = list(ref_table) + [key for key in cur_table if key not in ref_table]
    new = [key for key in cur_table if key not in ref_table]
    absent = [key for key in ref_table if key not in cur_table]
    categories = {
        "count": len(keys),
        "new": [_label(key) for key in new[:CATEGORY_LIST_MAX]],
        "new_count": len(new),
        "absent": [_label(key) for key in absent[:CATEGORY_LIST_MAX]],
        "absent_count": len(absent),
    }
    counted = (ref_missing, cur_missing)
    reason = _empty_reason(size)
    if reason is not None:
        return _Measured(
            test, "categorical", None, None, threshold, counted, size, reason, categories
        )
    ref_counts = np.fromiter((ref_table.get(k, 0) for k in keys), dtype=np.int64, count=len(keys))
    cur_counts = np.fromiter((cur_table.get(k, 0) for k in keys), dtype=np.int64, count=len(keys))
    p_value: float | None = None
    if test == "chi2":
        statistic, p_value = _chi2(ref_counts, cur_counts)
    elif test == "jensenshannon":
        statistic = _jensenshannon(ref_counts, cur_counts)
    else:
        statistic = _psi(ref_counts / size[0], cur_counts / size[1])
    return _Measured(
        test, "categorical", statistic, p_value, threshold, counted, size, None, categories
    )


def _label(key: object) -> str:
    """A category as text; numbers read as float64 keep their integer spelling (7000, not 7000.0)."""
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)


def _empty_reason(size: tuple[int, int]) -> str | None:
    if size[0] == 0:
        return "no non-missing values in reference"
    if size[1] == 0:
        return "no non-missing values in current"
    return None


def _judge(measured: Mapping[str, _Measured], correction: Correction) -> dict[str, ColumnDrift]:
    """Verdicts for one family of columns: p-values adjusted together, distances as they are."""
    tested = [n for n, m in measured.items() if m.p_value is not None]
    raw = np.array([measured[n].p_value for n in tested], dtype=np.float64)
    adjusted = dict(zip(tested, _adjust(raw, correction).tolist(), strict=True))
    verdicts: dict[str, ColumnDrift] = {}
    for name, m in measured.items():
        p_adjusted = adjusted.get(name)
        drifted: bool | None
        if m.statistic is None:
            drifted = None
        elif p_adjusted is not None:
            drifted = p_adjusted < m.threshold
        else:
            drifted = m.statistic >= m.threshold
        verdicts[name] = ColumnDrift(
            name=name,
            test=m.test,
            kind=m.kind,
            statistic=m.statistic,
            p_value=m.p_value,
            p_adjusted=p_adjusted,
            threshold=m.threshold,
            drifted=drifted,
            missing_reference=m.missing[0],
            missing_current=m.missing[1],
            reference_size=m.size[0],
            current_size=m.size[1],
            reason=m.reason,
            categories=m.categories,
        )
    return verdicts


# --- entry point ---------------------------------------------------------------------------


def compare(
    reference: object,
    current: object,
    *,
    columns: Sequence[str] | None = None,
    prediction: str | None = None,
    tests: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    correction: Correction = "bh",
    categorical: Iterable[str] | Mapping[str, bool] | None = None,
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column (see the module docstring).

    ``columns`` limits the comparison (default: every column; then both samples must have the
    same columns). ``prediction`` names the model-output column: it is judged by the same
    engine, reported under ``prediction`` and kept out of the feature columns and their
    multiple-testing family. ``tests`` and ``thresholds`` override the defaults per column
    (the prediction column included); ``correction`` is ``"bh"``, ``"bonferroni"`` or
    ``"none"``; ``categorical`` forces columns categorical (a list) or sets the kind
    (a mapping name → bool, ``False`` meaning numeric).

    Raises :class:`~modelplane.errors.InvalidInputError` (``field`` names the argument or the
    column) for malformed input; a column with no values on one side is reported, not raised.
    """
    if not isinstance(correction, str) or correction not in CORRECTIONS:
        raise InvalidInputError(
            f"unknown correction {correction!r}; use one of {sorted(CORRECTIONS)}",
            field="correction",
        )
    ref = Table(reference, "reference")
    cur = Table(current, "current")
    names = _select_columns(ref, cur, columns, prediction)
    all_names = [*names, prediction] if prediction is not None else names
    plans = _plans(all_names, tests, thresholds, categorical)

    measured = {
        name: _measure_column(name, ref.side(name), cur.side(name), plans[name]) for name in names
    }
    verdicts = _judge(measured, correction)
    predicted: ColumnDrift | None = None
    if prediction is not None:
        alone = _measure_column(
            prediction, ref.side(prediction), cur.side(prediction), plans[prediction]
        )
        predicted = _judge({prediction: alone}, correction)[prediction]

    drifted = tuple(name for name, verdict in verdicts.items() if verdict.drifted)
    judged = sum(1 for verdict in verdicts.values() if verdict.drifted is not None)
    return DriftReport(
        columns=MappingProxyType(verdicts),
        prediction=predicted,
        reference_rows=ref.rows,
        current_rows=cur.rows,
        correction=correction,
        drifted_columns=drifted,
        share=len(drifted) / judged if judged else 0.0,
    )
