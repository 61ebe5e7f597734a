"""Inference graphs: each step type, python steps, ensembles on real scikit-learn models checked
against hand-computed numpy results, threshold, label map, postprocessing and errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from modelplane.endpoints.config import parse_config
from modelplane.errors import (
    InvalidInputError,
    ModelplaneError,
    SchemaValidationError,
    StepError,
    UnsafeInputError,
)
from modelplane.inference.graph import Graph, map_labels, model_input
from modelplane.inference.inputs import InputSpec
from modelplane.inference.prediction import Prediction

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCS = "tests.inference.graph_funcs"
STEP_MODULES = (FUNCS, "tests.serving")
"""What an admin would list in MODELPLANE_STEP_MODULES for these graphs."""
A, B, C = "models:/a/1", "models:/b/1", "models:/c/1"


@pytest.fixture(autouse=True)
def _importable_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tests`` is a namespace package only when the repository root is on sys.path (it is
    not under the ``pytest`` console script), so python steps can name ``tests.serving...``."""
    monkeypatch.syspath_prepend(str(REPO_ROOT))


def make_graph(**graph: Any) -> Graph:
    graph.setdefault("models", [{"uri": A}])
    return Graph.from_config(parse_config({"graph": graph}), step_modules=STEP_MODULES)


def pre(*steps: dict[str, Any]) -> Graph:
    return make_graph(preprocess=list(steps))


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, -5.0, np.nan, 10.0],
            "b": [0.5, 2.0, 3.0, np.nan],
            "c": ["x", None, "z", "w"],
        }
    )


# -- structure ------------------------------------------------------------------------------------


def test_plain_model_endpoint_is_a_one_model_graph() -> None:
    cfg = parse_config({"model": "models:/churn@champion", "fallback": {"model": B}})
    g = Graph.from_config(cfg)
    assert g.model_uris == ["models:/churn@champion"]  # the fallback is not part of the graph
    assert g.weights == [1.0]
    assert g.ensemble == "none"
    assert not g.has_preprocess and not g.has_postprocess
    X = frame()
    out = g.preprocess(X)
    assert isinstance(out, pd.DataFrame) and out is not X
    pd.testing.assert_frame_equal(out, X)
    p = Prediction(np.array([1, 0]), np.array([[0.2, 0.8], [0.9, 0.1]]))
    assert g.combine([p], [[0, 1]]) is p
    assert g.postprocess(p, [0, 1]) is p
    assert g.output_classes([[0, 1]]) == [0, 1]


def test_model_uris_and_weights_in_order() -> None:
    g = make_graph(
        models=[{"uri": B, "weight": 2}, {"uri": A}, {"uri": C, "weight": 0.5}],
        ensemble="weighted",
    )
    assert g.model_uris == [B, A, C]
    assert g.weights == [2.0, 1.0, 0.5]


def test_array_input_needs_column_names_and_is_not_modified() -> None:
    g = pre({"type": "clip", "lower": 0, "upper": 1})
    arr = np.array([[-1.0, 0.5], [2.0, 0.25]])
    out = g.preprocess(arr, ["a", "b"])
    assert list(out.columns) == ["a", "b"]
    np.testing.assert_array_equal(out.to_numpy(), [[0.0, 0.5], [1.0, 0.25]])
    np.testing.assert_array_equal(arr, [[-1.0, 0.5], [2.0, 0.25]])  # the caller's array
    with pytest.raises(InvalidInputError, match="column name"):
        g.preprocess(arr)
    with pytest.raises(InvalidInputError, match="column name"):
        g.preprocess(arr, ["a"])
    with pytest.raises(InvalidInputError, match="2-D"):
        g.preprocess(np.zeros(3), ["a"])
    with pytest.raises(InvalidInputError, match="do not match"):
        g.preprocess(pd.DataFrame(arr, columns=["a", "b"]), ["b", "a"])


# -- preprocessing steps --------------------------------------------------------------------------


def test_select_keeps_and_reorders_columns() -> None:
    out = pre({"type": "select", "columns": ["b", "a"]}).preprocess(frame())
    assert list(out.columns) == ["b", "a"]
    np.testing.assert_array_equal(out["a"].to_numpy(), frame()["a"].to_numpy())
    with pytest.raises(SchemaValidationError, match="no column 'zz'") as err:
        pre({"type": "select", "columns": ["a", "zz"]}).preprocess(frame())
    assert err.value.field == "zz"
    assert "graph.preprocess[0]" in err.value.message


def test_rename() -> None:
    out = pre({"type": "rename", "mapping": {"a": "alpha", "c": "gamma"}}).preprocess(frame())
    assert list(out.columns) == ["alpha", "b", "gamma"]
    with pytest.raises(SchemaValidationError) as err:
        pre({"type": "rename", "mapping": {"nope": "x"}}).preprocess(frame())
    assert err.value.field == "nope"
    with pytest.raises(SchemaValidationError, match="twice"):
        pre({"type": "rename", "mapping": {"a": "b"}}).preprocess(frame())
    with pytest.raises(InvalidInputError, match="same name"):
        pre({"type": "rename", "mapping": {"a": "x", "b": "x"}})


def test_fillna_all_some_and_per_column() -> None:
    out = pre({"type": "fillna", "value": 0}).preprocess(frame()[["a", "b"]])
    np.testing.assert_array_equal(out.to_numpy(), [[1, 0.5], [-5, 2], [0, 3], [10, 0]])

    out = pre({"type": "fillna", "value": -1, "columns": ["a"]}).preprocess(frame())
    assert out["a"].tolist() == [1.0, -5.0, -1.0, 10.0]
    assert np.isnan(out["b"].iloc[3])  # b untouched
    assert out["c"].isna().iloc[1]

    out = pre({"type": "fillna", "value": {"b": 9, "c": "?"}}).preprocess(frame())
    assert out["b"].tolist() == [0.5, 2.0, 3.0, 9.0]
    assert out["c"].tolist() == ["x", "?", "z", "w"]
    assert np.isnan(out["a"].iloc[2])

    with pytest.raises(SchemaValidationError) as err:
        pre({"type": "fillna", "value": 0, "columns": ["q"]}).preprocess(frame())
    assert err.value.field == "q"
    with pytest.raises(InvalidInputError, match="needs 'value'"):
        pre({"type": "fillna"})


def test_clip() -> None:
    out = pre({"type": "clip", "lower": 0, "upper": 2, "columns": ["a"]}).preprocess(frame())
    np.testing.assert_array_equal(out["a"].to_numpy(), [1.0, 0.0, np.nan, 2.0])
    np.testing.assert_array_equal(out["b"].to_numpy(), frame()["b"].to_numpy())

    out = pre({"type": "clip", "upper": 1}).preprocess(frame())  # every numeric column
    np.testing.assert_array_equal(out["a"].to_numpy(), [1.0, -5.0, np.nan, 1.0])
    np.testing.assert_array_equal(out["b"].to_numpy(), [0.5, 1.0, 1.0, np.nan])
    assert out["c"].tolist()[0] == "x"

    with pytest.raises(SchemaValidationError, match="must hold numbers") as err:
        pre({"type": "clip", "lower": 0, "columns": ["c"]}).preprocess(frame())
    assert err.value.field == "c"
    with pytest.raises(InvalidInputError, match="'lower' or 'upper'"):
        pre({"type": "clip"})
    with pytest.raises(InvalidInputError, match="above upper"):
        pre({"type": "clip", "lower": 3, "upper": 1})


def test_scale() -> None:
    g = pre({"type": "scale", "mean": {"a": 1.0, "b": 2.0}, "std": {"a": 2.0, "b": 0.5}})
    out = g.preprocess(frame())
    f = frame()
    np.testing.assert_allclose(out["a"].to_numpy(), (f["a"].to_numpy() - 1.0) / 2.0)
    np.testing.assert_allclose(out["b"].to_numpy(), (f["b"].to_numpy() - 2.0) / 0.5)
    assert out["c"].tolist()[0] == "x"

    only_a = pre(
        {"type": "scale", "columns": ["a"], "mean": {"a": 1.0, "b": 2.0}, "std": {"a": 2, "b": 1}}
    ).preprocess(frame())
    np.testing.assert_array_equal(only_a["b"].to_numpy(), f["b"].to_numpy())

    with pytest.raises(InvalidInputError, match="std of 'b'") as err:
        pre({"type": "scale", "mean": {"a": 0, "b": 0}, "std": {"a": 1, "b": 0}})
    assert err.value.field == "graph.preprocess[0].std.b"
    with pytest.raises(InvalidInputError, match="no std"):
        pre({"type": "scale", "mean": {"a": 0, "b": 0}, "std": {"a": 1}})
    with pytest.raises(SchemaValidationError, match="must hold numbers"):
        pre({"type": "scale", "mean": {"c": 0}, "std": {"c": 1}}).preprocess(frame())


def test_steps_run_in_order() -> None:
    g = pre(
        {"type": "rename", "mapping": {"a": "x"}},
        {"type": "fillna", "value": 0, "columns": ["x"]},
        {"type": "scale", "mean": {"x": 1.0}, "std": {"x": 2.0}},
        {"type": "clip", "lower": -1.0, "columns": ["x"]},
        {"type": "select", "columns": ["x", "b"]},
    )
    out = g.preprocess(frame())
    assert list(out.columns) == ["x", "b"]
    # a = [1, -5, nan, 10] → fill 0 → (v-1)/2 = [0, -3, -0.5, 4.5] → clip at -1
    np.testing.assert_allclose(out["x"].to_numpy(), [0.0, -1.0, -0.5, 4.5])


# -- python steps ---------------------------------------------------------------------------------


def test_python_step_runs_the_function_without_touching_the_input() -> None:
    g = pre({"type": "python", "function": f"{FUNCS}:double"})
    X = frame()
    out = g.preprocess(X)
    np.testing.assert_array_equal(out["a"].to_numpy(), [2.0, -10.0, np.nan, 20.0])
    pd.testing.assert_frame_equal(X, frame())  # the function mutated only the graph's copy

    arr = np.array([[1.0, 2.0]])
    out = pre(
        {"type": "python", "function": f"{FUNCS}:add_total"},
        {"type": "select", "columns": ["total"]},
    ).preprocess(arr, ["a", "b"])
    assert out["total"].tolist() == [3.0]
    np.testing.assert_array_equal(arr, [[1.0, 2.0]])


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("tests.serving.no_such_module:f", "cannot import module 'tests.serving.no_such_module'"),
        (f"{FUNCS}:no_such_function", "has no attribute 'no_such_function'"),
        (f"{FUNCS}:NOT_CALLABLE", "not a callable"),
    ],
)
def test_python_step_that_cannot_be_loaded_fails_at_compile_time(
    function: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as err:
        pre({"type": "select", "columns": ["a"]}, {"type": "python", "function": function})
    assert err.value.field == "graph.preprocess[1].function"
    assert "graph.preprocess[1]" in err.value.message
    with pytest.raises(InvalidInputError, match=message) as err:
        make_graph(postprocess=[{"type": "python", "function": function}])
    assert err.value.field == "graph.postprocess[0].function"


def test_python_steps_name_functions_of_allowed_modules_only() -> None:
    # Python steps run with request data: only functions of the modules an admin allowed.
    with pytest.raises(UnsafeInputError, match="module 'os' is not allowed") as err:
        pre({"type": "python", "function": "os:system"})
    assert err.value.field == "graph.preprocess[0].function" and err.value.http_status == 422
    step = {"type": "python", "function": f"{FUNCS}:double"}
    config = parse_config({"graph": {"models": [{"uri": A}], "preprocess": [step]}})
    with pytest.raises(UnsafeInputError, match=r"allowed: none"):  # nothing allowed by default
        Graph.from_config(config)
    bad = {"type": "python", "function": "os.system"}
    with pytest.raises(InvalidInputError, match=r"package\.module:function"):
        parse_config({"graph": {"models": [{"uri": A}], "preprocess": [bad]}})


def test_python_step_failures_become_step_errors() -> None:
    g = pre({"type": "select", "columns": ["a"]}, {"type": "python", "function": f"{FUNCS}:boom"})
    with pytest.raises(StepError, match="boom at row 3") as err:
        g.preprocess(frame())
    assert err.value.http_status == 500
    assert err.value.code == "step_failed"
    assert isinstance(err.value, ModelplaneError)
    assert "graph.preprocess[1] (python tests.inference.graph_funcs:boom)" in err.value.message
    assert err.value.field == "graph.preprocess[1]"

    g = pre({"type": "python", "function": f"{FUNCS}:not_a_frame"})
    with pytest.raises(StepError, match="returned int, not a DataFrame"):
        g.preprocess(frame())


def test_postprocess_accepts_only_python_steps() -> None:
    with pytest.raises(InvalidInputError, match="only python steps") as err:
        make_graph(postprocess=[{"type": "clip", "lower": 0}])
    assert err.value.field == "graph.postprocess[0].type"


# -- ensembles on real models ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def binary() -> dict[str, Any]:
    X, y = make_classification(n_samples=600, n_features=6, n_informative=4, random_state=0)
    models = {
        "lr": LogisticRegression(max_iter=500).fit(X, y),
        "dt": DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y),
        "nb": GaussianNB().fit(X, y),
    }
    preds = {k: Prediction(m.predict(X), m.predict_proba(X)) for k, m in models.items()}
    classes = {k: list(m.classes_) for k, m in models.items()}
    return {"X": X, "models": models, "preds": preds, "classes": classes}


def test_mean_of_two_classifiers(binary: dict[str, Any]) -> None:
    p, cls = binary["preds"], binary["classes"]
    g = make_graph(models=[{"uri": A}, {"uri": B}], ensemble="mean")
    out = g.combine([p["lr"], p["dt"]], [cls["lr"], cls["dt"]])
    expected = (p["lr"].probabilities + p["dt"].probabilities) / 2
    np.testing.assert_allclose(out.probabilities, expected)
    np.testing.assert_array_equal(out.outputs, np.array([0, 1])[expected.argmax(axis=1)])
    assert g.output_classes([cls["lr"], cls["dt"]]) == [0, 1]


def test_weighted_mean(binary: dict[str, Any]) -> None:
    p, cls = binary["preds"], binary["classes"]
    g = make_graph(models=[{"uri": A, "weight": 3}, {"uri": B, "weight": 1}], ensemble="weighted")
    out = g.combine([p["lr"], p["dt"]], [cls["lr"], cls["dt"]])
    expected = (3 * p["lr"].probabilities + 1 * p["dt"].probabilities) / 4
    np.testing.assert_allclose(out.probabilities, expected)
    np.testing.assert_array_equal(out.outputs, expected.argmax(axis=1))
    # weights are ignored by "mean"
    g_mean = make_graph(models=[{"uri": A, "weight": 3}, {"uri": B}], ensemble="mean")
    np.testing.assert_allclose(
        g_mean.combine([p["lr"], p["dt"]], [cls["lr"], cls["dt"]]).probabilities,
        (p["lr"].probabilities + p["dt"].probabilities) / 2,
    )


def test_vote_two_models_tie_goes_to_the_first_model(binary: dict[str, Any]) -> None:
    p, cls = binary["preds"], binary["classes"]
    lr, dt = p["lr"].outputs, p["dt"].outputs
    disagree = lr != dt
    assert 0 < disagree.sum() < len(lr)  # the test needs both cases

    g = make_graph(models=[{"uri": A}, {"uri": B}], ensemble="vote")
    out = g.combine([p["lr"], p["dt"]], [cls["lr"], cls["dt"]])
    np.testing.assert_array_equal(out.outputs, lr)  # agreements, and ties → first model (lr)
    expected = np.zeros((len(lr), 2))
    expected[np.arange(len(lr)), lr] += 0.5
    expected[np.arange(len(dt)), dt] += 0.5
    np.testing.assert_allclose(out.probabilities, expected)
    np.testing.assert_allclose(out.probabilities[disagree], 0.5)

    swapped = g.combine([p["dt"], p["lr"]], [cls["dt"], cls["lr"]])
    np.testing.assert_array_equal(swapped.outputs, dt)


def test_vote_majority_of_three_and_weighted_votes(binary: dict[str, Any]) -> None:
    p, cls = binary["preds"], binary["classes"]
    labels = np.stack([p["lr"].outputs, p["dt"].outputs, p["nb"].outputs])
    ones = labels.sum(axis=0)
    majority = (ones >= 2).astype(int)
    g = make_graph(models=[{"uri": A}, {"uri": B}, {"uri": C}], ensemble="vote")
    order = [p["lr"], p["dt"], p["nb"]]
    out = g.combine(order, [cls["lr"], cls["dt"], cls["nb"]])
    np.testing.assert_array_equal(out.outputs, majority)
    np.testing.assert_allclose(out.probabilities[:, 1], ones / 3)
    np.testing.assert_allclose(out.probabilities.sum(axis=1), 1.0)

    # votes carry the models' weights: 3 outweighs 1 + 1
    heavy = make_graph(
        models=[{"uri": A}, {"uri": B, "weight": 3}, {"uri": C}], ensemble="vote"
    ).combine(order, [cls["lr"], cls["dt"], cls["nb"]])
    np.testing.assert_array_equal(heavy.outputs, p["dt"].outputs)
    np.testing.assert_allclose(heavy.probabilities[:, 1], (labels * [[1], [3], [1]]).sum(0) / 5)


def test_vote_with_string_labels() -> None:
    a = Prediction(np.array(["cat", "dog", "cat", "bird"], dtype=object))
    b = Prediction(np.array(["dog", "dog", "bird", "bird"], dtype=object))
    g = make_graph(models=[{"uri": A}, {"uri": B}], ensemble="vote")
    out = g.combine([a, b], [["bird", "cat", "dog"], ["bird", "cat", "dog"]])
    assert out.outputs.tolist() == ["cat", "dog", "cat", "bird"]
    assert out.outputs.dtype == object
    np.testing.assert_allclose(out.probabilities[0], [0, 0.5, 0.5])
    with pytest.raises(ModelplaneError, match="not one of its classes"):
        g.combine([a, b], [["cat", "dog"], ["bird", "cat", "dog"]])


def test_multiclass_mean_aligns_class_order() -> None:
    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=1
    )
    names = np.array(["a", "b", "c"], dtype=object)[y]
    lr = LogisticRegression(max_iter=500).fit(X, names)
    dt = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, names)
    p1 = Prediction(lr.predict(X), lr.predict_proba(X))
    p2_proba = dt.predict_proba(X)
    # the second model lists its classes in another order (and its columns accordingly)
    p2 = Prediction(dt.predict(X), p2_proba[:, [2, 0, 1]])
    g = make_graph(models=[{"uri": A}, {"uri": B}], ensemble="mean")
    out = g.combine([p1, p2], [["a", "b", "c"], ["c", "a", "b"]])
    expected = (p1.probabilities + p2_proba) / 2
    np.testing.assert_allclose(out.probabilities, expected)
    assert out.outputs.tolist() == list(np.array(["a", "b", "c"])[expected.argmax(axis=1)])


def test_mismatched_classes_and_kinds_are_rejected(binary: dict[str, Any]) -> None:
    p = binary["preds"]
    g = make_graph(models=[{"uri": A}, {"uri": B}], ensemble="mean")
    with pytest.raises(InvalidInputError, match="same classes") as err:
        g.combine([p["lr"], p["dt"]], [[0, 1], [0, 2]])
    assert err.value.field == "graph.models[1]"
    with pytest.raises(InvalidInputError, match="same classes"):
        g.output_classes([[0, 1], [0, 1, 2]])
    with pytest.raises(InvalidInputError, match="mixes classifiers and regressors"):
        g.combine([p["lr"], Prediction(np.zeros(600))], [[0, 1], None])
    with pytest.raises(InvalidInputError, match="gives no probabilities"):
        g.combine([p["lr"], Prediction(p["dt"].outputs)], [[0, 1], [0, 1]])
    with pytest.raises(InvalidInputError, match="vote needs classifiers"):
        make_graph(models=[{"uri": A}, {"uri": B}], ensemble="vote").combine(
            [Prediction(np.zeros(3)), Prediction(np.ones(3))], [None, None]
        )
    with pytest.raises(InvalidInputError, match="2 model"):
        g.combine([p["lr"]], [[0, 1]])
    with pytest.raises(ModelplaneError, match="answered 3 rows"):
        g.combine([p["lr"], Prediction(np.zeros(3), np.zeros((3, 2)))], [[0, 1], [0, 1]])


def test_regression_mean_and_weighted() -> None:
    X, y = make_regression(n_samples=200, n_features=4, noise=5.0, random_state=0)
    lin = LinearRegression().fit(X, y)
    tree = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, y)
    a, b = Prediction(lin.predict(X)), Prediction(tree.predict(X))
    out = make_graph(models=[{"uri": A}, {"uri": B}], ensemble="mean").combine([a, b], [None, None])
    np.testing.assert_allclose(out.outputs, (lin.predict(X) + tree.predict(X)) / 2)
    assert out.probabilities is None
    w = make_graph(
        models=[{"uri": A, "weight": 1}, {"uri": B, "weight": 4}], ensemble="weighted"
    ).combine([a, b], [None, None])
    np.testing.assert_allclose(w.outputs, (lin.predict(X) + 4 * tree.predict(X)) / 5)


# -- threshold, label map, postprocess ------------------------------------------------------------


def test_threshold_on_binary_classifier(binary: dict[str, Any]) -> None:
    p = binary["preds"]["lr"]
    g = make_graph(threshold=0.8)
    out = g.postprocess(p, [0, 1])
    np.testing.assert_array_equal(out.outputs, (p.probabilities[:, 1] >= 0.8).astype(int))
    assert out.probabilities is p.probabilities
    assert (out.outputs != p.outputs).any()  # 0.8 is not the default cut-off

    two = Prediction(np.array(["no", "no"], dtype=object), np.array([[0.1, 0.9], [0.3, 0.7]]))
    strings = g.postprocess(two, ["no", "yes"])
    assert strings.outputs.tolist() == ["yes", "no"]
    edge = g.postprocess(Prediction(np.array([0]), np.array([[0.2, 0.8]])), [0, 1])
    assert edge.outputs.tolist() == [1]  # P >= threshold


def test_threshold_needs_a_binary_classifier() -> None:
    g = make_graph(threshold=0.5)
    three = Prediction(np.array([0]), np.array([[0.2, 0.3, 0.5]]))
    with pytest.raises(InvalidInputError, match=r"binary classifier; .* 3 classes") as err:
        g.postprocess(three, [0, 1, 2])
    assert err.value.field == "graph.threshold"
    with pytest.raises(InvalidInputError, match="a regressor"):
        g.postprocess(Prediction(np.array([1.5])), None)
    with pytest.raises(InvalidInputError, match="needs probabilities"):
        g.postprocess(Prediction(np.array([1])), [0, 1])


def test_label_map_and_threshold_together(binary: dict[str, Any]) -> None:
    p = binary["preds"]["lr"]
    g = make_graph(threshold=0.3, label_map={"0": "stay", "1": "churn"})
    out = g.postprocess(p, [0, 1])
    expected = np.where(p.probabilities[:, 1] >= 0.3, "churn", "stay")
    assert out.outputs.tolist() == expected.tolist()
    assert out.outputs.dtype == object
    assert g.output_labels([[0, 1]]) == ["stay", "churn"]

    partial = make_graph(label_map={"1": "churn"}).postprocess(
        Prediction(np.array([0, 1, 1, 0])), [0, 1]
    )
    assert partial.outputs.tolist() == [0, "churn", "churn", 0]  # unmapped labels pass through
    assert map_labels(np.array([1.5, 2.5]), {"9": "x"}).tolist() == [1.5, 2.5]
    assert map_labels(np.array([True, False]), {"True": 1, "False": 0}).tolist() == [1, 0]


def test_python_postprocess_steps(binary: dict[str, Any]) -> None:
    p = binary["preds"]["lr"]
    g = make_graph(
        label_map={"0": "stay", "1": "churn"},
        postprocess=[{"type": "python", "function": f"{FUNCS}:shout"}],
    )
    out = g.postprocess(p, [0, 1])
    assert set(out.outputs.tolist()) == {"STAY", "CHURN"}
    np.testing.assert_allclose(out.probabilities, p.probabilities)

    bad = make_graph(postprocess=[{"type": "python", "function": f"{FUNCS}:drop_one"}])
    with pytest.raises(StepError, match=r"graph.postprocess\[0\].*599 values for 600 rows"):
        bad.postprocess(p, [0, 1])


# -- model inputs and run_sync -------------------------------------------------------------------


def test_model_input() -> None:
    spec = InputSpec(("b", "a"), ("float64", "int64"), "dataframe", 2)
    X = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]})
    arr = model_input(X, spec)
    assert arr.dtype == np.float64
    np.testing.assert_array_equal(arr, [[0.5, 1.0], [1.5, 2.0]])
    with pytest.raises(SchemaValidationError) as err:
        model_input(X[["a"]], spec)
    assert err.value.field == "b"
    with pytest.raises(SchemaValidationError, match="row 12, column 'b'"):
        model_input(pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]}), spec, row_offset=10)
    with pytest.raises(SchemaValidationError, match="must hold numbers"):
        model_input(pd.DataFrame({"a": [1, 2], "b": ["p", "q"]}), spec)
    mixed = InputSpec(("c", "a"), ("object", "int64"), "dataframe", 2)
    out = model_input(X, mixed)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["c", "a"]


def test_run_sync_end_to_end(binary: dict[str, Any]) -> None:
    X, models = binary["X"], binary["models"]
    cols = [f"f{i}" for i in range(X.shape[1])]
    spec = InputSpec(tuple(cols), ("float64",) * len(cols), "tensor", len(cols))
    g = make_graph(
        preprocess=[{"type": "clip", "lower": -2.0, "upper": 2.0}],
        models=[{"uri": A}, {"uri": B}],
        ensemble="mean",
        threshold=0.6,
        label_map={"1": "yes", "0": "no"},
    )
    runtimes = {A: models["lr"], B: models["dt"]}
    calls: list[str] = []

    def predict(uri: str, Xm: Any) -> Prediction:
        calls.append(uri)
        m = runtimes[uri]
        assert isinstance(Xm, np.ndarray) and Xm.dtype == np.float64  # the model's own input
        return Prediction(m.predict(Xm), m.predict_proba(Xm))

    out = g.run_sync(X, cols, predict, {A: spec, B: spec}, classes={A: [0, 1], B: [0, 1]})
    assert calls == [A, B]
    Xc = np.clip(X, -2, 2)
    proba = (models["lr"].predict_proba(Xc) + models["dt"].predict_proba(Xc)) / 2
    np.testing.assert_allclose(out.probabilities, proba)
    assert out.outputs.tolist() == np.where(proba[:, 1] >= 0.6, "yes", "no").tolist()


def test_combine_is_vectorised(binary: dict[str, Any]) -> None:
    n = 200_000
    rng = np.random.default_rng(0)
    preds = []
    for _ in range(3):
        proba = rng.random((n, 2))
        proba /= proba.sum(axis=1, keepdims=True)
        preds.append(Prediction(proba.argmax(axis=1), proba))
    classes = [[0, 1]] * 3
    uris = [{"uri": A}, {"uri": B}, {"uri": C}]
    start = time.perf_counter()
    for ensemble in ("mean", "weighted", "vote"):
        out = make_graph(models=uris, ensemble=ensemble).combine(preds, classes)
        assert len(out.outputs) == n
    labelled = make_graph(label_map={"0": "a", "1": "b"}).postprocess(preds[0], [0, 1])
    assert len(labelled.outputs) == n
    assert time.perf_counter() - start < 3.0
