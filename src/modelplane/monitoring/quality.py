"""Quality over time: metrics of labelled predictions per time window, model version and variant.

``quality(frame, task=...)`` takes one row per served prediction that has been joined to its
label and returns a :class:`QualityReport`: for every (time window, group) that holds rows, the
metrics of that model on exactly those rows, optionally per slice of a column with fairness gaps
between the slices. Each value equals scikit-learn's on the same rows (``accuracy_score``,
``precision_score``, ``recall_score``, ``f1_score``, ``roc_auc_score``, ``log_loss``,
``mean_absolute_error``, ``root_mean_squared_error``, ``r2_score``); it is computed here with
numpy over all windows, groups and slices at once (grouped sums, one sort per ROC AUC), because
one scikit-learn call per window costs milliseconds of validation each and a month of hourly
windows has thousands. tests/monitoring/test_quality.py pins every value to scikit-learn's.

Rows and missing values
    A row counts for a metric when the values that metric reads are present: the label and the
    prediction for accuracy, precision, recall, F1 and the regression metrics; the label and the
    probability for ROC AUC, log loss and calibration. ``None``, NaN, NaT and ``pd.NA`` are
    missing. Each value carries ``n``, the number of rows behind it; a window's ``n`` counts all
    of its rows, labelled or not.

Classification (``task="classification"``)
    The classes are the distinct labels and predictions of the whole frame (plus the keys of
    dict probabilities), sorted; every window and group is judged against that one set, so a
    window holding a single class is still binary. Labels may be numbers, strings or booleans.

    Binary (at most two classes): precision, recall and F1 are those of the positive class.
    ``positive=`` names it; by default it is ``1`` (or ``True``) when the classes are 0/1, else
    the greater of the two classes in sorted order (scikit-learn's convention for scores). ROC
    AUC and log loss read the positive class's probability. Calibration is the expected
    calibration error (ECE) over ``bins`` equal-width bins of that probability, bin ``i`` holding
    [i/bins, (i+1)/bins) and the last bin closed: Σ (n_b / n) · |share of positive labels in b −
    mean probability in b|.

    Multiclass (three or more classes): precision, recall and F1 are macro averages over the
    classes that occur among the labels or predictions of the rows in question; a class never
    predicted there counts with its recall and F1 but without a precision, as scikit-learn's
    ``average="macro", zero_division=np.nan`` does (its default would count that precision as
    0). ROC AUC is one-vs-rest, macro averaged, and needs every class among the labels of the
    rows (else it is null with a reason). Calibration is the top-label ECE: the confidence is the
    largest class probability, a row is correct when the class with that probability (the first
    in sorted order on a tie) is the label, and the rows are binned by confidence as above.

    Log loss clips probabilities to [ε, 1 − ε] (ε = float64 machine epsilon) as scikit-learn
    does, so a confident mistake costs about 36, not infinity.

    Probabilities (``probability=``, a column name): for a binary task either the positive
    class's probability as a number, or per-class values; for a multiclass task per-class
    values. Per-class values are dicts keyed by class (JSON-decoded string keys match
    non-string classes by their text: ``"1"`` for ``1``, ``"true"`` for ``True``; a class
    missing from a dict has probability 0) or lists/arrays in sorted class order. Every value
    must lie in [0, 1], and each row of per-class values must sum to 1 within 1e-5. Without a
    probability column ROC AUC, log loss and ECE are null with a reason.

Regression (``task="regression"``)
    MAE, RMSE and R². Labels and predictions must be numbers (±inf is refused). R² is null
    with fewer than two rows or constant labels (where scikit-learn's ``force_finite=False``
    gives NaN or −inf).

Undefined values
    A metric that is undefined on its rows (one class among the labels for ROC AUC, no positive
    prediction for precision, fewer than two rows for R², an overflow with huge values) is null
    with a ``reason``; nothing raises for it and no NaN or inf is ever returned.

Windows
    ``window=None`` gives one window over all rows; its ``start``/``end`` are the earliest and
    latest time of each group's rows when the ``time`` column exists, else null. Otherwise
    ``window`` is a fixed length: a pandas timedelta string with a unit (``"15min"``, ``"1h"``,
    ``"1D"``), a ``timedelta`` or a number of seconds (``3600``). Rows fall into tumbling windows
    aligned on the Unix epoch, ``start`` inclusive and ``end`` exclusive, both ISO 8601 in UTC
    (``2024-05-01T13:00:00Z``). The ``time`` column holds epoch seconds (numbers) or datetimes
    (naive values are read as UTC, aware ones converted); with a window every row needs a time.
    Windows without rows are omitted; at most 10,000 (window, group) cells are computed.

Groups and slices
    ``by`` names the grouping columns. By default (``by=None``) they are those of the
    prediction log's ``model``, ``version`` and ``variant`` columns the frame has; named
    explicitly, each must be a column, and ``by=()`` gives one group. A missing group value is
    its own group (null). ``slice_by`` names a column: each window and group then also carries
    its metrics per slice, keyed by the value's text (missing values under ``"null"``, which is
    a slice like the others), and, for binary classification, the fairness gaps between slices:
    the demographic parity difference, max − min over slices of the share of positive
    predictions among the rows with a prediction (labelled or not), and the equal opportunity
    difference, max − min over slices of the true positive rate among the rows with a label and
    a prediction (slices without a positive label do not count). A gap needs at least two slices
    that count, else it is null with a reason.
"""

from __future__ import annotations

import inspect
import math
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

from modelplane.monitoring.quality_inputs import (
    CLASSIFICATION_METRICS,
    DENSE_KEYS,
    MAX_CELLS,
    MAX_SLICE_CELLS,
    MISSING_KEY,
    OVERFLOW,
    RADIX_UNITS,
    Array,
    BoolArray,
    FloatArray,
    IntArray,
    Task,
    _check_arguments,
    _check_columns,
    _Classes,
    _column_name,
    _Columns,
    _group_columns,
    _iso,
    _json_value,
    _Names,
    _read_columns,
    _text,
    _times_ns,
    _window_ns,
)


@dataclass(frozen=True)
class Metric:
    """One metric on one set of rows; ``value`` is ``None`` when undefined (``reason``)."""

    value: float | None
    n: int
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "n": self.n, "reason": self.reason}


@dataclass(frozen=True)
class SliceQuality:
    """The metrics of one slice of one window and group."""

    n: int
    metrics: Mapping[str, Metric]

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "metrics": {k: m.to_dict() for k, m in self.metrics.items()}}


@dataclass(frozen=True)
class Fairness:
    """Gaps between the slices of one window and group (binary classification only)."""

    demographic_parity_difference: float | None
    equal_opportunity_difference: float | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "demographic_parity_difference": self.demographic_parity_difference,
            "equal_opportunity_difference": self.equal_opportunity_difference,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class WindowQuality:
    """The metrics of one group in one time window."""

    start: str | None
    end: str | None
    group: Mapping[str, Any]
    n: int
    metrics: Mapping[str, Metric]
    slices: Mapping[str, SliceQuality] | None = None
    fairness: Fairness | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "group": dict(self.group),
            "n": self.n,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
        }
        if self.slices is not None:
            body["slices"] = {key: s.to_dict() for key, s in self.slices.items()}
        if self.fairness is not None:
            body["fairness"] = self.fairness.to_dict()
        return body


@dataclass(frozen=True)
class QualityReport:
    """The result of :func:`quality`; ``to_dict()`` is the stable, JSON-ready interface.

    ``rows`` counts the frame's rows, ``labelled`` those with a label. ``classes`` and
    ``positive`` record how a classification was read (the sorted classes, the positive class of
    a binary task); both are empty/``None`` for a regression.
    """

    task: Task
    windows: tuple[WindowQuality, ...]
    rows: int
    labelled: int = 0
    classes: tuple[Any, ...] = ()
    positive: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "classes": [_json_value(c) for c in self.classes],
            "positive": _json_value(self.positive),
            "windows": [w.to_dict() for w in self.windows],
            "summary": {"rows": self.rows, "labelled": self.labelled, "windows": len(self.windows)},
        }


# --- arguments -----------------------------------------------------------------------------


# --- grouped sums --------------------------------------------------------------------------


def _count(unit: IntArray, units: int) -> FloatArray:
    return np.bincount(unit, minlength=units).astype(np.float64)


def _sum(unit: IntArray, weights: Array, units: int) -> FloatArray:
    total = np.bincount(unit, weights=weights.astype(np.float64), minlength=units)
    return np.asarray(total, dtype=np.float64)


def _sums(keys: IntArray, size: int, *weights: FloatArray) -> tuple[IntArray, list[FloatArray]]:
    """The keys in [0, size) that occur and, per weight, its sum over each of them."""
    if size <= DENSE_KEYS:
        occur = np.flatnonzero(np.bincount(keys, minlength=size))
        return occur, [_sum(keys, w, size)[occur] for w in weights]
    occur, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(-1)
    return occur.astype(np.int64), [_sum(inverse, w, len(occur)) for w in weights]


def _assemble(
    value: FloatArray, n: FloatArray, empty: str, rules: Sequence[tuple[BoolArray, str]] = ()
) -> list[Metric]:
    """One Metric per unit: null with the first matching rule's reason, or when not finite."""
    reasons: list[str | None] = [None] * len(n)
    for mask, text in reversed(rules):  # the first rule wins
        for u in np.flatnonzero(mask).tolist():
            reasons[u] = text
    out = []
    for count, v, reason in zip(n.astype(np.int64).tolist(), value.tolist(), reasons, strict=True):
        if count == 0:
            out.append(Metric(None, 0, empty))
        elif reason is not None:
            out.append(Metric(None, count, reason))
        elif math.isfinite(v):
            out.append(Metric(v, count))
        else:
            out.append(Metric(None, count, OVERFLOW))
    return out


# --- metrics -------------------------------------------------------------------------------


def _metrics(cols: _Columns, unit: IntArray, units: int) -> dict[str, list[Metric]]:
    """Every metric of every unit (a window and group, or a slice of one): name → per unit."""
    with np.errstate(all="ignore"):  # 0/0 and overflow become NaN/inf, then null with a reason
        if cols.task == "regression":
            return _regression(cols, unit, units)
        return {
            **_label_metrics(cols, unit, units),
            **_probability_metrics(cols, unit, units),
        }


def _label_metrics(cols: _Columns, unit: IntArray, units: int) -> dict[str, list[Metric]]:
    both = (cols.label >= 0) & (cols.prediction >= 0)
    u, t, p = unit[both], cols.label[both], cols.prediction[both]
    n = _count(u, units)
    empty = "no rows with both a label and a prediction"
    accuracy = _sum(u, t == p, units) / n
    if cols.binary:
        hits = _sum(u, (t == 1) & (p == 1), units)
        positives = _sum(u, t == 1, units)
        predicted = _sum(u, p == 1, units)
        no_predicted = (predicted == 0, "no positive predictions: precision is undefined")
        no_positives = (positives == 0, "no positive labels: recall is undefined")
        neither = (positives + predicted == 0, "no positive labels or predictions")
        return {
            "accuracy": _assemble(accuracy, n, empty),
            "precision": _assemble(hits / predicted, n, empty, [no_predicted]),
            "recall": _assemble(hits / positives, n, empty, [no_positives]),
            "f1": _assemble(2 * hits / (positives + predicted), n, empty, [neither]),
        }
    precision, recall, f1 = _macro(u, t, p, cols.classes, units)
    return {
        "accuracy": _assemble(accuracy, n, empty),
        "precision": _assemble(precision, n, empty),
        "recall": _assemble(recall, n, empty),
        "f1": _assemble(f1, n, empty),
    }


def _macro(
    u: IntArray, t: IntArray, p: IntArray, k: int, units: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Macro precision, recall and F1 per unit over the classes among its labels or predictions.

    One grouped sum over (unit, class) keys: each row adds a label to its (unit, label) key and
    a prediction to its (unit, prediction) key; only keys that occur are classes of the unit.
    """
    m = len(u)
    ones, zeros = np.ones(m), np.zeros(m)
    occur, (labels, predicted, hits) = _sums(
        np.concatenate([u * k + t, u * k + p]),
        units * k,
        np.concatenate([ones, zeros]),
        np.concatenate([zeros, ones]),
        np.concatenate([(t == p).astype(np.float64), zeros]),
    )
    owner = occur // k

    def mean(per_class: FloatArray) -> FloatArray:
        defined = ~np.isnan(per_class)
        return _sum(owner[defined], per_class[defined], units) / _count(owner[defined], units)

    return mean(hits / predicted), mean(hits / labels), mean(2 * hits / (labels + predicted))


def _probability_metrics(cols: _Columns, unit: IntArray, units: int) -> dict[str, list[Metric]]:
    names = CLASSIFICATION_METRICS[4:]
    if cols.probability is None:
        return {name: [Metric(None, 0, "no probability column given")] * units for name in names}
    prob = cols.probability
    has = ~np.isnan(prob) if prob.ndim == 1 else ~np.isnan(prob).any(axis=1)
    keep = (cols.label >= 0) & has
    u, t, q = unit[keep], cols.label[keep], prob[keep]
    n = _count(u, units)
    empty = "no rows with both a label and a probability"
    eps = np.finfo(np.float64).eps
    rows = np.arange(len(t))
    if cols.binary:
        positive = t == 1
        p_true = np.where(positive, q, 1.0 - q)
        correct, confidence = positive.astype(np.float64), q
        positives = _sum(u, positive, units)
        auc = _auc(u, positive, q, units)
        one_class = (positives == 0) | (positives == n)
        auc_rule = (one_class, "ROC AUC needs both classes among the labels")
    else:
        k = cols.classes
        p_true = q[rows, t]
        top = np.argmax(q, axis=1)
        correct, confidence = (top == t).astype(np.float64), q[rows, top]
        occur, _ = _sums(u * k + t, units * k)
        complete = np.bincount(occur // k, minlength=units) == k
        auc = _ovr_auc(u, t, q, complete, units)
        auc_rule = (
            ~complete,
            f"one-vs-rest ROC AUC needs all {k} classes among the labels",
        )
    loss = -np.log(np.clip(p_true, eps, 1.0 - eps))
    return {
        "roc_auc": _assemble(auc, n, empty, [auc_rule]),
        "log_loss": _assemble(_sum(u, loss, units) / n, n, empty),
        "ece": _assemble(_ece(u, correct, confidence, cols.bins, units) / n, n, empty),
    }


def _auc(u: IntArray, positive: BoolArray, score: FloatArray, units: int) -> FloatArray:
    """ROC AUC per unit by the rank-sum (Mann–Whitney) identity, ties at their average rank.

    (R₁ − n₁(n₁+1)/2) / (n₁ n₀) is the area under the ROC curve with ties as diagonal steps, as
    scikit-learn's trapezoids give. Rows are sorted by unit, then score; a row's rank within its
    unit is its rank in that order less the rows of earlier units. Rank sums are half-integers
    below 2⁵³, exact in float64. NaN where a unit lacks one of the classes.
    """
    m = len(u)
    if m == 0:
        return np.full(units, np.nan)
    order = np.argsort(score)
    # then stably by unit: a radix sort when unit numbers fit 16 bits, 3x faster than lexsort
    narrow = u[order].astype(np.uint16) if units <= RADIX_UNITS else u[order]
    order = order[np.argsort(narrow, kind="stable")]
    us, ss = u[order], score[order]
    tie_first = np.ones(m, dtype=bool)
    tie_first[1:] = (us[1:] != us[:-1]) | (ss[1:] != ss[:-1])
    starts = np.flatnonzero(tie_first)
    if len(starts) == m:
        rank = np.arange(1, m + 1, dtype=np.float64)
    else:
        ends = np.append(starts[1:], m)
        rank = ((starts + ends + 1) / 2.0)[np.cumsum(tie_first) - 1]
    pos = positive[order].astype(np.float64)
    count = _count(us, units)
    n1 = _sum(us, pos, units)
    before = np.cumsum(count) - count
    rank_sum = _sum(us, rank * pos, units) - n1 * before
    result: FloatArray = (rank_sum - n1 * (n1 + 1) / 2) / (n1 * (count - n1))
    return result


def _ovr_auc(
    u: IntArray, t: IntArray, q: FloatArray, complete: BoolArray, units: int
) -> FloatArray:
    """One-vs-rest macro ROC AUC for the units that hold every class (NaN for the others)."""
    rows = complete[u]
    us, ts, qs = u[rows], t[rows], q[rows]
    k = q.shape[1]
    total = np.zeros(units)
    for c in range(k):
        total += _auc(us, ts == c, np.ascontiguousarray(qs[:, c]), units)
    return np.where(complete, total / k, np.nan)


def _ece(
    u: IntArray, correct: FloatArray, confidence: FloatArray, bins: int, units: int
) -> FloatArray:
    """Σ over bins of |correct − confidence| summed in the bin, per unit (ECE × n)."""
    edges = np.arange(bins + 1, dtype=np.float64) / bins
    b = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    occur, (hits, conf) = _sums(u * bins + b, units * bins, correct, confidence)
    return _sum(occur // bins, np.abs(hits - conf), units)


def _regression(cols: _Columns, unit: IntArray, units: int) -> dict[str, list[Metric]]:
    keep = ~np.isnan(cols.label) & ~np.isnan(cols.prediction)
    u, t, p = unit[keep], cols.label[keep], cols.prediction[keep]
    n = _count(u, units)
    empty = "no rows with both a label and a prediction"
    error = t - p
    squared = _sum(u, error * error, units)
    mean = _sum(u, t, units) / n
    spread = _sum(u, (t - mean[u]) ** 2, units)
    low, high = np.full(units, np.inf), np.full(units, -np.inf)
    np.minimum.at(low, u, t)
    np.maximum.at(high, u, t)
    r2_rules = [
        (n < 2, "R² needs at least two rows"),
        (low == high, "R² is undefined when the labels are constant"),
    ]
    return {
        "mae": _assemble(_sum(u, np.abs(error), units) / n, n, empty),
        "rmse": _assemble(np.sqrt(squared / n), n, empty),
        "r2": _assemble(1.0 - squared / spread, n, empty, r2_rules),
    }


# --- fairness ------------------------------------------------------------------------------


def _fairness(
    slice_unit: IntArray, slice_cell: IntArray, cells: int, label: IntArray, prediction: IntArray
) -> list[Fairness]:
    """Per cell, max − min over its slices of the positive prediction and true positive rates."""
    predicted = prediction >= 0
    u = slice_unit[predicted]
    t, p = label[predicted], prediction[predicted]
    units = len(slice_cell)
    with np.errstate(all="ignore"):
        share = _sum(u, p == 1, units) / _count(u, units)
        tpr = _sum(u, (t == 1) & (p == 1), units) / _sum(u, t == 1, units)
    gaps = []
    for rates in (share, tpr):
        defined = ~np.isnan(rates)
        high, low = np.full(cells, -np.inf), np.full(cells, np.inf)
        np.maximum.at(high, slice_cell[defined], rates[defined])
        np.minimum.at(low, slice_cell[defined], rates[defined])
        count = np.bincount(slice_cell[defined], minlength=cells)
        gaps.append((high - low, count))
    (dp, dp_slices), (eo, eo_slices) = gaps
    out = []
    for c in range(cells):
        reasons = []
        if dp_slices[c] < 2:
            reasons.append("demographic parity needs at least two slices with predictions")
        if eo_slices[c] < 2:
            reasons.append("equal opportunity needs at least two slices with positive labels")
        out.append(
            Fairness(
                float(dp[c]) if dp_slices[c] >= 2 else None,
                float(eo[c]) if eo_slices[c] >= 2 else None,
                "; ".join(reasons) or None,
            )
        )
    return out


# --- entry point ---------------------------------------------------------------------------


def quality(  # noqa: PLR0913 - the public signature: one frame, ten keyword options
    frame: pd.DataFrame,
    *,
    task: Task,
    label: str = "label",
    prediction: str = "prediction",
    probability: str | None = None,
    time: str = "time",
    window: str | float | timedelta | None = None,
    by: Sequence[str] | str | None = None,
    slice_by: str | None = None,
    positive: Any = None,
    bins: int = 10,
) -> QualityReport:
    """Quality metrics of labelled predictions per time window and group (module docstring).

    Raises :class:`~modelplane.errors.InvalidInputError` (``field`` names the argument, or the
    role of the column: ``label``, ``prediction``, ``probability``, ``time``, ``by``,
    ``slice_by``) for malformed input; an empty frame gives a report without windows, and a
    metric undefined on its rows is null with a reason.
    """
    names = _Names(
        _column_name(label, "label"),
        _column_name(prediction, "prediction"),
        None if probability is None else _column_name(probability, "probability"),
        _column_name(time, "time"),
        None if slice_by is None else _column_name(slice_by, "slice_by"),
    )
    _check_arguments(frame, task, names, bins, positive)
    window_ns = _window_ns(window)
    _check_columns(frame, names, windowed=window_ns is not None)
    groups = _group_columns(frame, by)
    if frame.shape[0] == 0:
        return QualityReport(task=task, windows=(), rows=0)
    times = (
        _times_ns(frame[names.time], names.time, required=window_ns is not None)
        if names.time in frame.columns
        else None
    )
    starts = None if window_ns is None or times is None else _window_starts(times[0], window_ns)
    cell_of, first, cells = _cells(frame, groups, starts)
    if cells > MAX_CELLS:
        raise InvalidInputError(
            f"{cells} windows and groups hold rows, more than {MAX_CELLS}; use a longer window "
            "or fewer group columns",
            field="window" if window_ns is not None else "by",
        )
    cols, classes = _read_columns(frame, task, names, positive, int(bins))
    metrics = _metrics(cols, cell_of, cells)
    sizes = np.bincount(cell_of, minlength=cells).tolist()
    bounds = _bounds(starts, window_ns, times, cell_of, first, cells)
    group_values = [frame[name].iloc[first].to_numpy() for name in groups]
    slices: list[Mapping[str, SliceQuality] | None] = [None] * cells
    fairness: list[Fairness | None] = [None] * cells
    if names.slice_by is not None:
        slices, fair = _sliced(frame, names.slice_by, cols, cell_of, cells, classes)
        fairness = list(fair)
    windows = tuple(
        WindowQuality(
            start=bounds[c][0],
            end=bounds[c][1],
            group=MappingProxyType(
                {
                    name: _json_value(values[c])
                    for name, values in zip(groups, group_values, strict=True)
                }
            ),
            n=sizes[c],
            metrics=MappingProxyType({name: values[c] for name, values in metrics.items()}),
            slices=slices[c],
            fairness=fairness[c],
        )
        for c in range(cells)
    )
    labelled = int(
        np.count_nonzero(cols.label >= 0)
        if task == "classification"
        else np.count_nonzero(~np.isnan(cols.label))
    )
    return QualityReport(
        task=task,
        windows=windows,
        rows=int(frame.shape[0]),
        labelled=labelled,
        classes=classes.classes if classes is not None else (),
        positive=classes.positive if classes is not None and classes.binary else None,
    )


def _window_starts(ns: IntArray, window_ns: int) -> IntArray:
    low, high = int(ns.min()), int(ns.max())
    if low - low % window_ns < -(2**63) + 1 or high - high % window_ns + window_ns >= 2**63:
        raise InvalidInputError(
            "window is so long that its windows end outside the years 1677-2262", field="window"
        )
    return ns - ns % window_ns  # floor: numpy's % takes the sign of the divisor


def _cells(
    frame: pd.DataFrame, groups: Sequence[str], starts: IntArray | None
) -> tuple[IntArray, IntArray, int]:
    """Each row's (window, group) cell, numbered in sorted key order; each cell's first row."""
    import pandas as pd

    keys = pd.DataFrame({f"g{i}": frame[name].array for i, name in enumerate(groups)})
    if starts is not None:
        keys.insert(0, "window", starts)
    if keys.shape[1] == 0:
        return np.zeros(frame.shape[0], dtype=np.int64), np.zeros(1, dtype=np.int64), 1
    try:
        number = keys.groupby(list(keys.columns), sort=True, dropna=False).ngroup()
    except TypeError as exc:
        raise InvalidInputError(
            f"group columns {list(groups)!r} hold values that cannot be grouped (lists or dicts)",
            field="by",
        ) from exc
    cell_of = number.to_numpy(dtype=np.int64)
    cell_numbers, first = np.unique(cell_of, return_index=True)
    return cell_of, first.astype(np.int64), len(cell_numbers)


def _bounds(
    starts: IntArray | None,
    window_ns: int | None,
    times: tuple[IntArray, BoolArray] | None,
    cell_of: IntArray,
    first: IntArray,
    cells: int,
) -> list[tuple[str | None, str | None]]:
    if starts is not None and window_ns is not None:
        return [(_iso(s), _iso(s + window_ns)) for s in starts[first].tolist()]
    if times is None:
        return [(None, None)] * cells
    ns, present = times
    low = np.full(cells, np.iinfo(np.int64).max)
    high = np.full(cells, np.iinfo(np.int64).min)
    np.minimum.at(low, cell_of[present], ns[present])
    np.maximum.at(high, cell_of[present], ns[present])
    has = np.bincount(cell_of[present], minlength=cells) > 0
    return [
        (_iso(lo), _iso(hi)) if ok else (None, None)
        for lo, hi, ok in zip(low.tolist(), high.tolist(), has.tolist(), strict=True)
    ]


def _slice_codes(frame: pd.DataFrame, slice_by: str) -> tuple[IntArray, list[str]]:
    """Each row's slice number; slices keyed and ordered by the text of their value."""
    import pandas as pd

    try:
        codes, uniques = pd.factorize(frame[slice_by], use_na_sentinel=True)
    except TypeError as exc:
        raise InvalidInputError(
            f"slice_by column {slice_by!r} holds values that cannot be grouped (lists or dicts)",
            field="slice_by",
            column=slice_by,
        ) from exc
    texts = [_text(v) for v in uniques]
    if (codes < 0).any():
        texts.append(MISSING_KEY)
    names = sorted(set(texts))
    number = {text: i for i, text in enumerate(names)}
    place = np.array([number[text] for text in texts], dtype=np.int64)
    return place[np.asarray(codes, dtype=np.int64)], names  # code -1 → the last text, "null"


def _sliced(
    frame: pd.DataFrame,
    slice_by: str,
    cols: _Columns,
    cell_of: IntArray,
    cells: int,
    classes: _Classes | None,
) -> tuple[list[Mapping[str, SliceQuality] | None], list[Fairness]]:
    codes, names = _slice_codes(frame, slice_by)
    keys, slice_unit = np.unique(cell_of * len(names) + codes, return_inverse=True)
    if len(keys) > MAX_SLICE_CELLS:
        raise InvalidInputError(
            f"slice_by column {slice_by!r} gives {len(keys)} slices over the windows and groups, "
            f"more than {MAX_SLICE_CELLS}; slice by a column with fewer values",
            field="slice_by",
            column=slice_by,
        )
    slice_unit = slice_unit.astype(np.int64).reshape(-1)
    slice_cell, slice_name = keys // len(names), keys % len(names)
    metrics = _metrics(cols, slice_unit, len(keys))
    sizes = np.bincount(slice_unit, minlength=len(keys)).tolist()
    edges = np.searchsorted(slice_cell, np.arange(cells + 1)).tolist()
    slices: list[Mapping[str, SliceQuality] | None] = [
        MappingProxyType(
            {
                names[int(slice_name[s])]: SliceQuality(
                    sizes[s], MappingProxyType({m: values[s] for m, values in metrics.items()})
                )
                for s in range(edges[c], edges[c + 1])
            }
        )
        for c in range(cells)
    ]
    if classes is None or not classes.binary:
        unfair = Fairness(None, None, "fairness gaps are defined for binary classification only")
        return slices, [unfair] * cells
    fairness = _fairness(slice_unit, slice_cell, cells, classes.label, classes.prediction)
    return slices, fairness


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`quality`.

    The package exports ``quality`` under the module's own name, and importing a submodule binds
    it as the package's attribute of that name; so the package's ``quality`` is this module, and
    calling it calls the function (same signature, same docstring for ``help``).
    """

    __call__ = staticmethod(quality)


sys.modules[__name__].__class__ = _CallableModule
__signature__ = inspect.signature(quality)
