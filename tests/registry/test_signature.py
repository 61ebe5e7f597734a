"""Signature inference, JSON round trips and request-table validation."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression

from modelplane.errors import InvalidInputError, SchemaValidationError
from modelplane.registry.signature import ColumnSpec, Signature, infer_signature, validate_dataframe


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    return pd.DataFrame(X, columns=["a", "b", "c", "d", "e"]), y


def test_dataframe_classifier(frame: tuple[pd.DataFrame, np.ndarray]) -> None:
    df, y = frame
    clf = LogisticRegression().fit(df, np.array(["no", "yes"])[y])
    sig = infer_signature(clf, df)
    assert sig.input_kind == "dataframe" and sig.tensor_shape is None
    assert sig.column_names == ("a", "b", "c", "d", "e")
    assert all(c.dtype == "float64" for c in sig.inputs)
    assert sig.output_kind == "classification"
    assert sig.classes == ("no", "yes")


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_ndarray_uses_feature_names_or_positions(frame: tuple[pd.DataFrame, np.ndarray]) -> None:
    df, y = frame
    X = df.to_numpy()
    plain = LogisticRegression().fit(X, y)
    sig = infer_signature(plain, X)
    assert sig.input_kind == "tensor" and sig.tensor_shape == (-1, 5)
    assert sig.column_names == ("f0", "f1", "f2", "f3", "f4")
    assert sig.classes == (0, 1) and all(type(c) is int for c in sig.classes)
    named = LogisticRegression().fit(df, y)
    assert infer_signature(named, X).column_names == ("a", "b", "c", "d", "e")


def test_regression_and_list_of_dicts() -> None:
    X, y = make_regression(n_samples=50, n_features=2, random_state=0)
    df = pd.DataFrame(X, columns=["x1", "x2"])
    model = LinearRegression().fit(df, y)
    rows = df.head(3).to_dict(orient="records")
    sig = infer_signature(model, rows)
    assert sig.input_kind == "dataframe" and sig.column_names == ("x1", "x2")
    assert sig.output_kind == "regression" and sig.output_dtype == "float64"
    assert sig.classes is None


def test_mixed_dtypes_and_none() -> None:
    df = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "s": ["x", "y", "z"],
            "o": pd.Series(["p", "q", "r"], dtype=object),
            "b": [True, False, True],
            "t": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        }
    )
    sig = infer_signature(object(), df)
    dtypes = {c.name: c.dtype for c in sig.inputs}
    assert dtypes["n"] == "int64" and dtypes["b"] == "bool" and dtypes["o"] == "object"
    assert dtypes["s"] in ("string", "object") and dtypes["t"] == "datetime64[ns]"
    assert sig.output_kind == "unknown"
    empty = infer_signature(object(), None)
    assert empty.inputs == () and empty.input_kind == "unknown"


class Broken:
    def predict(self, X: Any) -> Any:
        raise RuntimeError("boom")


class Probabilities:
    def predict(self, X: Any) -> np.ndarray:
        return np.tile([0.25, 0.75], (len(X), 1))


def test_predict_failure_and_probabilities() -> None:
    X = np.ones((10, 3))
    assert infer_signature(Broken(), X).output_kind == "unknown"
    assert infer_signature(Probabilities(), X).output_kind == "probabilities"
    with pytest.raises(InvalidInputError):
        infer_signature(Broken(), np.ones(3))
    with pytest.raises(InvalidInputError):
        infer_signature(Broken(), "select * from t")


def test_to_dict_roundtrip_is_json_safe() -> None:
    sig = Signature(
        inputs=(ColumnSpec("a", "float64"), ColumnSpec("b", "int64")),
        input_kind="tensor",
        tensor_shape=(-1, 2),
        output_kind="classification",
        output_dtype="int64",
        classes=(np.int64(0), np.int64(1)),
    )
    data = json.loads(json.dumps(sig.to_dict()))
    assert data["classes"] == [0, 1]
    again = Signature.from_dict(data)
    assert again.tensor_shape == (-1, 2) and again.classes == (0, 1)
    assert again.inputs == sig.inputs
    assert Signature.from_dict({}).input_kind == "unknown"
    bad: object
    for bad in ([], {"inputs": [{"name": 1, "dtype": "x"}]}, {"input_kind": "weird"}):
        with pytest.raises(InvalidInputError):
            Signature.from_dict(bad)


def _sig(**dtypes: str) -> Signature:
    inputs = tuple(ColumnSpec(n, d) for n, d in dtypes.items())
    return Signature(inputs, "dataframe", None, "regression", "float64", None)


def test_validate_accepts_good_frames_and_extra_columns() -> None:
    sig = _sig(x="float64", n="int64", flag="bool", when="datetime64[ns]", s="object")
    df = pd.DataFrame(
        {
            "x": [1, 2.5],
            "n": [1.0, 2.0],
            "flag": [True, False],
            "when": ["2024-01-01", "2024-02-01"],
            "s": ["a", "b"],
            "extra": ["ignored", "too"],
        }
    )
    validate_dataframe(sig, df)
    validate_dataframe(_sig(x="float64"), pd.DataFrame({"x": ["1.5", "2"]}))


@pytest.mark.parametrize(
    ("dtypes", "df", "field", "text"),
    [
        ({"x": "float64"}, pd.DataFrame({"y": [1.0]}), "x", "missing input column 'x'"),
        ({"x": "float64"}, pd.DataFrame({"x": ["abc"]}), "x", "non-numeric"),
        ({"n": "int64"}, pd.DataFrame({"n": [1.5]}), "n", "non-integral"),
        ({"n": "int64"}, pd.DataFrame({"n": [1.0, None]}), "n", "missing values"),
        ({"f": "bool"}, pd.DataFrame({"f": ["maybe"]}), "f", "non-boolean"),
        ({"t": "datetime64[ns]"}, pd.DataFrame({"t": ["not a date"]}), "t", "not dates"),
    ],
)
def test_validate_errors_name_the_field(
    dtypes: dict[str, str], df: pd.DataFrame, field: str, text: str
) -> None:
    with pytest.raises(SchemaValidationError) as err:
        validate_dataframe(_sig(**dtypes), df)
    assert err.value.field == field
    assert text in err.value.message
    assert err.value.http_status == 422


def test_validate_tensor_signature_by_position() -> None:
    sig = Signature(
        (ColumnSpec("f0", "float64"), ColumnSpec("f1", "float64")),
        "tensor",
        (-1, 2),
        "regression",
        "float64",
        None,
    )
    validate_dataframe(sig, pd.DataFrame([[1.0, 2.0]], columns=["p", "q"]))
    with pytest.raises(SchemaValidationError, match="expected 2 input columns"):
        validate_dataframe(sig, pd.DataFrame([[1.0]], columns=["p"]))
    with pytest.raises(SchemaValidationError) as err:
        validate_dataframe(sig, pd.DataFrame([[1.0, "x"]], columns=["p", "q"]))
    assert err.value.field == "f1"
    with pytest.raises(SchemaValidationError):
        validate_dataframe(sig, [[1.0, 2.0]])
