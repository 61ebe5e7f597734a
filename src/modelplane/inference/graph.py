"""Inference graphs: preprocessing steps → one or more models → ensemble → threshold, label map and
postprocessing steps, compiled once from a variant of an endpoint's configuration.

A plain ``model`` variant is a one-model graph without steps (a *passthrough*: the rows go to the
model untouched). :class:`Graph` is pure computation — no I/O, no asyncio. Running it is two
halves, written once: :meth:`Graph.model_inputs` (preprocess, then each model's input) and
:meth:`Graph.finish` (combine, then postprocess); the server calls its models between them
through their batchers (async), batch scoring and :meth:`Graph.run_sync` directly. Everything is vectorised over the rows of a
batch; the only Python loops run over models, classes or distinct labels, never over rows.

**Inputs.** :meth:`Graph.preprocess` takes a DataFrame, or a 2-D numpy array plus its column
names, and *always returns a DataFrame* (wrapping an array does not copy it). Each model then
needs its own input: :func:`model_input` turns the frame into what a model's
:class:`~modelplane.inference.inputs.InputSpec` wants (a ``float64`` 2-D array in signature column
order for numeric signatures, else a DataFrame of the signature's columns).

**Ensembles** (``graph.ensemble``; ``classes`` are the per-model class lists, ``None`` for
regressors):

``none``      the single model's prediction, unchanged.
``mean``      classifiers: the mean of the probability matrices, label = the class with the highest
              mean probability (ties → the earlier class in class order); regressors: the mean of
              the outputs. Classifiers must share the same set of classes (columns are aligned to
              the first model's class order); mixing classifiers and regressors is an error.
``weighted``  as ``mean`` with the weights ``GraphModel.weight`` (normalised to sum to 1).
``vote``      classifiers only: each model votes for its label with its weight (1 by default, so a
              plain majority); probabilities = each class's share of the votes. A tie between
              classes goes to the label of the *first model in config order* that voted for one of
              the tied classes. Classes are the first model's, followed by any other model's
              classes not seen yet.

**Postprocessing**, in this order: ``threshold`` (binary classifiers only: label = ``classes[1]``
when ``P(classes[1]) >= threshold``, else ``classes[0]``; ``classes[1]`` is the second class in
the model's order, the positive class ``1``/``True`` of scikit-learn), ``label_map`` (each label
``l`` becomes ``label_map[str(l)]``; unmapped labels pass through; probabilities are unchanged),
then the ``python`` postprocess steps.

**Errors.** Bad configuration raises :class:`InvalidInputError` at compile time or, when it
depends on the models' classes (threshold on a non-binary model, classes that differ), on first
use. Bad input data raises :class:`SchemaValidationError` naming the column. An exception inside
a python step becomes :class:`StepError` (HTTP 500, code ``step_failed``) naming the step;
modelplane errors raised on purpose by such a function pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelplane.endpoints.config import EndpointConfig, GraphConfig, GraphModel, VariantConfig
from modelplane.errors import InvalidInputError, ModelplaneError, SchemaValidationError, StepError
from modelplane.inference.inputs import InputSpec
from modelplane.inference.prediction import Prediction
from modelplane.inference.steps import CompiledStep, compile_postprocess, compile_preprocess

ClassList = Sequence[Any] | None
PredictFn = Callable[[str, Any], Prediction]


@dataclass(frozen=True)
class _Post:
    threshold: float | None
    label_map: dict[str, Any] | None
    steps: tuple[CompiledStep, ...]


class Graph:
    """A compiled inference graph. Build it with :meth:`compile`."""

    def __init__(
        self,
        models: Sequence[GraphModel],
        ensemble: str,
        preprocess_steps: Sequence[CompiledStep],
        post: _Post,
    ) -> None:
        self.models = tuple(models)
        self.ensemble = ensemble
        self.preprocess_steps = tuple(preprocess_steps)
        self._post = post
        # One model, no steps, nothing to combine: the rows go to the model as they came and its
        # answer is the graph's (the common case costs no frame and no copies).
        self.passthrough = (
            len(self.models) == 1
            and ensemble == "none"
            and not self.preprocess_steps
            and not self.has_postprocess
        )

    @classmethod
    def compile(cls, variant: VariantConfig, *, step_modules: Sequence[str] = ()) -> Graph:
        """Compile one variant (a model URI or a graph): step parameters are checked now, and
        python functions resolved now, from the modules in ``step_modules`` only (the admin's
        ``Settings.step_modules``; empty: python steps are refused)."""
        if variant.graph is None:
            if variant.model is None:
                raise InvalidInputError("the variant has neither model nor graph", field="model")
            return cls([GraphModel(uri=variant.model)], "none", [], _Post(None, None, ()))
        graph: GraphConfig = variant.graph
        if graph.ensemble == "none" and len(graph.models) != 1:
            raise InvalidInputError(
                "several models need an ensemble: mean, weighted or vote", field="graph.ensemble"
            )
        label_map = (
            None if graph.label_map is None else {str(k): v for k, v in graph.label_map.items()}
        )
        pre_steps = compile_preprocess(graph.preprocess, step_modules)
        post_steps = compile_postprocess(graph.postprocess, step_modules)
        post = _Post(graph.threshold, label_map, tuple(post_steps))
        return cls(graph.models, graph.ensemble, pre_steps, post)

    @classmethod
    def from_config(cls, config: EndpointConfig, *, step_modules: Sequence[str] = ()) -> Graph:
        """The graph of an endpoint with one variant (the ``model``/``graph`` shorthand)."""
        variants = config.policy.variants
        if len(variants) != 1:
            raise InvalidInputError(
                f"the endpoint has {len(variants)} variants; compile one of them", field="traffic"
            )
        return cls.compile(variants[0], step_modules=step_modules)

    # -- what the graph is made of ------------------------------------------------------------

    @property
    def model_uris(self) -> list[str]:
        """The models' URIs in config order (the fallback model is not part of the graph)."""
        return [m.uri for m in self.models]

    @property
    def weights(self) -> list[float]:
        """The models' weights as configured (``weighted`` and ``vote`` normalise them)."""
        return [float(m.weight) for m in self.models]

    @property
    def has_preprocess(self) -> bool:
        return bool(self.preprocess_steps)

    @property
    def has_postprocess(self) -> bool:
        post = self._post
        return post.threshold is not None or bool(post.label_map) or bool(post.steps)

    # -- preprocessing ------------------------------------------------------------------------

    def preprocess(self, X: Any, columns: Sequence[str] | None = None) -> Any:
        """Apply the preprocess steps in order; always returns a new DataFrame.

        ``X`` is a DataFrame (``columns``, if given, must equal its columns) or a 2-D numpy array
        whose column names are ``columns``. The caller's object is never modified.
        """
        import pandas as pd

        if isinstance(X, pd.DataFrame):
            if columns is not None and list(columns) != [str(c) for c in X.columns]:
                raise InvalidInputError(
                    "columns do not match the DataFrame's columns", field="columns"
                )
            frame = X.copy(deep=False)
        elif isinstance(X, np.ndarray):
            if X.ndim != 2:
                raise InvalidInputError(f"graph input must be 2-D, got {X.ndim}-D", field="inputs")
            if columns is None or len(columns) != X.shape[1]:
                raise InvalidInputError(
                    f"an array input needs one column name per column ({X.shape[1]})",
                    field="columns",
                )
            frame = pd.DataFrame(X, columns=[str(c) for c in columns], copy=False)
        else:
            raise InvalidInputError(
                f"graph input must be a DataFrame or a 2-D array, got {type(X).__name__}",
                field="inputs",
            )
        for step in self.preprocess_steps:
            frame = _run_frame_step(step, frame)
        return frame

    # -- combining ----------------------------------------------------------------------------

    def output_classes(self, classes: Sequence[ClassList]) -> list[Any] | None:
        """The classes of the combined prediction (its probability columns), or None."""
        self._check_count(classes, "classes")
        if self.ensemble == "none":
            return None if classes[0] is None else [_plain(c) for c in classes[0]]
        if self.ensemble == "vote":
            return _vote_classes(classes)
        return _shared_classes(classes)

    def output_labels(self, classes: Sequence[ClassList]) -> list[Any] | None:
        """:meth:`output_classes` with the label map applied (names for probability columns)."""
        out = self.output_classes(classes)
        if out is None or not self._post.label_map:
            return out
        return [self._post.label_map.get(_text(c), c) for c in out]

    def combine(
        self, predictions: Sequence[Prediction], classes: Sequence[ClassList]
    ) -> Prediction:
        """Combine the models' predictions (config order) according to the ensemble."""
        self._check_count(predictions, "predictions")
        self._check_count(classes, "classes")
        if self.ensemble == "none":
            return predictions[0]
        n = _rows(predictions[0])
        for i, p in enumerate(predictions):
            if _rows(p) != n:
                raise ModelplaneError(
                    f"{self.models[i].uri} answered {_rows(p)} rows for {n} inputs", field="graph"
                )
        weights = np.asarray(self.weights, dtype=np.float64)
        if self.ensemble == "mean":
            weights = np.ones_like(weights)
        weights = weights / weights.sum()
        if self.ensemble == "vote":
            return self._vote(predictions, classes, weights, n)
        return self._average(predictions, classes, weights)

    def _average(
        self, predictions: Sequence[Prediction], classes: Sequence[ClassList], w: np.ndarray
    ) -> Prediction:
        shared = _shared_classes(classes)
        if shared is None:  # regression: average the outputs
            total: np.ndarray | None = None
            for i, p in enumerate(predictions):
                try:
                    values = np.asarray(p.outputs, dtype=np.float64)
                except (TypeError, ValueError):
                    raise InvalidInputError(
                        f"{self.models[i].uri} answers non-numeric outputs; a {self.ensemble} "
                        "ensemble needs numbers (use vote for labels)",
                        field="graph.ensemble",
                    ) from None
                total = values * w[i] if total is None else total + values * w[i]
            assert total is not None
            return Prediction(total)
        keys = [_plain(c) for c in shared]
        acc: np.ndarray | None = None
        for i, (p, cls) in enumerate(zip(predictions, classes, strict=True)):
            if p.probabilities is None:
                raise InvalidInputError(
                    f"{self.models[i].uri} gives no probabilities; a {self.ensemble} ensemble of "
                    "classifiers needs them (use vote)",
                    field="graph.ensemble",
                )
            proba = np.asarray(p.probabilities, dtype=np.float64)
            assert cls is not None
            order = [_plain(c) for c in cls]
            if proba.ndim != 2 or proba.shape[1] != len(order):
                raise ModelplaneError(
                    f"{self.models[i].uri} answered probabilities of shape {proba.shape} for "
                    f"{len(order)} classes",
                    field="graph",
                )
            if order != keys:
                proba = proba[:, [order.index(k) for k in keys]]
            acc = proba * w[i] if acc is None else acc + proba * w[i]
        assert acc is not None
        labels = _label_array(keys)[acc.argmax(axis=1)]
        return Prediction(labels, acc)

    def _vote(
        self,
        predictions: Sequence[Prediction],
        classes: Sequence[ClassList],
        w: np.ndarray,
        n: int,
    ) -> Prediction:
        universe = _vote_classes(classes)
        position = {k: j for j, k in enumerate(universe)}
        votes = np.zeros((n, len(universe)), dtype=np.float64)
        rows = np.arange(n)
        indices = []
        for i, (p, cls) in enumerate(zip(predictions, classes, strict=True)):
            own = {_plain(c): position[_plain(c)] for c in cls or ()}
            idx = _label_indices(np.asarray(p.outputs).ravel(), own, self.models[i].uri)
            votes[rows, idx] += w[i]
            indices.append(idx)
        best = votes.max(axis=1, initial=0.0)
        tied = votes >= (best - 1e-9)[:, None]
        winner = np.full(n, -1, dtype=np.int64)
        for idx in indices:  # the first model (config order) voting for a tied class wins
            pick = (winner < 0) & tied[rows, idx]
            winner[pick] = idx[pick]
        return Prediction(_label_array(universe)[winner], votes)

    # -- postprocessing -----------------------------------------------------------------------

    def postprocess(self, prediction: Prediction, classes: ClassList) -> Prediction:
        """Threshold, label map, then python steps; ``classes`` are the combined classes
        (:meth:`output_classes`)."""
        post = self._post
        out = prediction
        if post.threshold is not None:
            out = _apply_threshold(out, classes, post.threshold)
        if post.label_map:
            out = Prediction(map_labels(out.outputs, post.label_map), out.probabilities)
        for step in post.steps:
            out = _run_prediction_step(step, out, classes)
        return out

    # -- all of it ----------------------------------------------------------------------------

    def model_inputs(
        self, X: Any, columns: Sequence[str] | None, specs: Sequence[InputSpec], row_offset: int = 0
    ) -> list[Any]:
        """The first half of running the graph: preprocess, then each model's own input (config
        order; see :func:`model_input`). A passthrough graph hands ``X`` on unchanged."""
        if self.passthrough:
            return [X]
        self._check_count(specs, "specs")
        frame = self.preprocess(X, columns)
        return [model_input(frame, spec, row_offset=row_offset) for spec in specs]

    def finish(self, predictions: Sequence[Prediction], classes: Sequence[ClassList]) -> Prediction:
        """The second half: combine the models' predictions (config order), then postprocess."""
        if self.passthrough:
            return predictions[0]
        combined = self.combine(predictions, classes)
        return self.postprocess(combined, self.output_classes(classes))

    def run_sync(
        self,
        X: Any,
        columns: Sequence[str] | None,
        predict: PredictFn,
        specs: Mapping[str, InputSpec],
        classes: Mapping[str, ClassList] | None = None,
    ) -> Prediction:
        """:meth:`model_inputs` → ``predict(uri, its input)`` per model → :meth:`finish`, in
        this thread (the server runs the same two halves around its batched, async calls)."""
        inputs = self.model_inputs(X, columns, [specs[uri] for uri in self.model_uris])
        predictions = [predict(uri, x) for uri, x in zip(self.model_uris, inputs, strict=True)]
        return self.finish(predictions, [(classes or {}).get(uri) for uri in self.model_uris])

    def _check_count(self, items: Sequence[Any], what: str) -> None:
        if len(items) != len(self.models):
            raise InvalidInputError(
                f"the graph has {len(self.models)} model(s) but got {len(items)} {what}",
                field=what,
            )

    def __repr__(self) -> str:
        return f"Graph(models={self.model_uris}, ensemble={self.ensemble!r})"


# -- model inputs --------------------------------------------------------------------------------


def model_input(frame: Any, spec: InputSpec, *, row_offset: int = 0) -> Any:
    """The preprocessed frame as one model's input.

    Numeric signatures get a ``float64`` 2-D array in signature column order (nulls, NaN and
    infinities are rejected, as the server does); other signatures a DataFrame of the signature's
    columns with numeric columns coerced; models without a signature the frame itself. A missing
    column is a :class:`SchemaValidationError` naming it; ``row_offset`` is added to row numbers
    in messages (batch scoring passes the batch's first row).
    """
    if not spec.columns:
        if spec.input_kind == "tensor":
            return frame.to_numpy()
        return frame
    cols = list(spec.columns)
    present = set(frame.columns)
    for col in cols:
        if col not in present:
            raise SchemaValidationError(f"the input has no column {col!r}", field=col)
    sub = frame[cols]
    if spec.numeric:
        try:
            arr = sub.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            for col, dtype in zip(cols, spec.dtypes, strict=True):
                try:
                    sub[col].to_numpy(dtype=np.float64, na_value=np.nan)
                except (TypeError, ValueError):
                    raise SchemaValidationError(
                        f"column {col!r} must hold numbers ({dtype})", field=col
                    ) from None
            raise
        check_finite(arr, cols, row_offset)
        return arr
    import pandas as pd

    out = sub.copy(deep=False)
    for col, dtype in zip(cols, spec.dtypes, strict=True):
        if _numeric_dtype(dtype):
            try:
                out[col] = pd.to_numeric(sub[col], errors="raise")
            except (TypeError, ValueError):
                raise SchemaValidationError(
                    f"column {col!r} must hold numbers ({dtype})", field=col
                ) from None
    return out


def check_finite(arr: np.ndarray, columns: Sequence[str], row_offset: int = 0) -> None:
    """Raise SchemaValidationError naming the first null/NaN/infinite cell of a 2-D array."""
    finite = np.isfinite(arr)
    if finite.all():
        return
    rows, cols = np.nonzero(~finite)
    i, j = int(rows[0]), int(cols[0])
    raise SchemaValidationError(
        f"row {row_offset + i + 1}, column {columns[j]!r} is null, NaN or infinite; the model "
        "needs a finite number",
        field=columns[j],
    )


def _numeric_dtype(dtype: str) -> bool:
    try:
        return np.dtype(dtype).kind in "biuf"
    except TypeError:
        return False


# -- helpers ---------------------------------------------------------------------------------------


def _rows(p: Prediction) -> int:
    return int(np.shape(p.outputs)[0]) if np.ndim(p.outputs) else 1


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _text(value: Any) -> str:
    return str(_plain(value))


def _label_array(labels: Sequence[Any]) -> np.ndarray:
    """Class labels as an array to index: object dtype for strings (as the runtimes answer)."""
    return _values_array(list(labels))


def _values_array(values: list[Any]) -> np.ndarray:
    """A 1-D array of ``values``: numeric/bool dtype when they are all of one such kind, else
    object (never numpy's fixed-width strings, which would silently turn numbers into text)."""
    if values and all(isinstance(v, (bool, np.bool_)) for v in values):
        return np.asarray(values, dtype=bool)
    if values and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
        for v in values
    ):
        return np.asarray(values)
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _shared_classes(classes: Sequence[ClassList]) -> list[Any] | None:
    """The classes every model shares (first model's order), None for regressors, or an error."""
    known = [c for c in classes if c is not None]
    if not known:
        return None
    if len(known) != len(classes):
        raise InvalidInputError(
            "the graph mixes classifiers and regressors; their predictions cannot be combined",
            field="graph.models",
        )
    first = [_plain(c) for c in known[0]]
    for i, cls in enumerate(known[1:], start=1):
        other = [_plain(c) for c in cls]
        if len(other) != len(first) or set(other) != set(first):
            raise InvalidInputError(
                f"graph.models[{i}] has classes {other}, graph.models[0] has {first}: an "
                "ensemble needs models with the same classes",
                field=f"graph.models[{i}]",
            )
    return first


def _vote_classes(classes: Sequence[ClassList]) -> list[Any]:
    universe: list[Any] = []
    seen: set[Any] = set()
    for i, cls in enumerate(classes):
        if cls is None:
            raise InvalidInputError(
                f"graph.models[{i}] is not a classifier with known classes; vote needs classifiers",
                field=f"graph.models[{i}]",
            )
        for c in cls:
            key = _plain(c)
            if key not in seen:
                seen.add(key)
                universe.append(key)
    return universe


def _label_indices(labels: np.ndarray, position: Mapping[Any, int], uri: str) -> np.ndarray:
    """Each label's index in ``position`` (vectorised: one dict lookup per distinct label)."""
    import pandas as pd

    codes, uniques = pd.factorize(labels, use_na_sentinel=False)
    lookup = np.empty(len(uniques), dtype=np.int64)
    for j, label in enumerate(uniques):
        key = _plain(label)
        if key not in position:
            raise ModelplaneError(
                f"{uri} answered label {key!r}, which is not one of its classes", field="graph"
            )
        lookup[j] = position[key]
    indices: np.ndarray = lookup[np.asarray(codes, dtype=np.intp)]
    return indices


def map_labels(outputs: np.ndarray, label_map: Mapping[str, Any]) -> np.ndarray:
    """Replace each label ``l`` with ``label_map[str(l)]``; unmapped labels pass through."""
    import pandas as pd

    values = np.asarray(outputs)
    if values.ndim != 1 or not len(values):
        return values
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    plain = [_plain(u) for u in uniques]
    mapped = [label_map.get(_text(u), u) for u in plain]
    if all(m is u for m, u in zip(mapped, plain, strict=True)):
        return values
    result: np.ndarray = _values_array(mapped)[np.asarray(codes, dtype=np.intp)]
    return result


def _apply_threshold(prediction: Prediction, classes: ClassList, threshold: float) -> Prediction:
    if classes is None or len(classes) != 2:
        what = "a regressor" if classes is None else f"{len(classes)} classes"
        raise InvalidInputError(
            f"graph.threshold needs a binary classifier; the graph's models have {what}",
            field="graph.threshold",
        )
    proba = prediction.probabilities
    if proba is None or np.ndim(proba) != 2 or np.shape(proba)[1] != 2:
        raise InvalidInputError(
            "graph.threshold needs probabilities; the model gives none", field="graph.threshold"
        )
    positive = np.asarray(proba)[:, 1] >= threshold
    labels = _label_array([_plain(c) for c in classes])[positive.astype(np.intp)]
    return Prediction(labels, prediction.probabilities)


def _run_frame_step(step: CompiledStep, frame: Any) -> Any:
    try:
        return step.run(frame)
    except ModelplaneError:
        raise
    except Exception as exc:
        if step.is_python:
            raise StepError(
                f"{step.describe()} failed: {type(exc).__name__}: {exc}", field=step.where
            ) from exc
        raise SchemaValidationError(
            f"{step.describe()} cannot process this input: {type(exc).__name__}: {exc}",
            field=step.where,
        ) from exc


def _run_prediction_step(
    step: CompiledStep, prediction: Prediction, classes: ClassList
) -> Prediction:
    n = _rows(prediction)
    proba = prediction.probabilities
    document = {
        "outputs": np.asarray(prediction.outputs).tolist(),
        "probabilities": None if proba is None else np.asarray(proba).tolist(),
    }
    try:
        result = step.run(document)
        return _prediction_from(result, n, classes)
    except ModelplaneError:
        raise
    except Exception as exc:
        raise StepError(
            f"{step.describe()} failed: {type(exc).__name__}: {exc}", field=step.where
        ) from exc


def _prediction_from(result: Any, n: int, classes: ClassList) -> Prediction:
    if not isinstance(result, Mapping) or "outputs" not in result:
        raise TypeError(
            f"the function returned {type(result).__name__}; expected a dict with 'outputs' "
            "and 'probabilities'"
        )
    raw = result["outputs"]
    outputs = _values_array(list(raw)) if isinstance(raw, (list, tuple)) else np.asarray(raw)
    if outputs.dtype.kind in "US":
        outputs = outputs.astype(object)
    if outputs.ndim == 0 or len(outputs) != n:
        raise ValueError(f"'outputs' has {np.size(outputs)} values for {n} rows")
    raw_proba = result.get("probabilities")
    if raw_proba is None:
        return Prediction(outputs)
    proba = np.asarray(raw_proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != n:
        raise ValueError(f"'probabilities' has shape {proba.shape} for {n} rows")
    if classes is not None and proba.shape[1] != len(classes):
        raise ValueError(f"'probabilities' has {proba.shape[1]} columns for {len(classes)} classes")
    return Prediction(outputs, proba)


__all__ = ["Graph", "check_finite", "map_labels", "model_input"]
