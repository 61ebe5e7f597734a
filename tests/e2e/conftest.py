"""End-to-end fixtures: a real ``modelplane serve`` subprocess on a free 127.0.0.1 port.

Each test module gets one server (module scope) over its own home: small scikit-learn models
registered with an input example through the SDK, endpoints deployed with
``Workspace.endpoints.deploy``. A module shapes its server with two optional module attributes:

* ``deploy_endpoints(ws, models)`` registers extra models and deploys the module's endpoints
  (default: ``lr`` on ``models:/lr@champion`` and ``rf`` on ``models:/rf@champion``);
* ``SERVER_ARGS``, extra ``modelplane serve`` arguments (``("--workers", "2")``).

Tests needing a server of their own (one they stop) use the ``launch`` factory fixture.
The server's stderr goes to a file, printed on teardown when a test of the module failed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

E2E_DIR = Path(__file__).resolve().parent
if str(E2E_DIR) not in sys.path:  # the tests pickle slow_models classes by reference
    sys.path.insert(0, str(E2E_DIR))

FEATURES = [f"f{i}" for i in range(8)]
READY_TIMEOUT = 60.0
POLL_INTERVAL = 0.2


@dataclass(frozen=True)
class Data:
    X: pd.DataFrame
    y: np.ndarray


@dataclass
class Models:
    """The trained models (fitted once per session) and their training data."""

    data: Data
    lr: Any
    rf: Any
    extra: dict[str, Any] = field(default_factory=dict)  # models a module adds

    def rows(self, n: int, start: int = 0) -> pd.DataFrame:
        return self.data.X.iloc[start : start + n].reset_index(drop=True)


@dataclass
class Served:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    home: Path
    ws: Any
    log: Path
    _log_file: Any = field(repr=False, default=None)

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.url, **kwargs)

    def stderr(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL after ``timeout``; the exit status."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return self.proc.returncode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env() -> dict[str, str]:
    """The test environment without MODELPLANE_* (``--home`` decides), ``tests/e2e`` importable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MODELPLANE_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(E2E_DIR), env.get("PYTHONPATH")) if p)
    return env


def run_cli(
    home: Path, *args: str, timeout: float = 60.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m modelplane --home HOME ARGS…`` as a subprocess (``env``: added variables)."""
    return subprocess.run(
        [sys.executable, "-m", "modelplane", "--home", str(home), *args],
        env={**server_env(), **(env or {})},
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_server(home: Path, ws: Any, args: Sequence[str] = (), *, wait: bool = True) -> Served:
    port = free_port()
    log = home.parent / f"server-{port}.stderr"
    log_file = log.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelplane",
            "--home",
            str(home),
            "serve",
            "--port",
            str(port),
            "--poll-interval",
            str(POLL_INTERVAL),
            "--drain-seconds",
            "1",
            *args,
        ],
        env=server_env(),
        cwd=home.parent,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
        start_new_session=True,  # its own process group: teardown signals all its workers
    )
    served = Served(f"http://127.0.0.1:{port}", port, proc, home, ws, log, log_file)
    if wait:
        try:
            wait_ready(served)
        except BaseException:
            served.stop()
            raise
    return served


def wait_ready(served: Served, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if served.proc.poll() is not None:
                pytest.fail(
                    f"the server exited with {served.proc.returncode} before it was ready:\n"
                    f"{served.stderr()}"
                )
            try:
                r = client.get(f"{served.url}/v2/health/ready")
                # 503 naming failed endpoints: loaded, with endpoints that cannot serve (tests
                # of failed loads deploy such endpoints on purpose)
                if r.status_code == 200 or r.json().get("failed"):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"the server was not ready within {timeout:.0f} s:\n{served.stderr()}")


def new_home(base: Path, models: Models) -> tuple[Path, Any]:
    """A fresh home with ``lr`` v1 and ``rf`` v1 registered (input example), both @champion."""
    from modelplane.config import Settings
    from modelplane.context import Workspace

    home = base / "home"
    # exactly what the server derives from --home alone (MODELPLANE_* are not passed on)
    settings = Settings(
        home=home, db_url=f"sqlite:///{home / 'modelplane.db'}", artifacts=str(home / "artifacts")
    )
    ws = Workspace(settings, actor="e2e")
    example = models.rows(50)
    ws.registry.register_model("lr", models.lr, example)
    ws.registry.register_model("rf", models.rf, example)
    ws.registry.set_alias("lr", "champion", 1)
    ws.registry.set_alias("rf", "champion", 1)
    return home, ws


def default_endpoints(ws: Any, models: Models) -> None:
    ws.endpoints.deploy("lr", {"model": "models:/lr@champion"})
    ws.endpoints.deploy("rf", {"model": "models:/rf@champion"})


def wait_for(
    condition: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy (returned) or fail after timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or condition} (last: {last!r})")


def _show_stderr(request: pytest.FixtureRequest, served: Served, failed: bool) -> None:
    if not failed:
        return
    text = served.stderr()
    capman = request.config.pluginmanager.getplugin("capturemanager")
    ctx = capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
    with ctx:
        sys.stderr.write(f"\n----- server {served.url} stderr -----\n{text}\n-----\n")


@pytest.fixture(scope="session")
def models() -> Models:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X_arr, y = make_classification(n_samples=2000, n_features=8, random_state=0)
    X = pd.DataFrame(X_arr, columns=FEATURES)
    lr = LogisticRegression(max_iter=1000).fit(X, y)
    rf = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(X, y)
    return Models(Data(X, y), lr, rf)


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, models: Models
) -> Iterator[Served]:
    """The module's server: see the module docstring for ``deploy_endpoints`` / ``SERVER_ARGS``."""
    home, ws = new_home(tmp_path_factory.mktemp("e2e"), models)
    deploy = getattr(request.module, "deploy_endpoints", default_endpoints)
    deploy(ws, models)
    failed_before = request.session.testsfailed
    served = start_server(home, ws, tuple(getattr(request.module, "SERVER_ARGS", ())))
    try:
        yield served
    finally:
        code = served.stop()
        _show_stderr(request, served, request.session.testsfailed > failed_before)
        ws.close()
        assert code is not None


@pytest.fixture
def launch(
    request: pytest.FixtureRequest, tmp_path: Path, models: Models
) -> Iterator[Callable[..., Served]]:
    """Factory for a server of the test's own: ``launch(deploy_fn, args=(), wait=True)``."""
    started: list[Served] = []
    failed_before = request.session.testsfailed

    def _launch(
        deploy: Callable[[Any, Models], None] = default_endpoints,
        args: Sequence[str] = (),
        wait: bool = True,
    ) -> Served:
        base = tmp_path / f"s{len(started)}"
        base.mkdir()
        home, ws = new_home(base, models)
        deploy(ws, models)
        served = start_server(home, ws, args, wait=wait)
        started.append(served)
        return served

    yield _launch
    for served in started:
        served.stop()
        _show_stderr(request, served, request.session.testsfailed > failed_before)
        served.ws.close()


def records(frame: pd.DataFrame) -> list[dict[str, float]]:
    return [{c: float(v) for c, v in row.items()} for row in frame.to_dict(orient="records")]


def columns(frame: pd.DataFrame) -> dict[str, list[float]]:
    return {c: [float(v) for v in frame[c]] for c in frame.columns}


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, text
