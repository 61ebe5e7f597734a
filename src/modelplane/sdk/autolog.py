"""``mp.autolog()``: scikit-learn fits log themselves, like ``mlflow.sklearn.autolog()``.

After ``mp.autolog()``, every ``fit`` (and ``fit_transform`` / ``fit_predict`` written on the
class itself) of a scikit-learn estimator logs, to the run whose ``with`` block it runs in:

* **params**: ``get_params(deep=True)`` — numbers, strings, booleans and None as they are, other
  values (estimators, grids) as their text; a search (GridSearchCV, RandomizedSearchCV, …) logs
  its own params plus the best candidate's as ``best_<name>``;
* **metrics** on the training data: ``training_score`` (the estimator's ``score``); for
  classifiers accuracy, weighted precision, recall and F1, log loss and ROC AUC (when the
  estimator has ``predict_proba``); for regressors MSE, RMSE, MAE and R²; for a search
  ``best_cv_score`` and the ``cv_results`` of its ``max_tuning_runs`` best candidates as a table;
* **tags**: ``estimator_name`` and ``estimator_class``;
* **the model** under the run's artifact folder ``model/`` (its flavor's files, the signature
  and a few rows of ``X`` as input example, described by ``model.json``; read it back with
  :func:`load_logged_model`); ``register_as="name"`` also registers it as a model version
  linked to the run.

Without an active run, a fit starts a run of its own (experiment ``experiment``) and ends it
when the fit returns (FINISHED) or raises (FAILED), as MLflow does. Fits inside a logged fit —
a Pipeline's steps, a search's candidates — are never logged. A fit's own exception always
propagates unchanged; a failure to log is reported as a warning and never fails the fit.

Classes are patched when ``autolog()`` is called (every estimator class
``sklearn.utils.all_estimators()`` lists, and the scikit-learn base classes they inherit
``fit`` from), except the helpers of :data:`EXCLUDED_MODULES` (scalers, encoders, imputers,
feature selection: they are logged as steps of a Pipeline); ``autolog(disable=True)`` restores every original method. The active run is a
context variable of the thread or task (see :func:`modelplane.tracking.handle.active_run`), so
fits in other threads are not logged to it.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import tempfile
import threading
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.core.names import check_name
from modelplane.errors import InvalidInputError
from modelplane.tracking.handle import RunHandle, active_run

if TYPE_CHECKING:
    from modelplane.core.operations import Operations

FIT_METHODS = ("fit", "fit_transform", "fit_predict")
EXCLUDED_MODULES = (
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.feature_extraction",
    "sklearn.feature_selection",
)
"""Helpers, not models (as MLflow excludes them): scikit-learn fits them inside its own
functions (a LabelEncoder in the metrics), so their fits are never logged on their own."""
MODEL_DESCRIPTOR = "model.json"
"""The file that describes a logged model (flavor, flavor info, signature)."""
EXAMPLE_ROWS = 5
MAX_PARAM_TEXT = 6000

_IN_FIT: ContextVar[bool] = ContextVar("modelplane_autolog_in_fit", default=False)


@dataclass(frozen=True)
class AutologConfig:
    log_models: bool = True
    log_input_examples: bool = True
    max_tuning_runs: int | None = 5
    register_as: str | None = None
    experiment: str = "Default"
    client: Operations | None = None


class _Patches:
    """What ``autolog()`` changed in this process; the lock guards both fields."""

    lock = threading.Lock()
    config: AutologConfig | None = None
    originals: dict[tuple[type, str], Any] = {}


def autolog(
    disable: bool = False,
    *,
    log_models: bool = True,
    log_input_examples: bool = True,
    max_tuning_runs: int | None = 5,
    register_as: str | None = None,
    experiment: str = "Default",
    client: Operations | None = None,
) -> None:
    """Log scikit-learn fits automatically (see the module documentation).

    ``register_as`` also registers each logged model as a version of that model name, through
    ``client`` (default: the local SDK; pass your ``mp.Client`` when runs are on a server).
    ``experiment`` is where a fit outside any run starts its own run. ``autolog(disable=True)``
    undoes the patching.
    """
    if disable:
        with _Patches.lock:
            _unpatch()
            _Patches.config = None
        return
    if max_tuning_runs is not None and (
        isinstance(max_tuning_runs, bool)
        or not isinstance(max_tuning_runs, int)
        or max_tuning_runs < 0
    ):
        raise InvalidInputError(
            f"max_tuning_runs must be None or an integer >= 0, got {max_tuning_runs!r}",
            field="max_tuning_runs",
        )
    if register_as is not None:
        check_name(register_as, "model name")
    check_name(experiment, "experiment name")
    config = AutologConfig(
        log_models, log_input_examples, max_tuning_runs, register_as, experiment, client
    )
    with _Patches.lock:
        _Patches.config = config
        if not _Patches.originals:
            _patch()


def _estimator_classes() -> set[type]:
    """Every scikit-learn class that defines a fit method of its own and is, or is a base of,
    an estimator ``all_estimators()`` lists."""
    from sklearn.utils import all_estimators

    found: set[type] = set()
    for _, cls in all_estimators():
        if cls.__module__.startswith(EXCLUDED_MODULES):
            continue
        for klass in cls.__mro__:
            if klass.__module__.startswith("sklearn") and any(
                m in vars(klass) for m in FIT_METHODS
            ):
                found.add(klass)
    return found


def _patch() -> None:
    for klass in sorted(_estimator_classes(), key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        for method in FIT_METHODS:
            original = vars(klass).get(method)
            # plain functions only: a descriptor (available_if) keeps its own hasattr rules
            if original is None or not inspect.isfunction(original):
                continue
            _Patches.originals[(klass, method)] = original
            setattr(klass, method, _wrap(original))


def _unpatch() -> None:
    for (klass, method), original in _Patches.originals.items():
        setattr(klass, method, original)
    _Patches.originals.clear()


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        config = _Patches.config
        if config is None or _IN_FIT.get() or type(self).__module__.startswith(EXCLUDED_MODULES):
            return original(self, *args, **kwargs)
        token = _IN_FIT.set(True)
        try:
            return _logged_fit(config, original, self, args, kwargs)
        finally:
            _IN_FIT.reset(token)

    fit.__modelplane_autolog__ = True  # type: ignore[attr-defined]
    return fit


def _client(config: AutologConfig) -> Operations:
    if config.client is not None:
        return config.client
    from modelplane.sdk import _local

    return _local()


def _logged_fit(
    config: AutologConfig,
    original: Callable[..., Any],
    estimator: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    run = active_run()
    owned: RunHandle | None = None
    if run is None:
        owned = run = _client(config).start_run(config.experiment)
    try:
        result = original(estimator, *args, **kwargs)
    except BaseException as exc:
        if owned is not None:
            owned.end("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    try:
        _log_fit(config, run, estimator, args, kwargs)
    except Exception as exc:  # logging never fails the user's fit
        warnings.warn(
            f"modelplane autolog: could not log the fit of {type(estimator).__name__} to run "
            f"{run.id}: {exc}",
            stacklevel=3,
        )
    finally:
        if owned is not None:
            owned.end("FINISHED")
    return result


# -- what a fit logs ------------------------------------------------------------------------------


def _fit_data(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y", kwargs.get("Y"))
    return X, y, kwargs.get("sample_weight")


def _param_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if (
        type(value).__module__ == "numpy"
        and hasattr(value, "item")
        and getattr(value, "ndim", 1) == 0
    ):
        return _param_value(value.item())
    return str(value)[:MAX_PARAM_TEXT]


def _log_fit(
    config: AutologConfig,
    run: RunHandle,
    estimator: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    X, y, weights = _fit_data(args, kwargs)
    cls = type(estimator)
    search = hasattr(estimator, "best_params_") and hasattr(estimator, "cv_results_")
    params = {k: _param_value(v) for k, v in estimator.get_params(deep=not search).items()}
    if search:
        params.update({f"best_{k}": _param_value(v) for k, v in estimator.best_params_.items()})
    run.log_params(params)
    run.set_tags(
        {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__qualname__}"}
    )
    metrics = _training_metrics(estimator, X, y, weights)
    if search:
        metrics["best_cv_score"] = float(estimator.best_score_)
    if metrics:
        run.log_metrics(metrics)
    if search and config.max_tuning_runs != 0:
        _log_cv_results(run, estimator.cv_results_, config.max_tuning_runs)
    if config.log_models:
        model = (
            estimator.best_estimator_
            if search and hasattr(estimator, "best_estimator_")
            else estimator
        )
        example = _head(X) if config.log_input_examples else None
        _log_model(run, model, example, X)
        if config.register_as is not None:
            _client(config).register_model(config.register_as, model, _head(X), run=run)


def _head(X: Any) -> Any:
    if X is None:
        return None
    if hasattr(X, "iloc"):
        return X.iloc[:EXAMPLE_ROWS]
    try:
        return X[:EXAMPLE_ROWS]
    except (TypeError, IndexError, KeyError):
        return None


def _training_metrics(estimator: Any, X: Any, y: Any, weights: Any) -> dict[str, float]:
    """The training metrics that apply; one that cannot be computed is left out."""
    from sklearn.base import is_classifier, is_regressor

    if y is None or X is None:
        return {}
    from sklearn import metrics as m

    out: dict[str, float] = {}

    def put(name: str, compute: Callable[[], Any]) -> None:
        try:
            value = float(compute())
        except Exception:  # e.g. a metric undefined for these labels
            return
        if math.isfinite(value):
            out[name] = value

    if hasattr(estimator, "score"):
        put(
            "training_score",
            lambda: (
                estimator.score(X, y, sample_weight=weights)
                if weights is not None
                else estimator.score(X, y)
            ),
        )
    if not hasattr(estimator, "predict"):
        return out
    if is_classifier(estimator):
        pred = estimator.predict(X)
        sw = {"sample_weight": weights}
        put("training_accuracy_score", lambda: m.accuracy_score(y, pred, **sw))
        avg = {"average": "weighted", "zero_division": 0, **sw}
        put("training_precision_score", lambda: m.precision_score(y, pred, **avg))
        put("training_recall_score", lambda: m.recall_score(y, pred, **avg))
        put("training_f1_score", lambda: m.f1_score(y, pred, **avg))
        if hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(X)
            labels = estimator.classes_
            put("training_log_loss", lambda: m.log_loss(y, proba, labels=labels, **sw))
            if len(labels) == 2:
                put("training_roc_auc", lambda: m.roc_auc_score(y, proba[:, 1], **sw))
            else:
                put(
                    "training_roc_auc",
                    lambda: m.roc_auc_score(
                        y, proba, multi_class="ovr", average="weighted", labels=labels, **sw
                    ),
                )
    elif is_regressor(estimator):
        pred = estimator.predict(X)
        sw = {"sample_weight": weights}
        put("training_mean_squared_error", lambda: m.mean_squared_error(y, pred, **sw))
        put(
            "training_root_mean_squared_error",
            lambda: math.sqrt(m.mean_squared_error(y, pred, **sw)),
        )
        put("training_mean_absolute_error", lambda: m.mean_absolute_error(y, pred, **sw))
        put("training_r2_score", lambda: m.r2_score(y, pred, **sw))
    return out


def _log_cv_results(run: RunHandle, results: dict[str, Any], top: int | None) -> None:
    """The search's candidates (the ``top`` best by rank, or all) as ``cv_results.json``."""
    import pandas as pd

    frame = pd.DataFrame({k: list(v) for k, v in results.items()})
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(
                lambda v: v if isinstance(v, str | int | float | bool) or v is None else str(v)
            )
    rank = next((c for c in frame.columns if c.startswith("rank_test_")), None)
    if rank is not None:
        frame = frame.sort_values(rank, kind="stable")
    if top is not None:
        frame = frame.head(top)
    run.log_table(frame.reset_index(drop=True), "cv_results.json")


def _log_model(run: RunHandle, model: Any, example: Any, X: Any) -> None:
    """Save ``model`` with its flavor (signature from ``X``'s first rows, input example when
    given) and log the folder as the run's artifacts ``model/``."""
    from modelplane.registry.packaging import save_object
    from modelplane.registry.signature import infer_signature

    with tempfile.TemporaryDirectory(prefix="mp-autolog-") as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir()
        saved = save_object(model, example, folder)
        signature = saved.signature
        if example is None and X is not None:  # a signature all the same, without the rows
            signature = infer_signature(model, _head(X)).to_dict()
        descriptor = {
            "flavor": saved.flavor,
            "flavor_info": saved.flavor_info,
            "signature": signature,
        }
        (folder / MODEL_DESCRIPTOR).write_text(json.dumps(descriptor, indent=2, default=str))
        run.log_artifacts(folder, "model")


def load_logged_model(run: RunHandle, artifact_path: str = "model") -> Any:
    """The model an autologged fit logged under ``artifact_path`` of ``run`` (a local or remote
    run handle), loaded with its flavor after every file matched its recorded SHA-256."""
    from modelplane.registry.flavors import get_flavor

    with tempfile.TemporaryDirectory(prefix="mp-logged-model-") as tmp:
        folder = run.download_artifacts(artifact_path, tmp)
        descriptor_file = folder / MODEL_DESCRIPTOR
        if not descriptor_file.is_file():
            raise InvalidInputError(
                f"run {run.id} has no logged model under {artifact_path!r} (no {MODEL_DESCRIPTOR})",
                field="artifact_path",
            )
        descriptor = json.loads(descriptor_file.read_text())
        flavor = get_flavor(str(descriptor["flavor"]))
        return flavor.load(folder, dict(descriptor["flavor_info"]))


__all__ = ["AutologConfig", "autolog", "load_logged_model"]
