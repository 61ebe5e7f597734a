"""Python steps of inference graphs may only name functions of the modules an admin allowed
(``MODELPLANE_STEP_MODULES``): refused at deploy over HTTP (422) and in the CLI (exit 2), never
imported before the check, and refused again when a server loads a stored config (the endpoint
fails, the server keeps serving the others)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

import modelplane as mp
from modelplane.context import Workspace
from modelplane.errors import UnsafeInputError
from modelplane.serving.app import create_app

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCS = "tests.security.step_funcs"
CANARY = "tests.security.step_canary"
COLS = ["a", "b"]
API = "/api/v1"

DANGEROUS = [
    "subprocess:getoutput",
    "os:system",
    "builtins:eval",
    "pickle:loads",
    "os.path:join",
    "importlib:import_module",
    "modelplane.core.names:check_name",  # modelplane itself is not allowed unless listed
    f"{FUNCS}:getoutput",  # re-exported by the allowed module: defined in subprocess
    f"{FUNCS}:eval",
    f"{FUNCS}:loads",
    f"{FUNCS}_evil:shift_a",  # a prefix of the name is not the module
]
MALFORMED = [
    f"{FUNCS}:os.system",  # through a module the allowed module imported
    f"{FUNCS}:__builtins__.get",
    f"{FUNCS}.os:system",  # not a submodule: the allowed module did ``import os``
    "os:system; rm -rf /",
]


@pytest.fixture
def served(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A workspace whose admin allowed ``tests.security.step_funcs``, with model ``m`` v1."""
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    monkeypatch.setenv("MODELPLANE_STEP_MODULES", FUNCS)
    ws = mp.configure(home=home, actor="tester")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 2)), columns=COLS)
    y = (X["a"] - X["b"] > 0.5).astype(int)
    model = LogisticRegression().fit(X, y)
    mp.register_model("m", model, X.head(10))
    yield {"ws": ws, "X": X, "model": model, "home": home}
    ws.close()


def client_for(ws: Workspace) -> TestClient:
    """An in-process server on ``ws`` (addressed as loopback, as the server expects)."""
    return TestClient(create_app(ws, poll_interval=0.2), base_url="http://127.0.0.1")


def wait_for(call: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 20.0) -> Any:
    """Repeat ``call`` until ``done`` holds for its result (failing after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        result = call()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def graph(*pre: str, post: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "graph": {
            "models": [{"uri": "models:/m/1"}],
            "preprocess": [{"type": "python", "function": f} for f in pre],
            "postprocess": [{"type": "python", "function": f} for f in post],
        }
    }


def rows(X: pd.DataFrame) -> list[dict[str, float]]:
    return [{c: float(v) for c, v in r.items()} for r in X.to_dict(orient="records")]


def no_canary() -> bool:
    return CANARY not in sys.modules and "security.step_canary" not in sys.modules


# -- deploy over HTTP ---------------------------------------------------------------------------


@pytest.mark.parametrize("function", DANGEROUS)
def test_dangerous_functions_are_refused_at_deploy_over_http(
    served: dict[str, Any], function: str
) -> None:
    with client_for(served["ws"]) as client:
        r = client.put(f"{API}/endpoints/evil", json=graph(f"{FUNCS}:shift_a", function))
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["error"] == "unsafe_input"
        assert body["field"] == "graph.preprocess[1].function"
        assert "Traceback" not in r.text
        assert client.get(f"{API}/endpoints/evil").status_code == 404  # nothing was stored


def test_fields_name_postprocess_steps_and_variants(served: dict[str, Any]) -> None:
    with client_for(served["ws"]) as client:
        r = client.put(f"{API}/endpoints/evil", json=graph(post=("os:system",)))
        assert r.status_code == 422 and r.json()["field"] == "graph.postprocess[0].function"
        variant = {"name": "blue", **graph("builtins:exec")}
        doc = {"traffic": {"policy": "single", "variants": [variant]}}
        r = client.put(f"{API}/endpoints/evil", json=doc)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "traffic.variants[0].graph.preprocess[0].function"


def test_a_module_outside_the_allowlist_is_never_imported(served: dict[str, Any]) -> None:
    assert no_canary()
    with client_for(served["ws"]) as client:
        r = client.put(f"{API}/endpoints/evil", json=graph(f"{CANARY}:anything"))
    assert r.status_code == 422, r.text
    assert no_canary()
    with pytest.raises(UnsafeInputError):  # the local SDK: the same check
        mp.deploy("evil", graph(f"{CANARY}:anything"))
    assert no_canary()


def test_the_remote_client_gets_the_refusal_as_an_error(served: dict[str, Any]) -> None:
    with client_for(served["ws"]) as http:
        remote = mp.Client("http://127.0.0.1", http_client=http)
        with pytest.raises(UnsafeInputError) as err:
            remote.deploy("evil", graph("subprocess:getoutput"))
    assert err.value.field == "graph.preprocess[0].function"


@pytest.mark.parametrize("function", MALFORMED)
def test_attribute_paths_and_fake_submodules_are_refused(
    served: dict[str, Any], function: str
) -> None:
    """A step names one function of a module: no attribute paths (``mod:os.system``), and
    ``step_funcs.os`` is not a submodule of the allowed module (it only did ``import os``)."""
    with client_for(served["ws"]) as client:
        r = client.put(f"{API}/endpoints/evil", json=graph(function))
        assert r.status_code in (400, 422), r.text
        assert r.json()["field"].startswith("graph.preprocess"), r.text
        assert client.get(f"{API}/endpoints/evil").status_code == 404


def test_allowed_functions_serve_predictions_end_to_end(served: dict[str, Any]) -> None:
    X, model = served["X"], served["model"]
    with client_for(served["ws"]) as client:
        doc = graph(f"{FUNCS}:shift_a", post=(f"{FUNCS}:shout",))
        r = client.put(f"{API}/endpoints/steps", json=doc)
        assert r.status_code == 200, r.text
        answer = wait_for(
            lambda: client.post("/v1/endpoints/steps/predict", json={"inputs": rows(X.head(5))}),
            lambda r: r.status_code not in (404, 503),  # until the server loaded the deploy
        )
        assert answer.status_code == 200, answer.text
    shifted = X.assign(a=X["a"] + 1)
    expected = [f"class-{v}" for v in model.predict(shifted.head(5)).tolist()]
    assert answer.json()["outputs"] == expected
    # the step decided something: without it, some of these rows are classified otherwise
    assert (model.predict(shifted) != model.predict(X)).any()


def test_a_stored_config_naming_a_module_no_longer_allowed_fails_that_endpoint_only(
    served: dict[str, Any],
) -> None:
    ws, X = served["ws"], served["X"]
    mp.deploy("plain", "models:/m/1")
    mp.deploy("steps", graph(f"{FUNCS}:shift_a"))
    # an older configuration allowed the canary module too; its config is in the store
    wider = Workspace(replace(ws.settings, step_modules=(FUNCS, CANARY)), actor="old-admin")
    wider.endpoints.deploy("canary", graph(f"{CANARY}:anything"))
    wider.close()
    for name in (CANARY, "security.step_canary"):
        sys.modules.pop(name, None)  # deploying imported it (it was allowed then)

    # the server now allows nothing: both graph endpoints fail, the plain one serves
    strict = Workspace(replace(ws.settings, step_modules=()), actor="server")
    try:
        with client_for(strict) as client:
            for name in ("steps", "canary"):
                doc = client.get(f"{API}/endpoints/{name}/status").json()
                assert doc["state"] == "failed", doc
                assert "not allowed" in doc["last_error"], doc
                r = client.post(f"/v1/endpoints/{name}/predict", json={"inputs": rows(X.head(2))})
                assert r.status_code == 503, r.text
                assert "not allowed" in r.json()["message"]
            plain = client.post("/v1/endpoints/plain/predict", json={"inputs": rows(X.head(2))})
            assert plain.status_code == 200, plain.text
            # not ready for a load balancer while endpoints have nothing to serve, naming them
            ready = client.get("/v2/health/ready")
            assert ready.status_code == 503, ready.text
            assert ready.json()["failed"] == ["canary", "steps"]
        failures = strict.audit.list(action="endpoint.load_failed", target="endpoints/steps")
        assert failures and "not allowed" in failures[0].after["reason"]
    finally:
        strict.close()
    assert no_canary()


# -- the CLI ------------------------------------------------------------------------------------


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
    env.update(
        MODELPLANE_HOME=str(home),
        MODELPLANE_STEP_MODULES=FUNCS,
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p),
    )
    return subprocess.run(
        [sys.executable, "-m", "modelplane", *args],
        env=env,
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "function", ["subprocess:getoutput", "os:system", "builtins:eval", "pickle:loads"]
)
def test_the_cli_refuses_dangerous_functions_with_exit_2(
    served: dict[str, Any], tmp_path: Path, function: str
) -> None:
    config = tmp_path / "evil.json"
    config.write_text(json.dumps(graph(function)))
    done = _cli(served["home"], "deploy", "evil", "--config", str(config))
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "graph.preprocess[0].function" in lines[0] and "not allowed" in lines[0]
    assert "Traceback" not in done.stderr


def test_the_cli_deploys_an_allowed_function(served: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "ok.json"
    config.write_text(json.dumps(graph(f"{FUNCS}:shift_a")))
    done = _cli(served["home"], "deploy", "steps", "--config", str(config))
    assert done.returncode == 0, done.stderr
    stored = mp.get_endpoint("steps")["config"]["graph"]["preprocess"][0]
    assert stored["function"] == f"{FUNCS}:shift_a"
