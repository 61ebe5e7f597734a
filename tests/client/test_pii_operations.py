"""``register_model(..., pii=[...])`` through both sides of the SDK: the module-level functions
and ``mp.Client`` against the in-process server mark the same columns and refuse the same names."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

import modelplane as mp
from modelplane.client import Client
from modelplane.context import Workspace
from modelplane.errors import InvalidInputError, NotFoundError

from .conftest import make_app


@pytest.fixture(params=["mp", "client"])
def ops(request: pytest.FixtureRequest, sqlite_ws: Workspace) -> Any:
    if request.param == "mp":
        return mp
    return Client("http://testserver", http_client=TestClient(make_app(sqlite_ws)))


def _model() -> tuple[Any, pd.DataFrame]:
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"email_hash": rng.integers(0, 99, 40), "score": rng.normal(size=40)})
    return LogisticRegression().fit(X, X.score > 0), X


def test_pii_marks_the_same_columns_on_both_sides(ops: Any) -> None:
    model, X = _model()
    mv = ops.register_model("m", model, X.head(), pii=["email_hash"])
    assert mv.signature["inputs"] == [
        {"name": "email_hash", "dtype": "int64", "pii": True},
        {"name": "score", "dtype": "float64"},
    ]
    assert ops.get_model_version("m", mv.version).signature == mv.signature


def test_unknown_pii_names_are_refused_on_both_sides(ops: Any) -> None:
    model, X = _model()
    with pytest.raises(InvalidInputError) as info:
        ops.register_model("m", model, X.head(), pii=["email"])
    assert info.value.field == "pii" and "'email' is not an input column" in info.value.message
    with pytest.raises(NotFoundError):
        ops.get_model("m")
