"""Browser fixtures: one ``modelplane serve`` (tokens required) over a home with data, one
Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) signed in through ``/ui/login``.

The home holds an experiment whose runs log metric series over steps, a model with two versions
and an alias moved twice (and protected), an endpoint on that alias that answered predictions,
the audit entries of all that — and hostile text in a run name, a param and a description.
Screenshots of the pages go to ``test-output/ui/<page>.png``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from e2e.conftest import POLL_INTERVAL, Served, free_port, server_env, wait_ready  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SHOTS = TESTS.parent / "test-output" / "ui"
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = "<img src=x onerror=window.__xss=1>"
LOSS_POINTS = 25
BASELINE_POINTS = 15
ROW = {"inputs": [{"a": 1.0, "b": 0.0}]}


@dataclass
class Site:
    """The server and what the tests know about its data."""

    served: Served
    tokens: dict[str, str]
    runs: dict[str, str]  # label -> run id
    predictions: int

    @property
    def url(self) -> str:
        return self.served.url

    def predict(self, n: int) -> None:
        headers = {"Authorization": f"Bearer {self.tokens['predictor']}"}
        with httpx.Client(base_url=self.url, timeout=30.0) as client:
            for _ in range(n):
                r = client.post("/v1/endpoints/churn-api/predict", json=ROW, headers=headers)
                assert r.status_code == 200, r.text
        self.predictions += n


def _populate(ws: Any) -> tuple[dict[str, str], dict[str, str]]:
    tracking = ws.tracking
    hostile = tracking.create_run("training", XSS_SCRIPT, tags={"team": XSS_IMG})
    tracking.log_params(hostile.id, {"lr": 0.1, "note": XSS_IMG, "depth": 3})
    tracking.log_batch(hostile.id, [("loss", 1.0 / (s + 1), s, None) for s in range(LOSS_POINTS)])
    tracking.log_batch(hostile.id, [("acc", 0.5 + s / 40, s, None) for s in range(10)])
    tracking.end_run(hostile.id)
    baseline = tracking.create_run("training", "baseline")
    tracking.log_params(baseline.id, {"lr": 0.2, "depth": 3})
    tracking.log_batch(
        baseline.id, [("loss", 2.0 / (s + 1), 2 * s, None) for s in range(BASELINE_POINTS)]
    )
    tracking.end_run(baseline.id)

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    ws.registry.register_model("churn", model, X, run_id=hostile.id, description=XSS_SCRIPT)
    ws.registry.register_model("churn", model, X, run_id=baseline.id, description=XSS_IMG)
    ws.registry.set_alias("churn", "champion", 1, reason="first")
    ws.registry.set_alias("churn", "champion", 2, reason="better loss")
    ws.registry.set_alias("churn", "champion", 1, reason="rolled back")
    ws.registry.alias_rules.protect("churn", "champion", role="admin")
    ws.endpoints.deploy("churn-api", {"model": "models:/churn@champion"})
    tokens = {role: ws.tokens.create(role, role)[1] for role in ("viewer", "predictor")}
    return tokens, {"hostile": hostile.id, "baseline": baseline.id}


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from modelplane.config import Settings
    from modelplane.context import Workspace

    base = tmp_path_factory.mktemp("ui")
    home = base / "home"
    settings = Settings(
        home=home, db_url=f"sqlite:///{home / 'modelplane.db'}", artifacts=str(home / "artifacts")
    )
    ws = Workspace(settings, actor="owner")
    tokens, runs = _populate(ws)
    port = free_port()
    log = base / "server.stderr"
    log_file = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelplane", "--home", str(home), "serve", "--port", str(port),
         "--poll-interval", str(POLL_INTERVAL), "--drain-seconds", "1"],
        env={**server_env(), "MODELPLANE_AUTH": "required"},
        cwd=base,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
        start_new_session=True,
    )  # fmt: skip
    served = Served(f"http://127.0.0.1:{port}", port, proc, home, ws, log, log_file)
    try:
        wait_ready(served)
        site = Site(served, tokens, runs, 0)
        site.predict(5)
        yield site
    finally:
        if served.stop() not in (0, -signal.SIGTERM):
            sys.stderr.write(served.stderr())
        ws.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (make unit installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def signed_in(browser: Any, site: Site) -> Iterator[Any]:
    """A browser context signed in with the viewer token through the sign-in form."""
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/ui")
    assert "/ui/login" in page.url  # tokens are required: the dashboard asks for one
    page.fill("input[name=token]", site.tokens["viewer"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/ui")
    page.close()
    try:
        yield context
    finally:
        context.close()


@dataclass
class Watched:
    """A page and the console errors it logged (a CSP violation is one)."""

    page: Any
    errors: list[str]


@pytest.fixture
def page(signed_in: Any) -> Iterator[Watched]:
    tab = signed_in.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield Watched(tab, errors)
    finally:
        with contextlib.suppress(Exception):
            tab.close()


def screenshot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
