"""The weekly review's HTML opened in a real headless Chromium (Debian's, driven by Playwright):
it requests nothing but its own file, logs no error, shows a workflow named ``<script>`` as
text (no dialog), draws its charts, and a screenshot is kept in the test's tmp dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Request, Route, sync_playwright
from tests.finops.test_weekly import XSS, review, seed_calls, seed_events

from daytwo.finops.weekly_forecast import NOT_AVAILABLE
from daytwo.finops.weekly_render import html
from daytwo.ledger.store import open_store

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = pytest.mark.integration

if not CHROMIUM.exists():  # scripts/bootstrap installs it: a missing browser is a broken setup
    pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap", pytrace=False)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_report_renders_offline_with_hostile_text_as_text(tmp_path: Path, scheme: str) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        seed_calls(store)
        seed_events(store)
        page_html = html(review(store))
    finally:
        store.close()
    path = tmp_path / "weekly.html"
    path.write_text(page_html, encoding="utf-8")

    requests: list[str] = []
    errors: list[str] = []
    dialogs: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning"):
            errors.append(msg.text)

    def on_dialog(d: Dialog) -> None:
        dialogs.append(d.message)
        d.dismiss()

    def on_request(r: Request) -> None:
        requests.append(r.url)

    def refuse_remote(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(color_scheme=scheme, viewport={"width": 1100, "height": 900})
            page.on("console", on_console)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", on_dialog)
            page.on("request", on_request)
            page.route("**/*", refuse_remote)
            page.goto(path.as_uri())
            page.wait_for_load_state("load")

            assert requests == [path.as_uri()]
            assert errors == [] and dialogs == []
            assert page.locator("script").count() == 0
            assert page.locator("#total").inner_text() == "$1.90"
            assert page.get_by_text(XSS, exact=True).count() >= 1  # the workflow, as text
            assert page.locator("#forecast-na").inner_text() == NOT_AVAILABLE
            # the daily chart: two bars per day of the week; project, workflow, model charts
            assert page.locator("svg").count() == 4
            assert page.locator("svg").first.locator("rect").count() == 14
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(21, 24, 27)")
            shot = tmp_path / f"weekly-{scheme}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            print(f"screenshot: {shot}")
        finally:
            browser.close()
