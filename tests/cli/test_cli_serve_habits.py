"""Day-one habits: ``serve MODEL_URI`` without a deploy, unknown models refused before anything
binds, a taken port in one line, a home whose parent does not exist refused, a missing optional
driver naming its extra, and explicit request validation over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelplane.config import SERVER_ENV


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MODELPLANE_DB_URL", "MODELPLANE_ARTIFACTS", SERVER_ENV):
        monkeypatch.delenv(var, raising=False)  # serve sets them for its workers


def test_a_home_whose_parent_does_not_exist_is_refused(cli: Any, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "home"
    result = cli("--home", str(missing), "models", "list")
    assert result.exit_code == 2, result.output
    cli.one_error_line(result.stderr, "--home", "does not exist")
    result = cli("models", "list", env={"MODELPLANE_HOME": str(missing)})
    assert result.exit_code == 2, result.output
    cli.one_error_line(result.stderr, "MODELPLANE_HOME", "does not exist")
    assert not missing.parent.exists()
    # a missing home whose parent exists is created, as before
    fresh = tmp_path / "fresh-home"
    assert cli("--home", str(fresh), "init").exit_code == 0
    assert (fresh / "modelplane.db").is_file()


@pytest.mark.parametrize(
    ("uri", "field", "words"),
    [
        ("models:/nope@champion", "model", "no model named 'nope'"),
        ("models:/iris-like/99", "version", "has no version 99"),
        ("models:/iris-like@nope", "alias", "has no alias @nope"),
    ],
)
def test_deploy_and_serve_refuse_an_unknown_model_version_or_alias(
    cli: Any, populated: Any, no_server_env: None, uri: str, field: str, words: str
) -> None:
    result = cli("deploy", "ep", uri)
    assert result.exit_code == 2, result.output
    cli.one_error_line(result.stderr, words, f"(field: {field})")
    assert cli.json("endpoints", "list") == []
    served = cli("serve", uri, "--port", str(free_port()))
    assert served.exit_code == 2, served.output
    line = cli.one_error_line(served.stderr, words)
    assert "serving" not in line


def test_a_taken_port_is_one_line_and_exit_2(cli: Any, populated: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args in ((), ("--workers", "2")):
            result = cli.subprocess("serve", "--port", str(port), *args)
            assert result.returncode == 2, result.stderr
            cli.one_error_line(
                result.stderr, f"port {port} on 127.0.0.1 is already in use", "(field: port)"
            )


def _missing(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess where importing ``module`` fails, as when it is not installed."""
    code = (
        f"import sys; sys.modules[{module!r}] = None; "
        "from modelplane.cli.app import main; main(sys.argv[1:])"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )


def test_a_missing_driver_names_the_extra_to_install(cli: Any, home: Path) -> None:
    result = _missing(
        "psycopg",
        "models",
        "list",
        env={"MODELPLANE_DB_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/test"},
    )
    assert result.returncode == 2, result.stderr
    cli.one_error_line(result.stderr, "needs psycopg", "pip install 'modelplane[postgres]'")


def test_a_missing_s3_library_names_the_extra(home: Path) -> None:
    code = (
        "import sys; sys.modules['s3fs'] = None\n"
        "import pandas as pd, modelplane as mp\n"
        "from modelplane.errors import MissingDependencyError\n"
        "mp.configure(artifacts='s3://bucket/prefix')\n"
        "try:\n"
        "    mp.register_dataset('d', pd.DataFrame({'a': [1]}))\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc.exit_code, exc.http_status, exc.message)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2 503 "), result.stdout
    assert "needs s3fs" in result.stdout and "pip install 'modelplane[s3]'" in result.stdout


def _serve(home: Path, port: int, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "modelplane", "--home", str(home), "serve", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "OMP_NUM_THREADS": "1"},
        start_new_session=True,
    )


def _wait_ready(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail("the server did not become ready")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


@pytest.mark.slow
def test_serve_model_uri_serves_it_as_an_endpoint_named_after_the_model(
    cli: Any, populated: Any
) -> None:
    """Like ``mlflow models serve -m``: no deploy, nothing stored, the alias still followed,
    requests validated strictly (422 naming the column, never a silent conversion)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(populated.home, port, "models:/iris-like@champion", "--port", str(port))
    try:
        _wait_ready(proc, url)
        row = {"a": 0.5, "b": -1.0, "c": 2.0}
        r = httpx.post(f"{url}/v1/endpoints/iris-like/predict", json={"inputs": [row]})
        assert r.status_code == 200, r.text
        assert r.json()["model"] == "iris-like/2"
        meta = httpx.get(f"{url}/v2/models/iris-like").json()
        onnx = next(iter(meta["parameters"]["runtime"].values()))["onnx"]
        assert onnx["used"] or onnx["reason"], onnx  # the reason is always given
        for bad, column in (
            ({**row, "d": 1.0}, "d"),  # a column the model does not have
            ({**row, "a": True}, "a"),  # a boolean is not 1.0
            ({**row, "b": "2.5"}, "b"),  # text is not a number (coerce strict)
        ):
            refused = httpx.post(f"{url}/v1/endpoints/iris-like/predict", json={"inputs": [bad]})
            assert refused.status_code == 422, refused.text
            assert refused.json()["field"] == column, refused.text
        v2 = httpx.post(
            f"{url}/v2/models/iris-like/infer",
            json={
                "inputs": [
                    {"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [True, 1.0, 2.0]}
                ]
            },
        )
        assert v2.status_code == 422, v2.text
        assert httpx.get(f"{url}/v1/endpoints/other/predict").status_code in (404, 405)
    finally:
        err = _stop(proc)
    first = err.splitlines()[0]
    assert "serving models:/iris-like@champion (v2) as endpoint iris-like" in first, err
    assert cli.json("endpoints", "list") == []  # nothing was deployed
