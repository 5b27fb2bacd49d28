"""The weekly review over a real ledger with known figures: rows written by the real
LedgerStore across two ISO weeks (2024-W18 and 2024-W19), admin events (incident, prompt loads,
rollouts) and alert transitions in the same database; every figure below is worked by hand.

Costs are set on the rows (nano-dollars), so the spend figures do not depend on the catalog:

    W18 (Mon 29 Apr)   search/triage/gpt-4o        4 x $0.25 = $1.00
                       support/reply/gpt-4o-mini   2 x $0.10 = $0.20   (support-reply v1)
    W19 (Mon 6 May)    search/triage/gpt-4o        6 x $0.25 = $1.50
    W19 (Wed 8 May)    search/triage/gpt-4o-mini   1 x $0.10 = $0.10
                       support/<script>/gpt-4o-mini 3 x $0.10 = $0.30  (support-reply v2)

Totals $1.20 -> $1.90: +$0.70, +58.33 %. Movers: project search and workflow triage +$0.60
each, model gpt-4o +$0.50, workflow <script> +$0.30, ...
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from daytwo.alerts.history import AlertHistory
from daytwo.cli.main import cli
from daytwo.config.load import validate_config
from daytwo.core.record import CallRecord
from daytwo.finops.weekly import WeeklyReport, build_weekly, iso_week
from daytwo.finops.weekly_forecast import NOT_AVAILABLE, Exhaustion, MonthEnd, Projection
from daytwo.finops.weekly_render import html, markdown
from daytwo.incidents import record as incidents
from daytwo.keys.store import KeyStore, write_event
from daytwo.ledger.store import LedgerStore, open_store
from daytwo.pricing.catalog import PriceBook

W18 = datetime(2024, 4, 29, tzinfo=UTC).timestamp()
W19 = datetime(2024, 5, 6, tzinfo=UTC).timestamp()
DAY = 86_400
HOUR = 3_600
XSS = "<script>alert(1)</script>"
#: Budgets and the forecast are "as of now": Sunday 12 May 2024, noon.
NOW = datetime(2024, 5, 12, 12, tzinfo=UTC)

_ids = itertools.count()


def call(at: float, project: str, workflow: str, model: str, cost: int, **extra: Any) -> CallRecord:
    n = next(_ids)
    fields: dict[str, Any] = {
        "id": f"call-{n:08d}",
        "started_at": at + n,
        "ended_at": at + n + 1,
        "latency_ms": 500.0,
        "status": "ok",
        "http_status": 200,
        "operation": "chat",
        "alias": "chat",
        "trace_id": f"{n:032x}",
        "project": project,
        "workflow": workflow,
        "attributed": True,
        "provider": "openai",
        "served_model": model,
        "attempts": 1,
        "stream": False,
        "input_tokens": 10_000,
        "output_tokens": 1_000,
        "cost_nanousd": cost,
    }
    fields.update(extra)
    return CallRecord(**fields)


def seed_calls(store: LedgerStore) -> None:
    v1 = {"prompt_name": "support-reply", "prompt_version": 1, "prompt_label": "prod"}
    v2 = {**v1, "prompt_version": 2}
    rows = [
        *(call(W18 + HOUR, "search", "triage", "gpt-4o", 250_000_000) for _ in range(4)),
        *(call(W18 + DAY, "support", "reply", "gpt-4o-mini", 100_000_000, **v1) for _ in range(2)),
        *(call(W19 + HOUR, "search", "triage", "gpt-4o", 250_000_000) for _ in range(6)),
        call(W19 + 2 * DAY, "search", "triage", "gpt-4o-mini", 100_000_000),
        *(call(W19 + 2 * DAY, "support", XSS, "gpt-4o-mini", 100_000_000, **v2) for _ in range(3)),
    ]
    store.insert_batch(rows)


def seed_events(store: LedgerStore) -> None:
    keys = KeyStore(store)
    with keys.transaction() as conn:
        labels = {"support-reply": {"prod": 1, "canary": 1}}
        write_event(conn, W18 + 60, "loader", "prompts.load", "prompts", None, {"labels": labels})
        labels = {"support-reply": {"prod": 2, "canary": 1}}
        write_event(
            conn, W19 + DAY, "loader", "prompts.reload", "prompts", None, {"labels": labels}
        )
        ro = {"kind": "prompt", "target": "support-reply@prod", "candidate": "v2", "reason": None}
        write_event(conn, W19 + DAY + 60, "ops", "rollout.start", "ro_1", None, ro)
        done = {**ro, "reason": f"error rate above 5% on {XSS}"}
        write_event(conn, W19 + DAY + 600, "ops", "rollout.rollback", "ro_1", None, done)
    # one incident last week (not shown), one this week: 1 h 30 min, one still open
    old = incidents.start(keys, title="old", severity="sev3", actor="ops", now=W18 + HOUR)
    incidents.end(keys, old.id, actor="ops", now=W18 + 2 * HOUR)
    i = incidents.start(keys, title="gpt-4o 5xx", severity="sev2", actor="ops", now=W19 + HOUR)
    incidents.end(keys, i.id, actor="ops", now=W19 + HOUR + 5_400)
    incidents.start(keys, title=XSS, severity="sev3", actor="ops", now=W19 + 3 * DAY)
    history = AlertHistory(store)

    def transition(at: float, rule: str, state: str, started: float) -> dict[str, Any]:
        return {
            "at": at,
            "kind": "transition",
            "rule": rule,
            "fingerprint": f"fp-{rule}",
            "state": state,
            "severity": "warning",
            "labels": orjson.dumps({"alias": "chat"}).decode(),
            "started_at": started,
            "replica": "r1",
        }

    history.write(
        [
            transition(W18 + DAY, "errors", "firing", W18 + DAY),  # last week, resolved there
            transition(W18 + DAY + 600, "errors", "resolved", W18 + DAY),
            transition(W19 + HOUR, "errors", "firing", W19 + HOUR),  # this week: 20 min
            transition(W19 + HOUR + 1_200, "errors", "resolved", W19 + HOUR),
            transition(W19 + 4 * DAY, "latency", "firing", W19 + 4 * DAY),  # still firing
        ]
    )


CONFIG = {
    "spend_control": {
        "budgets": [
            {"name": "search-month", "scope": {"project": "search"}, "window": "month", "usd": 2},
            {"name": "all-week", "window": "week", "usd": "1.50"},
        ]
    },
    "finops": {"weekly": {"top": 5}},
}


@pytest.fixture
def store(db_url: str) -> Iterator[LedgerStore]:
    s = open_store(db_url)
    try:
        seed_calls(s)
        seed_events(s)
        yield s
    finally:
        s.close()


def review(store: LedgerStore, **kw: Any) -> WeeklyReport:
    start, end = iso_week("2024-W19")
    cfg = validate_config(CONFIG)
    book = PriceBook.from_config(cfg.pricing)
    return build_weekly(store, start=start, end=end, config=cfg, book=book, now=NOW, **kw)


def usd(value: dict[str, Any]) -> str:
    return str(value["usd"])


def test_iso_weeks() -> None:
    assert iso_week("2024-W19") == (
        datetime(2024, 5, 6, tzinfo=UTC),
        datetime(2024, 5, 13, tzinfo=UTC),
    )
    assert iso_week("2020-W53")[0] == datetime(2020, 12, 28, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a week of 2021"):
        iso_week("2021-W53")
    with pytest.raises(ValueError, match="expected an ISO week"):
        iso_week("2024-19")


def test_spend_and_its_drivers_week_over_week(store: LedgerStore) -> None:
    j = review(store).to_json()
    s = j["spend"]
    assert usd(s["total"]) == "1.900000000" and usd(s["previous_total"]) == "1.200000000"
    assert usd(s["change"]) == "0.700000000"
    assert s["change_pct"] == pytest.approx(58.333333, abs=1e-5)
    assert (s["calls"], s["previous_calls"]) == (10, 6)
    # Monday $1.50, Wednesday $0.40; last week Monday $1.00, Tuesday $0.20
    assert [usd(d) for d in s["daily"]][:3] == ["1.500000000", "0.000000000", "0.400000000"]
    assert [usd(d) for d in s["previous_daily"]][:2] == ["1.000000000", "0.200000000"]
    assert [(g["key"], usd(g["cost"])) for g in s["by_project"]] == [
        ("search", "1.600000000"),
        ("support", "0.300000000"),
    ]
    assert [(g["key"], usd(g["cost"])) for g in s["by_model"]] == [
        ("gpt-4o", "1.500000000"),
        ("gpt-4o-mini", "0.400000000"),
    ]
    movers = [(m["dim"], m["key"], usd(m["change"])) for m in s["top_movers"]]
    assert movers == [
        ("project", "search", "0.600000000"),
        ("workflow", "triage", "0.600000000"),
        ("model", "gpt-4o", "0.500000000"),
        ("workflow", XSS, "0.300000000"),
        ("model", "gpt-4o-mini", "0.200000000"),
    ]


def test_budgets_prompts_rollouts_incidents_and_alerts(store: LedgerStore) -> None:
    j = review(store).to_json()
    # May so far: search $1.60 of $2 (80 %); the ISO week of NOW: everything of W19, $1.90
    budgets = {b["name"]: b for b in j["budgets"]}
    assert usd(budgets["search-month"]["spent"]) == "1.600000000"
    assert budgets["search-month"]["utilisation"] == pytest.approx(0.8)
    assert budgets["search-month"]["window_end"] == "2024-06-01T00:00:00Z"
    assert usd(budgets["all-week"]["spent"]) == "1.900000000"
    assert budgets["all-week"]["utilisation"] == pytest.approx(1.9 / 1.5)
    assert budgets["all-week"]["projected_exhaustion"] is None

    p = j["prompts"]
    assert p["loads"] == 1
    assert [(m["prompt"], m["label"], m["from"], m["to"]) for m in p["label_moves"]] == [
        ("support-reply", "prod", 1, 2)
    ]
    (new,) = p["new_versions"]
    assert new["version"] == "support-reply@v2" and new["calls"] == 3
    assert usd(new["cost_per_call"]) == "0.100000000"

    assert [(r["action"], r["target"]) for r in j["rollouts"]] == [
        ("start", "support-reply@prod"),
        ("rollback", "support-reply@prod"),
    ]

    assert [(i["title"], i["status"], i["duration_s"]) for i in j["incidents"]] == [
        ("gpt-4o 5xx", "ended", 5_400.0),
        (XSS, "open", None),
    ]
    a = j["alerts"]
    assert (a["fired"], a["previous_fired"], a["resolved"], a["still_firing"]) == (2, 1, 1, 1)
    assert [(x["rule"], x["duration_s"]) for x in a["alerts"]] == [
        ("errors", 1_200.0),
        ("latency", None),
    ]
    assert j["forecast"] == {"available": False, "note": NOT_AVAILABLE}
    decisions = j["decisions"]
    assert decisions[0].startswith("incident ") and "still open" in decisions[0]
    assert any(d.startswith("budget all-week is spent (127%") for d in decisions)


def test_markdown_summary_has_the_hand_worked_figures(store: LedgerStore) -> None:
    text = markdown(review(store))
    lines = text.splitlines()
    assert 5 <= len(lines) <= 8
    assert lines[0] == "*daytwo weekly review* (2024-05-06 00:00 – 2024-05-12 23:59 UTC)"
    assert lines[1] == "- Spend: $1.90 (+$0.70, +58.3% week over week; 10 calls)"
    assert lines[2] == "- Top driver: project `search` +$0.60 ($1.00 → $1.60)"
    assert "- Incidents: 2 (1 open); alerts fired: 2 (previous week 1), resolved: 1" in lines
    assert lines[-1].startswith("- Needs a decision: incident ")


def test_a_forecast_through_the_seam_is_shown_with_budget_exhaustion(store: LedgerStore) -> None:
    """The seam's contract (finops.weekly_forecast.Forecaster): what the forecast gives is what
    the review shows; the figures here are the test's own, not a forecast."""
    seen: dict[str, Any] = {}

    def forecaster(s: LedgerStore, *, now: datetime, budgets: Any, timezone: str) -> MonthEnd:
        seen.update(now=now, budgets=[b.name for b in budgets], timezone=timezone)
        total = Projection(None, 3_000_000_000, 7_000_000_000, 6_000_000_000, 8_500_000_000, 0.8)
        at = datetime(2024, 5, 20, tzinfo=UTC)
        return MonthEnd(total, (replace(total, key="search"),), (Exhaustion("search-month", at),))

    r = review(store, forecaster=forecaster)
    assert seen == {"now": NOW, "budgets": ["search-month", "all-week"], "timezone": "UTC"}
    j = r.to_json()
    assert j["forecast"]["available"] is True
    assert usd(j["forecast"]["total"]["month_end"]) == "7.000000000"
    exhaustion = {b["name"]: b["projected_exhaustion"] for b in j["budgets"]}
    assert exhaustion == {"search-month": "2024-05-20T00:00:00Z", "all-week": None}
    assert "- Month-end forecast: $7.00 ($6.00–$8.50, 80% interval)" in markdown(r).splitlines()
    page = html(r)
    assert NOT_AVAILABLE not in page and "2024-05-20T00:00:00Z" in page


def test_html_escapes_user_text_and_loads_nothing(store: LedgerStore) -> None:
    page = html(review(store))
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert NOT_AVAILABLE in page


def test_cli_prints_json_and_writes_the_files(
    store: LedgerStore, db_url: str, tmp_path: Any
) -> None:
    out, md = tmp_path / "weekly.html", tmp_path / "weekly.md"
    args = ["report", "weekly", "--ledger", db_url, "--week", "2024-W19"]
    result = CliRunner().invoke(
        cli, [*args, "--json", "--html", str(out), "--markdown", str(md)], env={"DAYTWO_CONFIG": ""}
    )
    assert result.exit_code == 0, result.output
    j = orjson.loads(result.stdout)
    assert usd(j["spend"]["total"]) == "1.900000000"
    assert j["window"] == {"start": "2024-05-06T00:00:00Z", "end": "2024-05-13T00:00:00Z"}
    assert "&lt;script&gt;" in out.read_text(encoding="utf-8")
    assert md.read_text(encoding="utf-8").splitlines()[1].startswith("- Spend: $1.90 (+$0.70")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--week", "2024-W60"], "--week: '2024-W60' is not a week of 2024"),
        (["--week", "2024-W19", "--since", "7d"], "use either --week or --since, not both"),
        (["--since", "seven days"], "--since: expected a duration"),
    ],
)
def test_cli_usage_errors_are_one_line(args: list[str], needle: str, tmp_path: Any) -> None:
    result = CliRunner().invoke(cli, ["report", "weekly", *args], env={"DAYTWO_CONFIG": ""})
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("daytwo report: ") and needle in line


def test_cli_without_a_ledger_fails_in_one_line(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    result = CliRunner().invoke(
        cli, ["report", "weekly", "--ledger", url], env={"DAYTWO_CONFIG": ""}
    )
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("daytwo report: ") and "Traceback" not in result.output


def test_the_latest_stored_reconciliation_is_shown(store: LedgerStore) -> None:
    from daytwo.finops.reconcile_runs import ACTION, ACTOR, ReconcileRun

    assert review(store).to_json()["reconciliation"]["stored"] is False
    start, end = iso_week("2024-W19")
    keys = KeyStore(store)
    for at, billed in ((NOW.timestamp() - 90_000, 1_000_000_000), (NOW.timestamp(), 2_000_000_000)):
        run = ReconcileRun(
            provider="openai",
            at=at,
            start=start,
            end=end,
            billed_nanos=billed,
            ledger_nanos=1_900_000_000,
            remainder_nanos=billed - 1_900_000_000,
            remainder_pct=(billed - 1_900_000_000) / billed * 100,
            gap=billed == 2_000_000_000,
        )
        keys.record_event(actor=ACTOR, action=ACTION, target="openai", after=run.to_event(), at=at)
    j = review(store).to_json()["reconciliation"]
    assert j["stored"] is True
    ((only,),) = [j["runs"]]
    assert (only["provider"], only["billed_usd"], only["unexplained_usd"], only["gap"]) == (
        "openai",
        "2",
        "0.1",
        True,
    )
    page = html(review(store))
    assert "unexplained $0.1000 (5.00%)" in page and "<strong>gap</strong>" in page
