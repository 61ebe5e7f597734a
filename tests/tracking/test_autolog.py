"""``mp.autolog()`` for scikit-learn: params with their types, training metrics equal to what
scikit-learn computes, tags, the model logged (and optionally registered) and loaded back,
nested fits never logged, user exceptions untouched, and ``disable=True`` undoing it all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import modelplane as mp
from modelplane.context import Workspace
from modelplane.sdk.autolog import load_logged_model


@pytest.fixture
def autologged(sqlite_ws: Workspace) -> Iterator[Workspace]:
    mp.autolog()
    yield sqlite_ws
    mp.autolog(disable=True)


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = (X["a"] + 0.5 * X["b"] + rng.normal(scale=0.5, size=60) > 0).astype(int).to_numpy()
    return X, y


def test_classifier_params_metrics_tags_model(
    autologged: Workspace, data: Any, tmp_path: Path
) -> None:
    X, y = data
    with mp.start_run("auto") as run:
        model = LogisticRegression(C=0.5, max_iter=200).fit(X, y)
    info = mp.get_run(run.id)
    assert info.params["C"] in (0.5, "0.5")
    assert info.params["max_iter"] in (200, "200")
    assert info.params["penalty"] in ("l2", "deprecated")  # as get_params() says
    assert info.tags["estimator_name"] == "LogisticRegression"
    assert info.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    pred, proba = model.predict(X), model.predict_proba(X)
    expected = {
        "training_score": model.score(X, y),
        "training_accuracy_score": skm.accuracy_score(y, pred),
        "training_precision_score": skm.precision_score(y, pred, average="weighted"),
        "training_recall_score": skm.recall_score(y, pred, average="weighted"),
        "training_f1_score": skm.f1_score(y, pred, average="weighted"),
        "training_log_loss": skm.log_loss(y, proba),
        "training_roc_auc": skm.roc_auc_score(y, proba[:, 1]),
    }
    for key, value in expected.items():
        assert info.metrics[key] == pytest.approx(value), key

    files = {e.path for e in run.list_artifacts()}
    assert {"model/model.json", "model/model.joblib", "model/input_example.parquet"} <= files
    descriptor = json.loads(run.download_artifacts("model/model.json", tmp_path).read_text())
    assert descriptor["flavor"] == "sklearn"
    assert [c["name"] for c in descriptor["signature"]["inputs"]] == ["a", "b"]
    example = pd.read_parquet(run.download_artifacts("model/input_example.parquet", tmp_path))
    assert len(example) == 5
    loaded = load_logged_model(run)
    np.testing.assert_array_equal(loaded.predict(X), pred)
    assert mp.list_models() == []  # logged under the run, not registered


def test_pipeline_logs_once_with_deep_params(autologged: Workspace, data: Any) -> None:
    X, y = data
    with mp.start_run("auto") as run:
        pipe = make_pipeline(StandardScaler(), LogisticRegression(C=2.0)).fit(X, y)
    info = mp.get_run(run.id)
    assert info.tags["estimator_name"] == "Pipeline"
    assert info.params["logisticregression__C"] in (2.0, "2.0")
    assert info.params["standardscaler__with_mean"] in (True, "True")
    assert info.metrics["training_score"] == pytest.approx(pipe.score(X, y))
    # the steps' own fits were not logged: no run of their own, no params of their own
    assert len(mp.list_runs("auto")) == 1
    assert "C" not in info.params
    assert np.array_equal(load_logged_model(run).predict(X), pipe.predict(X))


def test_grid_search_logs_best_and_not_children(autologged: Workspace, data: Any) -> None:
    X, y = data
    with mp.start_run("search") as run:
        search = GridSearchCV(LogisticRegression(), {"C": [0.01, 0.1, 1.0]}, cv=3).fit(X, y)
    info = mp.get_run(run.id)
    assert info.tags["estimator_name"] == "GridSearchCV"
    assert info.params["best_C"] in (search.best_params_["C"], str(search.best_params_["C"]))
    assert info.params["cv"] in (3, "3")
    assert info.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert info.metrics["training_score"] == pytest.approx(search.score(X, y))
    assert len(mp.list_runs("search")) == 1  # no run per candidate
    assert "C" not in info.params  # the candidates' params were not logged
    table = json.loads(run.download_artifacts("cv_results.json").read_text())
    assert len(table["data"]) == 3 and "mean_test_score" in table["columns"]
    best = load_logged_model(run)
    assert isinstance(best, LogisticRegression)
    assert search.best_params_["C"] == best.C


def test_regressor_and_own_run_and_register(sqlite_ws: Workspace) -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=40)})
    y = 3 * X["x"].to_numpy() + rng.normal(scale=0.1, size=40)
    mp.autolog(register_as="reg", experiment="own")
    try:
        model = LinearRegression().fit(X, y)  # no active run: one of its own
    finally:
        mp.autolog(disable=True)
    (info,) = mp.list_runs("own")
    assert info.status == "FINISHED"
    pred = model.predict(X)
    mse = skm.mean_squared_error(y, pred)
    assert info.metrics["training_mean_squared_error"] == pytest.approx(mse)
    assert info.metrics["training_root_mean_squared_error"] == pytest.approx(mse**0.5)
    assert info.metrics["training_mean_absolute_error"] == pytest.approx(
        skm.mean_absolute_error(y, pred)
    )
    assert info.metrics["training_r2_score"] == pytest.approx(skm.r2_score(y, pred))
    assert info.params["fit_intercept"] in (True, "True")
    mv = mp.get_model_version("models:/reg/1")
    assert mv.run_id == info.id
    np.testing.assert_allclose(mp.load_model("models:/reg/1").predict(X), pred)


def test_user_exceptions_propagate_and_fail_the_own_run(sqlite_ws: Workspace) -> None:
    mp.autolog(experiment="failing")
    try:
        with pytest.raises(ValueError):
            LogisticRegression().fit([[1.0], [2.0]], [0, 0])  # one class: sklearn refuses
    finally:
        mp.autolog(disable=True)
    (info,) = mp.list_runs("failing")
    assert info.status == "FAILED"


def test_disable_restores_the_classes(sqlite_ws: Workspace, data: Any) -> None:
    X, y = data
    original = LogisticRegression.fit
    mp.autolog()
    assert LogisticRegression.fit is not original
    mp.autolog(disable=True)
    assert LogisticRegression.fit is original
    with mp.start_run("off") as run:
        LogisticRegression().fit(X, y)
    info = mp.get_run(run.id)
    assert info.params == {} and info.metrics == {} and run.list_artifacts() == []


def test_options(sqlite_ws: Workspace, data: Any) -> None:
    X, y = data
    mp.autolog(log_models=False)
    try:
        with mp.start_run("opts") as run:
            LogisticRegression().fit(X, y)
    finally:
        mp.autolog(disable=True)
    assert run.list_artifacts() == []
    assert "training_score" in mp.get_run(run.id).metrics
    with pytest.raises(mp.InvalidInputError) as exc:
        mp.autolog(max_tuning_runs=-1)
    assert exc.value.field == "max_tuning_runs"
