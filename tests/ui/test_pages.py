"""Every dashboard page in a real browser (Chromium) against a real server: what it shows, the
charts holding every logged point, hostile text shown as text and never run, live endpoint
numbers following new predictions, the audit chain verified — and a screenshot of each."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import expect

from .conftest import BASELINE_POINTS, LOSS_POINTS, XSS_IMG, XSS_SCRIPT, Site, Watched, screenshot

TIMEOUT = 15_000  # ms


def _clean(w: Watched) -> None:
    """Nothing hostile ran and the page logged no error (a CSP refusal logs one)."""
    assert w.page.evaluate("typeof window.__xss") == "undefined"
    assert w.errors == []


def _rows(page: Any, selector: str) -> list[str]:
    return [r.inner_text() for r in page.query_selector_all(selector)]


def test_overview(page: Watched, site: Site) -> None:
    p = page.page
    p.goto("/ui")
    counts = dict(
        zip(
            _rows(p, ".cards .label"),
            (int(c) for c in _rows(p, ".cards .count")),
            strict=True,
        )
    )
    assert counts["experiments"] == 1 and counts["models"] == 1 and counts["endpoints"] == 1
    assert counts["audit entries"] > 5
    assert XSS_SCRIPT in p.inner_text("main")  # the hostile run name, as text
    assert p.query_selector("a[href='/ui/endpoints/churn-api']") is not None
    assert p.query_selector("a[href='/ui/models/churn/versions/2']") is not None
    screenshot(p, "overview")
    _clean(page)


def test_experiments_and_comparing_two_runs(page: Watched, site: Site) -> None:
    p = page.page
    p.goto("/ui/experiments")
    assert _rows(p, "table.grid tbody tr td:first-child") == ["training"]
    screenshot(p, "experiments")
    p.click("text=training")
    p.wait_for_url(re.compile(r"/ui/experiments/training$"))
    rows = _rows(p, "table.runs tbody tr")
    assert len(rows) == 2
    text = p.inner_text("table.runs")
    assert XSS_SCRIPT in text and XSS_IMG in text and "FINISHED" in text
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", text)  # ISO 8601 start times
    screenshot(p, "experiment")
    for box in p.query_selector_all("input[name=runs]"):
        box.check()
    p.click("text=Compare selected")
    p.wait_for_url(re.compile(r"/ui/compare\?runs="))
    ids = p.url.split("runs=", 1)[1].split(",")
    assert sorted(ids) == sorted(site.runs.values())
    _clean(page)


def test_run_page_charts_every_logged_point(page: Watched, site: Site) -> None:
    p = page.page
    p.goto(f"/ui/runs/{site.runs['hostile']}")
    p.wait_for_selector(".chart[data-rendered='1'] canvas", timeout=TIMEOUT)
    doc = json.loads(p.text_content("#run-charts") or "")
    charts = {c["key"]: c for c in doc["charts"]}
    assert len(charts["loss"]["x"]) == LOSS_POINTS
    assert len(charts["loss"]["series"][0]["values"]) == LOSS_POINTS
    assert len(charts["acc"]["x"]) == 10
    drawn = {
        el.get_attribute("data-key"): el.get_attribute("data-points")
        for el in p.query_selector_all(".chart[data-rendered='1']")
    }
    assert drawn == {"loss": str(LOSS_POINTS), "acc": "10"}
    assert p.locator(".chart[data-key='loss'] canvas").count() == 1
    main = p.inner_text("main")
    assert XSS_SCRIPT in main and XSS_IMG in main  # run name, param and tag: text
    assert "0.1" in p.inner_text("table.kv >> nth=1")  # params
    screenshot(p, "run")
    _clean(page)


def test_compare_highlights_differences_and_overlays_charts(page: Watched, site: Site) -> None:
    p = page.page
    p.goto(f"/ui/compare?runs={site.runs['hostile']},{site.runs['baseline']}")
    p.wait_for_selector(".chart[data-rendered='1'] canvas", timeout=TIMEOUT)
    differs = _rows(p, "tr.differs th")
    assert "lr" in differs and "note" in differs and "loss" in differs
    assert "depth" not in differs  # the same in both runs
    loss = p.query_selector(".chart[data-key='loss']")
    assert loss is not None and loss.get_attribute("data-series") == "2"
    assert loss.get_attribute("data-points") == str(LOSS_POINTS + BASELINE_POINTS)
    screenshot(p, "compare")
    _clean(page)


def test_models_model_and_alias_history(page: Watched, site: Site) -> None:
    p = page.page
    p.goto("/ui/models")
    assert "@champion → v1" in p.inner_text("table.grid")
    screenshot(p, "models")
    p.goto("/ui/models/churn")
    assert len(p.query_selector_all("table.versions tbody tr")) == 2
    history = _rows(p, "table.history tbody tr")
    assert len(history) == 3
    reasons = " ".join(history)
    assert "better loss" in reasons and "rolled back" in reasons and "owner" in reasons
    assert "admin or higher" in p.inner_text("main")  # the protection rule
    assert XSS_SCRIPT not in p.inner_text("table.versions")
    screenshot(p, "model")
    _clean(page)


def test_version_card_and_lineage(page: Watched, site: Site) -> None:
    p = page.page
    p.goto("/ui/models/churn/versions/1")
    card = p.inner_text(".card-body")
    assert XSS_SCRIPT in card  # shown as the text it is, once escaped (no &lt; on screen)
    assert "&lt;" not in card
    lineage = p.inner_text("ol.lineage")
    assert XSS_SCRIPT in lineage  # the run's name
    assert "churn-api" in lineage  # the endpoint serving v1 through @champion
    assert p.query_selector(f"ol.lineage a[href='/ui/runs/{site.runs['hostile']}']") is not None
    assert "float64" in p.inner_text("main")  # the signature
    screenshot(p, "version")
    p.goto("/ui/models/churn/versions/2")
    assert "no endpoint serves it" in p.inner_text("ol.lineage")
    _clean(page)


def test_endpoints_and_live_numbers_follow_predictions(page: Watched, site: Site) -> None:
    p = page.page
    p.goto("/ui/endpoints")
    assert "ready" in p.inner_text("table.grid")
    screenshot(p, "endpoints")
    p.goto("/ui/endpoints/churn-api")
    requests = p.locator("[data-field=requests]")
    assert int(requests.inner_text()) == site.predictions
    assert "models:/churn@champion" in p.inner_text("main")
    site.predict(7)
    expect(requests).to_have_text(str(site.predictions), timeout=TIMEOUT)  # polled by ui.js
    assert p.inner_text("[data-field=state]") == "ready"
    assert p.inner_text("[data-field=p50]") not in ("", "–")
    screenshot(p, "endpoint")
    _clean(page)


def test_audit_verified_filtered_and_paged(page: Watched, site: Site) -> None:
    p = page.page
    p.goto("/ui/audit")
    assert p.inner_text("#verify-status") == "verified"
    actions = _rows(p, "table.grid tbody td:nth-child(4)")
    assert "alias.set" in actions
    screenshot(p, "audit")
    p.fill("input[name=target]", "models/churn")
    p.click("text=Filter")
    p.wait_for_url(re.compile(r"target=models%2Fchurn"))
    targets = _rows(p, "table.grid tbody td:nth-child(5)")
    assert targets and all(t.startswith("models/churn") for t in targets)
    _clean(page)


def test_unknown_names_answer_a_404_page(page: Watched, site: Site) -> None:
    p = page.page
    answer = p.goto("/ui/models/nope")
    assert answer is not None and answer.status == 404
    assert "no model" in p.inner_text("main").lower() or "nope" in p.inner_text("main")
    screenshot(p, "not-found")
    answer = p.goto("/ui/experiments/" + "x" * 300)
    assert answer is not None and answer.status == 400


def test_signing_in_with_a_bad_token_shows_an_error(browser: Any, site: Site) -> None:
    context = browser.new_context(base_url=site.url)
    try:
        p = context.new_page()
        p.goto("/ui/models")
        assert "/ui/login" in p.url
        p.fill("input[name=token]", "mpt_000000000000_" + "A" * 43)
        p.click("button[type=submit]")
        p.wait_for_selector("p.error")
        assert "Not signed in" in p.inner_text("p.error")
        screenshot(p, "login")
        p.fill("input[name=token]", site.tokens["viewer"])
        p.click("button[type=submit]")
        p.wait_for_url(f"{site.url}/ui/models")  # back where the browser was going
        cookie = next(c for c in context.cookies() if c["name"] == "modelplane_ui")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
        # the cookie is for the dashboard only: the API refuses the same browser
        assert p.request.get(f"{site.url}/api/v1/models").status == 401
        p.click("text=Sign out")
        p.wait_for_url(re.compile(r"/ui/login"))
        assert not [c for c in context.cookies() if c["name"] == "modelplane_ui"]
    finally:
        context.close()
