"""The server's OpenAPI document is true: schemathesis, with every check, against the app built in
process over a SQLite workspace with a registered model and an endpoint deployed on it.

Every operation is generated against (examples, coverage and fuzzing, a bounded number of cases
each), then linked operations in sequences (the stateful checks); hand-written valid predictions
check the answers of the data plane, which random inputs rarely reach. The few narrow,
reasoned exceptions are the repository's ``schemathesis.toml``, shared with
``make schema-check`` (the same run against a real server).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelplane.config import ServerSettings, Settings
from modelplane.context import Workspace
from modelplane.core import names
from modelplane.core.uris import (
    DATASET_URI_PATTERN,
    MODEL_URI_PATTERN,
    parse_dataset_uri,
    parse_model_uri,
)
from modelplane.errors import InvalidInputError
from modelplane.serving.app import create_app
from modelplane.serving.http_errors import ECHO_LIMIT, MESSAGE_LIMIT

CONFIG = Path(__file__).resolve().parents[2] / "schemathesis.toml"
ENDPOINT = "schema-check"  # the endpoint schemathesis.toml points the data plane at
MODEL = "churn"
HOSTS = ("testserver", "127.0.0.1", "localhost")  # schemathesis's ASGI client is "testserver"
HEALTH = ("/v2/health/live", "/v2/health/ready")
FAST = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    # generating from name patterns and bounded bodies filters some draws; slow is expected
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def auth_headers(workspace: Workspace) -> dict[str, str]:
    """What every request carries: an admin token (the server requires tokens). Its name is one
    the fuzzer will not guess when it revokes tokens by name."""
    _, token = workspace.tokens.create("conformance-admin-7f3c", "admin")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    from sklearn.linear_model import LogisticRegression

    home = tmp_path_factory.mktemp("openapi") / "home"
    ws = Workspace(
        Settings(
            home=home,
            db_url=f"sqlite:///{home / 'modelplane.db'}",
            artifacts=str(home / "artifacts"),
            auth="required",
        ),
        actor="openapi",
    )
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    ws.registry.register_model(MODEL, LogisticRegression().fit(X, [0, 0, 1, 1]), X)
    ws.registry.set_alias(MODEL, "champion", 1)
    ws.endpoints.deploy(ENDPOINT, {"model": f"models:/{MODEL}/1"})
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def app(workspace: Workspace) -> Iterator[Any]:
    # bad tokens are part of the fuzzing: they must not lock the test client out
    settings = ServerSettings(allowed_hosts=HOSTS, auth_failure_limit=0)
    yield create_app(workspace, settings=settings)
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()  # schemathesis started the app's lifespan; stop its server now


@pytest.fixture(scope="module")
def api_schema(app: Any, auth_headers: dict[str, str]) -> Any:
    config = schemathesis.Config.from_path(CONFIG)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config, headers=auth_headers)


@pytest.fixture(scope="module")
def document(api_schema: Any) -> dict[str, Any]:
    return dict(api_schema.raw_schema)


# -- first, what random inputs rarely reach: valid predictions, metadata, metrics -------------


def _call(api_schema: Any, path: str, method: str, headers: dict[str, str], **case: Any) -> Any:
    operation = api_schema[path][method]
    response = operation.Case(**case).call_and_validate(headers=dict(headers))
    assert response.status_code == 200, response.text
    return response


def test_predictions_and_metadata_conform(api_schema: Any, auth_headers: dict[str, str]) -> None:
    endpoint = {"endpoint": ENDPOINT}
    version = {"endpoint": ENDPOINT, "version": "1"}
    rows = [{"a": 0.5, "b": 1.0}, {"a": 2.5, "b": 0.0}]
    native = _call(
        api_schema,
        "/v1/endpoints/{endpoint}/predict",
        "POST",
        auth_headers,
        path_parameters=endpoint,
        body={"inputs": rows},
        media_type="application/json",
    )
    assert len(native.json()["prediction_ids"]) == 2
    tensor = {"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [0.5, 1.0, 2.5, 0.0]}
    for path, params in (
        ("/v2/models/{endpoint}/infer", endpoint),
        ("/v2/models/{endpoint}/versions/{version}/infer", version),
    ):
        _call(
            api_schema,
            path,
            "POST",
            auth_headers,
            path_parameters=params,
            body={"id": "r1", "inputs": [tensor]},
            media_type="application/json",
        )
    binary = _call(
        api_schema,
        "/v2/models/{endpoint}/infer",
        "POST",
        auth_headers,
        path_parameters=endpoint,
        body={"inputs": [tensor], "parameters": {"binary_data_output": True}},
        media_type="application/json",
    )
    assert binary.headers["content-type"] == ["application/octet-stream"]
    assert len(binary.content) > int(binary.headers["inference-header-content-length"][0])
    for path, params in (
        ("/v2/models/{endpoint}", endpoint),
        ("/v2/models/{endpoint}/versions/{version}", version),
        ("/v2/models/{endpoint}/ready", endpoint),
        ("/v2/models/{endpoint}/versions/{version}/ready", version),
        ("/api/v1/endpoints/{endpoint}/status", endpoint),
    ):
        _call(api_schema, path, "GET", auth_headers, path_parameters=params)
    for path in ("/v2", "/v2/health/live", "/v2/health/ready"):
        _call(api_schema, path, "GET", auth_headers)
    metrics = _call(api_schema, "/metrics", "GET", auth_headers)
    assert metrics.headers["content-type"][0].startswith("text/plain; version=0.0.4")


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's lazy schema reads Node._nodeid, which pytest 9 no longer has
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
@FAST
def test_every_operation_conforms(case: Any, auth_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=dict(auth_headers))  # schemathesis adds to what it gets


def test_operation_sequences_conform(api_schema: Any, auth_headers: dict[str, str]) -> None:
    class Sequences(api_schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": dict(auth_headers)}

    Sequences.run(settings=settings(FAST, max_examples=15, stateful_step_count=4))


# -- the document itself ----------------------------------------------------------------------


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def _bodies(response: dict[str, Any]) -> set[str]:
    """The component names a response's JSON body may be."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    refs = [schema, *schema.get("anyOf", [])]
    return {str(r["$ref"]).rsplit("/", 1)[-1] for r in refs if "$ref" in r}


def test_every_error_is_declared_with_the_error_body(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        where = f"{method} {path}"
        # the connection layer's refusals everywhere; the permission check's but on the probes
        assert {"408", "415", "431", "503"} <= responses.keys(), where
        if path not in HEALTH:
            assert {"401", "403", "429"} <= responses.keys(), where
        error = "V2ErrorBody" if path == "/v2" or path.startswith("/v2/") else "ErrorBody"
        for status, response in responses.items():
            if int(status) < 400 or (path.endswith("/ready") and status == "400"):
                continue  # a model's readiness answers "not ready" with its own body
            assert error in _bodies(response), (where, status)
            if status in ("429", "503"):  # not ready is no error: no Retry-After then
                retry = response["headers"]["Retry-After"]
                assert retry["required"] or path == "/v2/health/ready", (where, status)


def test_path_parameters_carry_the_name_rules(document: dict[str, Any]) -> None:
    rules = {
        "name": names.NAME_PATTERN,
        "endpoint": names.NAME_PATTERN,
        "dataset": names.NAME_PATTERN,
        "path": names.ARTIFACT_KEY_PATTERN,
    }
    for path, method, operation in _operations(document):
        for param in operation.get("parameters", []):
            if param["in"] == "path" and param["name"] in rules:
                assert param["schema"]["pattern"] == rules[param["name"]], (method, path)
                assert param["schema"]["maxLength"] <= names.MAX_KEY_LEN, (method, path)


# -- the schema's patterns accept exactly what the validators accept --------------------------


def _accepts(check: Any, value: str) -> bool:
    try:
        check(value)
    except InvalidInputError:
        return False
    return True


NAMEISH = st.text(alphabet=st.sampled_from("aZ09._-/@:% \n\x00é"), max_size=12)


@given(NAMEISH)
@settings(max_examples=300, deadline=None, database=None)
def test_name_patterns_agree_with_the_validators(value: str) -> None:
    assert bool(re.fullmatch(names.NAME_PATTERN, value)) == _accepts(names.check_name, value)
    assert bool(re.fullmatch(names.ALIAS_PATTERN, value)) == _accepts(names.check_alias, value)
    assert bool(re.fullmatch(names.ARTIFACT_KEY_PATTERN, value)) == _accepts(
        names.check_artifact_key, value
    )
    uri = f"models:/{value}"
    assert bool(re.fullmatch(MODEL_URI_PATTERN, uri)) == _accepts(parse_model_uri, uri)
    assert bool(re.fullmatch(names.FIELD_KEY_PATTERN, value)) == _accepts(
        names.check_field_key, value
    )
    for ds in (f"datasets:/{value}", f"datasets:/{value}/1"):
        assert bool(re.fullmatch(DATASET_URI_PATTERN, ds)) == _accepts(parse_dataset_uri, ds)


@given(st.text(max_size=6))
@settings(max_examples=300, deadline=None, database=None)
def test_printable_pattern_agrees_with_check_key(value: str) -> None:
    key = f"k{value}"  # check_key refuses the empty key; the schema says so with minLength
    assert bool(re.fullmatch(names.printable_pattern(), key)) == _accepts(names.check_key, key)


def test_long_names_hold_at_the_boundaries() -> None:
    for value in ("a" * names.MAX_NAME_LEN, "a" * (names.MAX_NAME_LEN + 1)):
        uri = f"models:/{value}@champion"
        assert bool(re.fullmatch(MODEL_URI_PATTERN, uri)) == _accepts(parse_model_uri, uri)


# -- error bodies and 405 ---------------------------------------------------------------------


def test_error_bodies_do_not_echo_huge_inputs(
    api_schema: Any, auth_headers: dict[str, str]
) -> None:
    from schemathesis.python import asgi

    huge = "x" * 10_000
    with asgi.get_client(api_schema.app) as client:
        for method, path in (
            ("POST", f"/v2/models/{huge}/infer"),
            ("POST", f"/v1/endpoints/{huge}/predict"),
            ("GET", f"/api/v1/runs?filter={huge}"),
        ):
            response = client.request(method, path, json={}, headers=auth_headers)
            assert response.status_code in (400, 404), (path, response.text[:300])
            text = response.text
            assert len(text) < ECHO_LIMIT + MESSAGE_LIMIT, (path, len(text))
            assert "x" * (ECHO_LIMIT + 1) not in text, path


def test_405_lists_every_method_of_the_path(api_schema: Any, auth_headers: dict[str, str]) -> None:
    from schemathesis.python import asgi

    with asgi.get_client(api_schema.app) as client:
        response = client.request("OPTIONS", "/api/v1/experiments", headers=auth_headers)
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, POST"
        response = client.delete("/v1/endpoints/x/predict", headers=auth_headers)
        assert (response.status_code, response.headers["allow"]) == (405, "POST")
