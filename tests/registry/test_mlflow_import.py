"""Import of hand-built MLflow 3.x model directories, including hostile ones.

mlflow itself is not installed: each directory is written the way ``mlflow.<flavor>.save_model``
writes it (``MLmodel`` via ``yaml.safe_dump``, the payload, conda/python_env/requirements files).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from modelplane.errors import FlavorError
from modelplane.registry.flavors import get_flavor
from modelplane.registry.mlflow_import import MlflowModelSpec, read_mlflow_model

COLUMNS = ["a", "b", "c", "d", "e"]
COLUMN_SIGNATURE = {
    "inputs": json.dumps([{"type": "double", "name": n, "required": True} for n in COLUMNS]),
    "outputs": json.dumps([{"type": "long", "required": True}]),
    "params": None,
}
TENSOR_SIGNATURE = {
    "inputs": json.dumps(
        [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 5]}}]
    ),
    "outputs": json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]),
    "params": None,
}
ENV = {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    return X, y


def model_of(spec: MlflowModelSpec) -> Any:
    return spec.model


def write_model(
    directory: Path,
    flavors: dict[str, Any],
    signature: dict[str, Any] | None = COLUMN_SIGNATURE,
    files: dict[str, bytes] | None = None,
) -> Path:
    """An MLflow 3.x model directory, laid out as ``Model.save`` writes it."""
    directory.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {
        "artifact_path": "model",
        "flavors": flavors,
        "is_signature_from_type_hint": False,
        "mlflow_version": "3.1.4",
        "model_size_bytes": 2048,
        "model_uuid": "0f6c1e9a4b8d4a52b1f3c2d4e5f60718",
        "prompts": None,
        "type_hint_from_example": False,
        "utc_time_created": "2025-06-01 12:00:00.000000",
    }
    if signature is not None:
        document["signature"] = signature
    (directory / "MLmodel").write_text(yaml.safe_dump(document, default_flow_style=False))
    (directory / "conda.yaml").write_text("name: mlflow-env\ndependencies: [python=3.11]\n")
    (directory / "python_env.yaml").write_text("python: 3.11.7\ndependencies: []\n")
    (directory / "requirements.txt").write_text("mlflow==3.1.4\nscikit-learn\n")
    for name, payload in (files or {}).items():
        (directory / name).write_bytes(payload)
    return directory


def sklearn_flavors(payload: str = "model.pkl", fmt: str = "cloudpickle") -> dict[str, Any]:
    return {
        "python_function": {
            "env": ENV,
            "loader_module": "mlflow.sklearn",
            "model_path": payload,
            "predict_fn": "predict",
            "python_version": "3.11.7",
        },
        "sklearn": {
            "code": None,
            "pickled_model": payload,
            "serialization_format": fmt,
            "sklearn_version": "1.9.1",
        },
    }


@pytest.mark.parametrize("fmt", ["cloudpickle", "pickle", "skops"])
def test_sklearn_formats(tmp_path: Path, data: tuple[np.ndarray, np.ndarray], fmt: str) -> None:
    X, y = data
    df = pd.DataFrame(X, columns=COLUMNS)
    pipe = Pipeline([("s", StandardScaler()), ("m", LogisticRegression())]).fit(df, y)
    if fmt == "skops":
        import skops.io

        payload, raw = "model.skops", skops.io.dumps(pipe)
    else:
        payload = "model.pkl"
        raw = cloudpickle.dumps(pipe) if fmt == "cloudpickle" else pickle.dumps(pipe)
    root = write_model(tmp_path / "m", sklearn_flavors(payload, fmt), files={payload: raw})
    spec = read_mlflow_model(root)
    assert spec.flavor == "sklearn" and spec.info["mlflow_flavor"] == "sklearn"
    assert spec.info["payload"] == payload and spec.info["mlflow_version"] == "3.1.4"
    np.testing.assert_array_equal(model_of(spec).predict(df), pipe.predict(df))
    sig = spec.signature
    assert sig is not None and sig.input_kind == "dataframe"
    assert sig.column_names == tuple(COLUMNS) and {c.dtype for c in sig.inputs} == {"float64"}
    assert sig.output_kind == "classification" and sig.classes == (0, 1)
    assert sig.output_dtype == "int64"
    json.dumps(spec.info)
    target = tmp_path / "ours"  # what the registry does next: save with our flavor
    target.mkdir()
    get_flavor(spec.flavor).save(spec.model, target)


def double(x: Any) -> Any:
    return x * 2


def test_skops_refuses_untrusted_types(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    import skops.io

    X, y = data
    pipe = Pipeline([("f", FunctionTransformer(double)), ("m", LogisticRegression())]).fit(X, y)
    files = {"model.skops": skops.io.dumps(pipe)}
    root = write_model(tmp_path / "m", sklearn_flavors("model.skops", "skops"), files=files)
    with pytest.raises(FlavorError, match=r"untrusted types .*double"):
        read_mlflow_model(root)


def test_pyfunc_sklearn_loader_only(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    clf = LogisticRegression().fit(X, y)
    flavors = {"python_function": sklearn_flavors()["python_function"]}
    root = write_model(
        tmp_path / "m", flavors, TENSOR_SIGNATURE, files={"model.pkl": cloudpickle.dumps(clf)}
    )
    spec = read_mlflow_model(root)
    assert spec.flavor == "sklearn" and spec.info["mlflow_flavor"] == "python_function"
    np.testing.assert_array_equal(model_of(spec).predict(X), clf.predict(X))
    sig = spec.signature
    assert sig is not None and sig.input_kind == "tensor" and sig.tensor_shape == (-1, 5)
    assert sig.column_names == ("f0", "f1", "f2", "f3", "f4")
    assert sig.inputs[0].dtype == "float32" and sig.output_dtype == "int64"


def test_onnx_flavor_wins(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    X, y = data
    clf = LogisticRegression().fit(X, y)
    proto = skl2onnx.to_onnx(clf, X[:1].astype(np.float32))
    flavors = {
        "onnx": {
            "code": None,
            "data": "model.onnx",
            "onnx_version": "1.18.0",
            "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"],
        },
        "python_function": {"data": "model.onnx", "env": ENV, "loader_module": "mlflow.onnx"},
        **sklearn_flavors(),
    }
    files = {"model.onnx": proto.SerializeToString(), "model.pkl": b"not used"}
    spec = read_mlflow_model(write_model(tmp_path / "m", flavors, TENSOR_SIGNATURE, files))
    assert spec.flavor == "onnx"
    np.testing.assert_array_equal(model_of(spec).predict(X), clf.predict(X))
    assert spec.signature is not None and spec.signature.classes == (0, 1)


@pytest.mark.parametrize("model_class", ["xgboost.sklearn.XGBClassifier", "xgboost.core.Booster"])
def test_xgboost(tmp_path: Path, data: tuple[np.ndarray, np.ndarray], model_class: str) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = data
    clf = xgb.XGBClassifier(n_estimators=5, n_jobs=1).fit(X, y)
    root = tmp_path / "m"
    root.mkdir()
    clf.save_model(str(root / "model.ubj"))
    flavors = {
        "python_function": {"data": "model.ubj", "env": ENV, "loader_module": "mlflow.xgboost"},
        "xgboost": {
            "code": None,
            "data": "model.ubj",
            "model_class": model_class,
            "model_format": "ubj",
            "xgb_version": "3.0.2",
        },
    }
    spec = read_mlflow_model(write_model(root, flavors))
    assert spec.flavor == "xgboost"
    if model_class.endswith("Booster"):
        dm = xgb.DMatrix(X)
        np.testing.assert_array_equal(model_of(spec).predict(dm), clf.get_booster().predict(dm))
    else:
        np.testing.assert_array_equal(model_of(spec).predict(X), clf.predict(X))


def test_xgboost_refuses_foreign_class(tmp_path: Path) -> None:
    flavors = {"xgboost": {"data": "model.ubj", "model_class": "os.system"}}
    root = write_model(tmp_path / "m", flavors, files={"model.ubj": b"{}"})
    with pytest.raises(FlavorError, match="unsupported xgboost model class"):
        read_mlflow_model(root)


def test_lightgbm_sklearn_and_booster(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = data
    labels = np.array(["cat", "dog"])[y]
    clf = lgb.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(X, labels)
    conf = {"code": None, "data": "model.pkl", "lgb_version": "4.6.0"}
    flavors = {"lightgbm": {**conf, "model_class": "lightgbm.sklearn.LGBMClassifier"}}
    root = write_model(tmp_path / "a", flavors, files={"model.pkl": cloudpickle.dumps(clf)})
    spec = read_mlflow_model(root)
    assert spec.flavor == "lightgbm"
    np.testing.assert_array_equal(model_of(spec).predict(X), clf.predict(X))
    assert spec.signature is not None and spec.signature.classes == ("cat", "dog")
    booster_text = clf.booster_.model_to_string().encode()
    flavors = {"lightgbm": {**conf, "data": "model.lgb", "model_class": "lightgbm.basic.Booster"}}
    spec = read_mlflow_model(
        write_model(tmp_path / "b", flavors, files={"model.lgb": booster_text})
    )
    np.testing.assert_allclose(model_of(spec).predict(X), clf.booster_.predict(X))


# --- hostile directories ------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    ["../../etc/passwd", "/etc/passwd", "sub/../../x.pkl", "..\\..\\x.pkl", "C:\\x.pkl", "", 42],
)
def test_payload_paths_must_stay_inside(tmp_path: Path, payload: Any) -> None:
    root = write_model(tmp_path / "m", sklearn_flavors(payload))
    with pytest.raises(FlavorError):
        read_mlflow_model(root)


def test_symlink_to_outside_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.pkl"
    secret.write_bytes(pickle.dumps({"x": 1}))
    root = write_model(tmp_path / "m", sklearn_flavors())
    os.symlink(secret, root / "model.pkl")
    with pytest.raises(FlavorError, match=r"symlink 'model\.pkl' points outside"):
        read_mlflow_model(root)
    os.unlink(root / "model.pkl")
    (root / "deep").mkdir()
    os.symlink("/etc", root / "deep" / "etc")
    with pytest.raises(FlavorError, match="points outside"):
        read_mlflow_model(root)


def test_mlmodel_symlinked_outside(tmp_path: Path) -> None:
    outside = write_model(tmp_path / "real", sklearn_flavors())
    root = tmp_path / "m"
    root.mkdir()
    os.symlink(outside / "MLmodel", root / "MLmodel")
    with pytest.raises(FlavorError):
        read_mlflow_model(root)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("flavors: [unclosed", "not valid YAML"),
        ("- sklearn\n- onnx\n", "YAML mapping"),
        ("", "YAML mapping"),
        ("!!python/object/apply:os.system ['echo pwned']\n", "not valid YAML"),
        ("flavors: {}\n", "no flavors"),
        ("flavors:\n  tensorflow: {saved_model_dir: tfmodel}\n  keras: {}\n", "keras, tensorflow"),
    ],
)
def test_bad_mlmodel(tmp_path: Path, text: str, match: str) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "MLmodel").write_text(text)
    with pytest.raises(FlavorError, match=match):
        read_mlflow_model(root)


def test_mlmodel_too_large_and_alias_bomb(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "MLmodel").write_text("a: '" + "x" * (2 * 1024 * 1024) + "'\n")
    with pytest.raises(FlavorError, match="larger than 1 MiB"):
        read_mlflow_model(root)
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 10) + "]" for k in range(1, 9)]
    (root / "MLmodel").write_text("\n".join(lines) + "\n")
    with pytest.raises(FlavorError, match="too large"):
        read_mlflow_model(root)


def test_not_a_model_directory(tmp_path: Path) -> None:
    for directory in (Path("/etc"), tmp_path / "missing", tmp_path):
        with pytest.raises(FlavorError, match=r"MLmodel|not an existing"):
            read_mlflow_model(directory)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FlavorError, match="not an existing local directory"):
        read_mlflow_model(tmp_path / "file")


def test_python_model_needs_mlflow(tmp_path: Path) -> None:
    flavors = {
        "python_function": {
            "cloudpickle_version": "3.1.1",
            "code": None,
            "env": ENV,
            "loader_module": "mlflow.pyfunc.model",
            "python_model": "python_model.pkl",
            "python_version": "3.11.7",
            "streamable": False,
        }
    }
    root = write_model(tmp_path / "m", flavors, files={"python_model.pkl": b"\x80\x04N."})
    with pytest.raises(FlavorError, match="requires the mlflow package"):
        read_mlflow_model(root)


def test_bad_signature_json(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    files = {"model.pkl": cloudpickle.dumps(LogisticRegression().fit(X, y))}
    sig = {"inputs": "[{not json", "outputs": None}
    with pytest.raises(FlavorError, match="not JSON"):
        read_mlflow_model(write_model(tmp_path / "a", sklearn_flavors(), sig, files))
    spec = read_mlflow_model(write_model(tmp_path / "b", sklearn_flavors(), None, files))
    assert spec.signature is None
