"""The HTML report opened in a real headless Chromium (Debian's, driven by Playwright): it loads
nothing from anywhere, logs no error, shows hostile case ids and answers as text, puts the
baseline's and the candidate's answers side by side, draws its charts, and its filters work."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Page,
    Request,
    Route,
    sync_playwright,
)
from tests.evals import report_data as data

from daytwo.evals.report import html as html_report
from daytwo.evals.report import write_reports
from daytwo.evals.report.text import clean

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not CHROMIUM.exists():  # scripts/bootstrap installs it: a missing browser is a broken setup
    pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap", pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Opened:
    page: Page
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def open_report(browser: Browser, path: Path) -> Opened:
    page = browser.new_page()
    opened = Opened(page)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning"):
            opened.console_errors.append(msg.text)

    def on_dialog(dialog: Dialog) -> None:
        opened.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_request(request: Request) -> None:
        opened.requests.append(request.url)

    def refuse_remote(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    page.on("console", on_console)
    page.on("pageerror", lambda exc: opened.console_errors.append(str(exc)))
    page.on("dialog", on_dialog)
    page.on("request", on_request)
    page.route("**/*", refuse_remote)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return opened


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    run = data.run()
    write_reports(
        run,
        data.comparison(run),
        html=path,
        verdict=data.failing_verdict(),
        cases=data.cases(8),
    )
    return path


@pytest.fixture
def opened(browser: Browser, report: Path) -> Iterator[Opened]:
    got = open_report(browser, report)
    try:
        yield got
    finally:
        got.page.close()


def test_loads_nothing_and_logs_no_error(opened: Opened, report: Path) -> None:
    assert opened.requests == [report.as_uri()]
    assert opened.console_errors == []
    policy = opened.page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute(
        "content"
    )
    assert policy is not None and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


def test_hostile_text_is_shown_as_text(opened: Opened) -> None:
    page = opened.page
    assert page.locator("img").count() == 0
    assert page.locator("body script").count() == 1  # the report's own filter script only
    assert opened.dialogs == []
    first = page.locator("section.case").first
    assert first.locator(".case-id").inner_text() == " ".join(clean(data.HOSTILE_ID).split())
    answers = first.locator("pre.answer").all_inner_texts()
    assert answers == [data.HOSTILE_ANSWER, data.HOSTILE_ANSWER]
    assert first.locator("pre.vars").inner_text().count('"Ada <0>"') == 1


def test_the_gate_verdict_leads_with_its_failed_criteria(opened: Opened) -> None:
    gate = opened.page.locator("#gate")
    assert gate.locator("strong").inner_text() == "Deploy gate: FAIL"
    assert gate.locator("li").all_inner_texts() == [
        "FAIL: pass rate 50.0% < 85.0% <limit>",
        "FAIL: cost per call 2.0× baseline > 1.5×",
        "ok: latency p95 127 ms <= 2000 ms",
    ]


def test_side_by_side_shows_both_answers_and_each_assertion(opened: Opened) -> None:
    case = opened.page.locator("section.case").nth(1)  # case-1, a regression
    assert case.get_attribute("data-regression") == "true"
    sides = case.locator(".side")
    assert sides.locator("h4").all_inner_texts() == [data.BASE, data.CAND]
    assert sides.nth(0).locator("pre.answer").inner_text() == f"{data.BASE} answers case 1"
    assert sides.nth(1).locator("pre.answer").inner_text() == f"{data.CAND} answers case 1"
    grade_rows = sides.nth(1).locator("table.grades tr").all_inner_texts()
    assert len(grade_rows) == 3  # header + contains + llm-rubric
    assert re.search(r"contains\s+contains\s+fail\s+0\.000\s+missing <b>refund</b>", grade_rows[1])
    assert case.locator("pre.expected").inner_text() == "expected answer 1"
    errored = opened.page.locator("section.case").nth(data.ERRORED).locator(".side").nth(1)
    assert errored.locator("pre.error-text").inner_text() == "provider down: 503 <html>"


def test_charts_draw_a_bar_per_metric_interval_and_per_score_bin(opened: Opened) -> None:
    page = opened.page
    comparison = data.comparison(data.run())
    rows = page.locator("#delta-chart g.delta-row")
    assert rows.count() == len(comparison.metrics)
    with_ci = [m.metric for m in comparison.metrics if m.ci_low is not None]
    drawn = [
        rows.nth(k).get_attribute("data-metric")
        for k in range(rows.count())
        if rows.nth(k).locator("rect.ci-bar").count() == 1
    ]
    assert drawn == with_ci
    box = page.locator("#delta-chart").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    for svg, label in zip(page.locator("svg.histogram").all(), (data.BASE, data.CAND), strict=True):
        assert svg.get_attribute("data-target") == label
        counts = [
            int(c or 0)
            for c in svg.locator("rect.hist-bar").evaluate_all(
                "bars => bars.map(b => b.getAttribute('data-count'))"
            )
        ]
        assert len(counts) == 10 and sum(counts) == 8


def test_filters_show_failed_cases_then_regressions(opened: Opened) -> None:
    page = opened.page
    visible = page.locator("section.case:visible")
    assert visible.count() == 8
    page.locator("#only-failed").check()
    failed_ids = {f"case-{i}" for i in (*data.REGRESSED, data.ERRORED, data.GRADE_ERROR)}
    assert set(visible.locator(".case-id").all_inner_texts()) == failed_ids
    assert page.locator("#shown-count").inner_text() == str(len(failed_ids))
    page.locator("#only-regressions").check()
    assert visible.locator(".case-id").all_inner_texts() == [f"case-{i}" for i in (1, 3, 4)]
    page.locator("#only-failed").uncheck()
    page.locator("#only-regressions").uncheck()
    assert visible.count() == 8
    assert opened.console_errors == []


def test_a_run_without_comparison_shows_every_target_and_no_regression_filter(
    browser: Browser, tmp_path: Path
) -> None:
    path = tmp_path / "run.html"
    write_reports(data.run(), None, html=path)
    got = open_report(browser, path)
    try:
        page = got.page
        assert page.locator("#metrics").count() == 0 and page.locator("#delta-chart").count() == 0
        assert page.locator("#only-regressions").count() == 0
        assert page.locator("svg.histogram").count() == 2
        assert page.locator("#targets tr").count() == 3
        page.locator("#only-failed").check()
        assert page.locator("section.case:visible").count() == 5
        assert got.console_errors == [] and got.requests == [path.as_uri()]
    finally:
        got.page.close()


def test_the_policy_allows_exactly_the_shipped_script() -> None:
    script = (html_report.TEMPLATES / html_report.SCRIPT).read_text(encoding="utf-8")
    page = html_report.render(data.run(), None)
    found = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert found == [script]
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None and html.unescape(policy[1]) == html_report.csp(script)
