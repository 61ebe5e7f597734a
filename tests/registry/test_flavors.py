"""Round trips through every model flavor, flavor detection, and the lazy-import promise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelplane.errors import FlavorError, InvalidInputError, SchemaValidationError
from modelplane.registry.flavors import FLAVOR_NAMES, flavor_for, get_flavor
from modelplane.registry.flavors.base import MODEL_FILE_NAMES


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def multi() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=200, n_features=5, n_informative=3, n_classes=3, random_state=0
    )
    return X, y


@pytest.fixture(scope="module")
def reg() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_regression(n_samples=200, n_features=5, random_state=0)
    return X, y


def roundtrip(obj: object, tmp_path: Path, expected: str) -> tuple[Any, dict[str, Any]]:
    flavor = flavor_for(obj)
    assert flavor.name == expected
    target = tmp_path / "model"
    target.mkdir()
    info = flavor.save(obj, target)
    info = json.loads(json.dumps(info))  # flavor_info must survive JSON
    assert {"files", "library_version", "model_class"} <= set(info)
    assert set(info["files"]) <= MODEL_FILE_NAMES
    assert sorted(p.name for p in target.iterdir()) == sorted(info["files"])
    return get_flavor(expected).load(target, info), info


def same(a: Any, b: Any) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


# --- scikit-learn -------------------------------------------------------------------------


def test_sklearn_classifier_roundtrip(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    clf = LogisticRegression().fit(X, y)
    loaded, info = roundtrip(clf, tmp_path, "sklearn")
    assert info["files"] == ["model.joblib"]
    assert info["model_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    same(loaded.predict(X), clf.predict(X))
    same(loaded.predict_proba(X), clf.predict_proba(X))


def test_sklearn_string_labels(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    labels = np.array(["no", "yes"])[y]
    clf = LogisticRegression().fit(X, labels)
    loaded, _ = roundtrip(clf, tmp_path, "sklearn")
    same(loaded.predict(X), clf.predict(X))
    assert set(loaded.predict(X)) == {"no", "yes"}


def test_sklearn_pipeline_with_dataframe(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    df = pd.DataFrame(X, columns=["a", "b", "c", "d", "e"])
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(df, y)
    loaded, _ = roundtrip(pipe, tmp_path, "sklearn")
    same(loaded.predict(df), pipe.predict(df))
    same(loaded.predict_proba(df), pipe.predict_proba(df))


def test_sklearn_regressor(tmp_path: Path, reg: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = reg
    model = Ridge().fit(X, y)
    loaded, _ = roundtrip(model, tmp_path, "sklearn")
    same(loaded.predict(X), model.predict(X))
    assert not hasattr(loaded, "predict_proba")


# --- xgboost ------------------------------------------------------------------------------


def test_xgboost_classifier_returns_labels(
    tmp_path: Path, multi: tuple[np.ndarray, np.ndarray]
) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = multi
    clf = xgb.XGBClassifier(n_estimators=5, n_jobs=1).fit(X, y)
    loaded, info = roundtrip(clf, tmp_path, "xgboost")
    assert info["files"] == ["model.json"] and info["xgboost_class"] == "XGBClassifier"
    assert isinstance(loaded, xgb.XGBClassifier)
    same(loaded.predict(X), clf.predict(X))
    assert set(np.unique(loaded.predict(X))) <= {0, 1, 2}
    same(loaded.predict_proba(X), clf.predict_proba(X))


def test_xgboost_regressor_and_booster(tmp_path: Path, reg: tuple[np.ndarray, np.ndarray]) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = reg
    model = xgb.XGBRegressor(n_estimators=5, n_jobs=1).fit(X, y)
    (tmp_path / "r").mkdir()
    loaded, _ = roundtrip(model, tmp_path / "r", "xgboost")
    same(loaded.predict(X), model.predict(X))
    booster = model.get_booster()
    (tmp_path / "b").mkdir()
    loaded_booster, info = roundtrip(booster, tmp_path / "b", "xgboost")
    assert info["xgboost_class"] == "Booster"
    dmatrix = xgb.DMatrix(X)
    same(loaded_booster.predict(dmatrix), booster.predict(dmatrix))


# --- lightgbm -----------------------------------------------------------------------------


@pytest.mark.parametrize("labels", [None, ["cat", "dog"], ["x", "y", "z"]])
def test_lightgbm_classifier_labels(
    tmp_path: Path,
    data: tuple[np.ndarray, np.ndarray],
    multi: tuple[np.ndarray, np.ndarray],
    labels: list[str] | None,
) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = multi if labels is not None and len(labels) == 3 else data
    target = y if labels is None else np.array(labels)[y]
    clf = lgb.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(X, target)
    loaded, info = roundtrip(clf, tmp_path, "lightgbm")
    assert info["files"] == ["model.txt"] and info["kind"] == "classifier"
    same(loaded.predict(X), clf.predict(X))
    same(loaded.predict_proba(X), clf.predict_proba(X))
    same(loaded.classes_, clf.classes_)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_lightgbm_regressor_dataframe_booster_and_resave(
    tmp_path: Path, reg: tuple[np.ndarray, np.ndarray]
) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = reg
    df = pd.DataFrame(X, columns=[f"c{k}" for k in range(5)])
    model = lgb.LGBMRegressor(n_estimators=5, verbose=-1, n_jobs=1).fit(df, y)
    (tmp_path / "a").mkdir()
    loaded, _ = roundtrip(model, tmp_path / "a", "lightgbm")
    same(loaded.predict(df), model.predict(df))
    same(loaded.predict(X), model.predict(X))
    assert not hasattr(loaded, "predict_proba")
    (tmp_path / "b").mkdir()
    again, _ = roundtrip(loaded, tmp_path / "b", "lightgbm")  # the rebuilt wrapper re-saves
    same(again.predict(df), model.predict(df))
    (tmp_path / "c").mkdir()
    booster, info = roundtrip(model.booster_, tmp_path / "c", "lightgbm")
    assert info["kind"] == "booster" and isinstance(booster, lgb.Booster)
    same(booster.predict(X), model.booster_.predict(X))
    with pytest.raises(InvalidInputError):
        loaded.predict("/etc/passwd")


# --- onnx ---------------------------------------------------------------------------------


@pytest.mark.parametrize("zipmap", [False, True])
@pytest.mark.parametrize("string_labels", [False, True])
def test_onnx_classifier(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], zipmap: bool, string_labels: bool
) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    X, y = data
    target = np.array(["neg", "pos"])[y] if string_labels else y
    clf = LogisticRegression().fit(X, target)
    options = None if zipmap else {id(clf): {"zipmap": False}}
    proto = skl2onnx.to_onnx(clf, X[:1].astype(np.float32), options=options)
    loaded, info = roundtrip(proto, tmp_path, "onnx")
    assert info["files"] == ["model.onnx"]
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    proba = loaded.predict_proba(X)
    assert proba.shape == (200, 2)
    np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-5)
    assert list(loaded.classes_) == list(clf.classes_)
    frame = pd.DataFrame(X, columns=list("abcde"))  # one graph input: columns are stacked
    np.testing.assert_array_equal(loaded.predict(frame), clf.predict(X))
    (tmp_path / "again").mkdir()
    again, _ = roundtrip(loaded, tmp_path / "again", "onnx")  # the wrapper re-saves
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))


def test_onnx_regressor_flattens(tmp_path: Path, reg: tuple[np.ndarray, np.ndarray]) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    X, y = reg
    model = LinearRegression().fit(X, y)
    loaded, _ = roundtrip(skl2onnx.to_onnx(model, X[:1]), tmp_path, "onnx")
    prediction = loaded.predict(X)
    assert prediction.shape == (200,) and prediction.dtype == np.float64
    np.testing.assert_allclose(prediction, model.predict(X), rtol=1e-9)
    assert not hasattr(loaded, "predict_proba")
    with pytest.raises(InvalidInputError):
        loaded.predict(np.zeros((2, 3)))


def test_onnx_one_input_per_column(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["total"])],
        "add",
        [
            helper.make_tensor_value_info("a", TensorProto.DOUBLE, [None, 1]),
            helper.make_tensor_value_info("b", TensorProto.DOUBLE, [None, 1]),
        ],
        [helper.make_tensor_value_info("total", TensorProto.DOUBLE, [None, 1])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    loaded, _ = roundtrip(proto, tmp_path, "onnx")
    frame = pd.DataFrame({"b": [10.0, 20.0], "a": [1, 2], "extra": ["x", "y"]})
    np.testing.assert_array_equal(loaded.predict(frame), [11.0, 22.0])
    with pytest.raises(SchemaValidationError) as err:
        loaded.predict(pd.DataFrame({"a": [1.0]}))
    assert err.value.field == "b"


# --- pyfunc -------------------------------------------------------------------------------


class Doubler:
    """A custom model defined in the test module."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def predict(self, X: Any) -> Any:
        return np.asarray(X, dtype=float).sum(axis=1) * self.factor


class Voter(Doubler):
    def predict_proba(self, X: Any) -> np.ndarray:
        p = 1 / (1 + np.exp(-self.predict(X)))
        return np.column_stack([1 - p, p])


def test_pyfunc_roundtrip(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = data
    model = Voter(2.5)
    loaded, info = roundtrip(model, tmp_path, "pyfunc")
    assert info["files"] == ["model.pkl"] and info["has_predict_proba"] is True
    assert info["model_class"].endswith("Voter")
    same(loaded.predict(X), model.predict(X))
    same(loaded.predict_proba(X), model.predict_proba(X))
    (tmp_path / "plain").mkdir()
    plain, _ = roundtrip(Doubler(1.0), tmp_path / "plain", "pyfunc")
    assert not hasattr(plain, "predict_proba")


# --- detection and errors -----------------------------------------------------------------


@pytest.mark.parametrize("obj", [42, "file:///etc/passwd", None, b"\x00", Doubler, np.zeros(3)])
def test_flavor_for_rejects_unsupported(obj: object) -> None:
    with pytest.raises(FlavorError) as err:
        flavor_for(obj)
    assert type(obj).__name__ in err.value.message
    assert "predict()" in err.value.message


def test_flavor_for_order(data: tuple[np.ndarray, np.ndarray]) -> None:
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    X, y = data
    assert flavor_for(xgb.XGBClassifier(n_estimators=2).fit(X, y)).name == "xgboost"
    assert flavor_for(lgb.LGBMClassifier(n_estimators=2, verbose=-1).fit(X, y)).name == "lightgbm"
    assert flavor_for(Pipeline([("m", LogisticRegression())])).name == "sklearn"
    assert flavor_for(Doubler(1.0)).name == "pyfunc"
    assert FLAVOR_NAMES == ("onnx", "xgboost", "lightgbm", "sklearn", "pyfunc")


def test_get_flavor_unknown() -> None:
    with pytest.raises(FlavorError):
        get_flavor("tensorflow")
    with pytest.raises(FlavorError):
        get_flavor("os:system")


def test_save_needs_empty_dir_and_load_needs_file(tmp_path: Path) -> None:
    (tmp_path / "junk").write_text("x")
    with pytest.raises(FlavorError, match="not empty"):
        get_flavor("pyfunc").save(Doubler(1.0), tmp_path)
    with pytest.raises(FlavorError, match="not an existing directory"):
        get_flavor("pyfunc").save(Doubler(1.0), tmp_path / "missing")
    with pytest.raises(FlavorError, match=r"model\.joblib"):
        get_flavor("sklearn").load(tmp_path, {"files": ["model.joblib"]})
    with pytest.raises(FlavorError):
        get_flavor("sklearn").save(Doubler(1.0), tmp_path / "missing")


HEAVY = ("sklearn", "pandas", "xgboost", "lightgbm", "onnxruntime", "onnx", "joblib")


def test_import_is_lazy() -> None:
    code = (
        "import sys\n"
        "import modelplane.registry.flavors as f\n"
        "class M:\n"
        "    def predict(self, X):\n"
        "        return X\n"
        "assert f.flavor_for(M()).name == 'pyfunc'\n"
        "try:\n"
        "    f.flavor_for(42)\n"
        "except Exception:\n"
        "    pass\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == ""
