"""`daytwo demo` runs end to end: real gateway, simulated providers, SQLite ledger, report, a
provider outage the apps never notice because traffic fails over, alerts that fire and
resolve, and a silent model change that only the quality checks notice (model_changed, the
drift alert, the SLO burn).

The view's logic (events from breaker states, the outage's numbers) is tested on its own over
a real ``Health`` and a real SQLite ledger; the subprocess run checks the whole story shows."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from tests.cli.records import call_record
from tests.fakeclock import FakeClock

from daytwo.alerts.notify import Notification
from daytwo.config.slos import SloConfig
from daytwo.core.errors import UpstreamStatusError
from daytwo.core.score import ScoreRecord
from daytwo.demo.config import Outage, model_change_for, slos
from daytwo.demo.outage import outage_report, render_outage
from daytwo.demo.providers import Event, Topology, Watch
from daytwo.demo.quality import quality_report, render_quality
from daytwo.demo.traffic import Sample
from daytwo.gateway.runtime import Route
from daytwo.ledger.store import open_store
from daytwo.providers.base import Target
from daytwo.resilience.breaker import BreakerSettings, Health
from daytwo.state.base import SwitchRecord

MINI, MINI_FB = "openai/gpt-4o-mini", "anthropic/claude-haiku"
BIG, BIG_FB = "openai/gpt-4o", "anthropic/claude-sonnet"
GEMINI = "gemini/gemini-2.5-flash"


def _target(deployment: str) -> Target:
    provider, model = deployment.split("/")
    return Target(provider, model, deployment)


ROUTES = {
    "gpt-4o-mini": Route("gpt-4o-mini", "chat", (_target(MINI), _target(MINI_FB))),
    "gpt-4o": Route("gpt-4o", "chat", (_target(BIG), _target(BIG_FB))),
    "gemini-flash": Route("gemini-flash", "chat", (_target(GEMINI),)),
}


def _fail(health: Health, deployment: str, times: int = 1) -> None:
    for _ in range(times):
        health.failure(health.start(deployment), UpstreamStatusError(503, "overloaded"))


def _succeed(health: Health, deployment: str) -> None:
    health.success(health.start(deployment))


def test_topology_names_each_deployments_fallback_and_each_alias_primary() -> None:
    topo = Topology.from_routes(ROUTES)
    assert topo.fallbacks[MINI] == ("anthropic",)
    assert topo.fallbacks[MINI_FB] == ("openai",)  # the chain wraps: a retry may go back
    assert topo.fallbacks[GEMINI] == ()
    assert topo.primary == {"gpt-4o-mini": MINI, "gpt-4o": BIG, "gemini-flash": GEMINI}
    assert topo.aliases_of("openai") == ("gpt-4o-mini", "gpt-4o")


def test_a_provider_is_down_from_its_first_open_breaker_until_all_are_closed() -> None:
    clock = FakeClock()
    health = Health(
        BreakerSettings(consecutive_failures=2, open_s=1, max_open_s=2, half_open_probes=1),
        clock=clock,
    )
    watch = Watch(Topology.from_routes(ROUTES))
    for dep in (MINI, BIG, MINI_FB, GEMINI):
        _succeed(health, dep)
    watch.health(health.snapshot(), 1.0)
    assert watch.events == []

    _fail(health, MINI)
    watch.health(health.snapshot(), 2.0)
    assert watch.events == []  # one failure is not an outage

    _fail(health, MINI)
    _fail(health, BIG, 2)
    watch.health(health.snapshot(), 3.0)
    assert [e.text for e in watch.events] == [
        "openai: breaker open — traffic failing over to anthropic"
    ]
    assert watch.down("openai") and not watch.down("anthropic")

    clock.now += 1.5  # both half-open; gpt-4o-mini's probe succeeds, gpt-4o's has not run
    _succeed(health, MINI)
    watch.health(health.snapshot(), 4.5)
    assert len(watch.events) == 1, "one deployment still out: not recovered"

    _succeed(health, BIG)
    watch.health(health.snapshot(), 5.0)
    assert watch.events[-1].text == "openai: recovered — traffic back after 2.0s"
    assert [(d.provider, d.opened_s, d.recovered_s) for d in watch.downtimes] == [
        ("openai", 3.0, 5.0)
    ]


def test_a_deployment_without_fallback_says_so() -> None:
    health = Health(BreakerSettings(consecutive_failures=1), clock=FakeClock())
    watch = Watch(Topology.from_routes(ROUTES))
    _fail(health, GEMINI)
    watch.health(health.snapshot(), 1.0)
    assert [e.text for e in watch.events] == ["gemini: breaker open — no fallback to fail over to"]


def test_switches_turned_off_and_on_are_events() -> None:
    watch = Watch(Topology.from_routes(ROUTES))
    trip = SwitchRecord("project=batch", "budget b: spent", "budget", 1.0, source="budget")
    kill = SwitchRecord("project=default", "owner unknown", "demo-operator", 2.0)
    watch.switches({trip.key: trip}, 1.0)
    watch.switches({trip.key: trip, kill.key: kill}, 2.0)
    watch.switches({kill.key: kill}, 3.0)
    assert [(e.at_s, e.text) for e in watch.events] == [
        (1.0, "budget trip: project=batch switched off"),
        (2.0, "kill switch: project=default switched off by demo-operator"),
        (3.0, "project=batch switched back on"),
    ]


def test_alert_notifications_are_events() -> None:
    watch = Watch(Topology.from_routes(ROUTES))
    fired = Notification(
        status="firing", rule="failover", kind="fallback_rate", severity="warning",
        labels={"alias": "gpt-4o"}, value=0.25, threshold=0.2, unit="ratio", started_at=10.0,
        at=10.0, fingerprint="f",
    )  # fmt: skip
    watch.alert(fired, 2.0)
    watch.alert(replace(fired, status="resolved", at=11.5), 3.5)
    assert [(e.at_s, e.text) for e in watch.events] == [
        (2.0, "alert firing: failover (alias=gpt-4o): fallback rate 25.0% above 20.0%"),
        (3.5, "alert resolved: failover (alias=gpt-4o) after 1.5s"),
    ]


def test_model_changed_and_drift_notifications_are_events() -> None:
    watch = Watch(Topology.from_routes(ROUTES))
    before = {"served_model": "claude-sonnet-4-20250514", "fingerprint": None}
    after = {"served_model": "claude-sonnet-4-20260301", "fingerprint": None, "alias": "x"}
    changed = Notification(
        status="firing", rule="model_changed", kind="model_changed", severity="warning",
        labels={"provider": "anthropic", "deployment": BIG_FB, "alias": "gpt-4o"}, value=None,
        threshold=0.0, unit="", started_at=5.0, at=5.0, fingerprint="m",
        detail={"before": before, "after": after}, message="ignored",
    )  # fmt: skip
    drift = replace(
        changed,
        rule="drift",
        kind="drift",
        labels={"model": "claude-sonnet", "prompt": "-", "evaluator": "refusal"},
        message="refusal bad rate 3.0% → 25.0% (+22.0 pts; p=0.001; 5/20 vs 1/33) for "
        "claude-sonnet × -, since 2026-12-07T15:00:00.000Z; meanwhile: deployment a: x → y at "
        "2026-12-07T15:00:00.000Z",
        detail={"changes": [{"what": "deployment a: x → y"}]},
    )
    watch.alert(changed, 5.0)
    watch.alert(drift, 6.0)
    watch.alert(replace(drift, status="resolved", started_at=6.0, at=8.0), 8.0)
    assert [(e.at_s, e.text) for e in watch.events] == [
        (
            5.0,
            "model_changed: anthropic/claude-sonnet now answers as claude-sonnet-4-20260301 "
            "(was claude-sonnet-4-20250514); nobody changed the config",
        ),
        (
            6.0,
            "drift alert: refusal bad rate 3.0% → 25.0% (+22.0 pts; p=0.001; 5/20 vs 1/33) for "
            "claude-sonnet × -; meanwhile: deployment a: x → y",
        ),
        (
            8.0,
            "alert resolved: drift (evaluator=refusal, model=claude-sonnet, prompt=-) after 2.0s",
        ),
    ]


def test_outage_report_counts_what_the_apps_saw_and_what_failed_over(tmp_path: Path) -> None:
    run_start = 10_000.0
    outage = Outage("openai", "anthropic", "503", start_s=10, end_s=20)
    t = run_start + 10  # the outage's first second
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        store.insert_batch(
            [
                call_record(1, t - 5, alias="gpt-4o-mini", deployment=MINI),
                call_record(2, t + 1, alias="gpt-4o-mini", deployment=MINI_FB, attempts=2),
                call_record(3, t + 2, alias="gpt-4o", deployment=BIG_FB),
                call_record(4, t + 3, alias="gpt-4o", deployment=BIG_FB),
                call_record(5, t + 4, alias="gemini-flash", deployment=GEMINI),
                call_record(6, t + 12, alias="gpt-4o", deployment=BIG_FB),  # after it
            ]
        )
        watch = Watch(Topology.from_routes(ROUTES))
        report = outage_report(
            outage,
            run_start=run_start,
            samples=[
                Sample(t - 5, "gpt-4o-mini", 200.0, 200),
                Sample(t - 4, "gpt-4o-mini", 300.0, 200),
                Sample(t + 1, "gpt-4o-mini", 700.0, 200),
                Sample(t + 2, "gpt-4o", 900.0, 200),
                Sample(t + 3, "gpt-4o", 800.0, 502, "api_error"),
                Sample(t + 4, "gpt-4o-mini", 5.0, 403, "feature_disabled"),
                Sample(t + 4, "gemini-flash", 5.0, 502, "api_error"),  # not openai's alias
            ],
            store=store,
            topology=watch.topology,
            downtimes=watch.downtimes,
        )
    finally:
        store.close()
    assert report.aliases == ("gpt-4o-mini", "gpt-4o")
    assert (report.calls, report.errors, report.refused) == (4, 1, 1)
    assert (report.failed_over, report.after_failed_try) == (3, 1)
    assert (report.p50_before_ms, report.p50_during_ms) == (300.0, 900.0)
    assert report.downtime is None
    text = render_outage(report).plain
    assert "openai answered 503 from 10.0s to 20.0s" in text
    assert "breaker never opened" in text
    assert "1 errors seen by the apps (1 refused by spend control" in text
    assert "3 failed over to anthropic: 1 after a failed try on openai, 2 straight past" in text
    assert "added latency: p50 300 ms before, 900 ms during (+600 ms)" in text


def test_quality_summary_counts_refusals_per_served_model_and_the_slo_budget(
    tmp_path: Path,
) -> None:
    change = model_change_for(10)
    now = 10_000.0
    calls, refusals = [], []
    # 20 answers of the old snapshot (1 refused), 10 of the new one (3 refused), all of the
    # reviews app; one refused answer of another provider that must not count.
    plan = [(change.served_before, i == 0) for i in range(20)]
    plan += [(change.served_after, i < 3) for i in range(10)]
    for i, (served_model, refused) in enumerate(plan):
        calls.append(
            call_record(
                i, now - 50 + i, provider="anthropic", served_model=served_model,
                project="reviews", deployment=f"anthropic/{change.model}",
            )
        )  # fmt: skip
        refusals.append((f"c{i:04d}", 0.0 if refused else 1.0))
    calls.append(call_record(99, now - 5, project="support"))
    refusals.append(("c0099", 0.0))
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        store.insert_batch(calls)
        store.insert_scores(
            [
                ScoreRecord(f"s{i}", call_id, now - 1, "refusal", "1", "online", value)
                for i, (call_id, value) in enumerate(refusals)
            ]
        )
        slo = SloConfig.model_validate(slos(10)[0])
        events = [
            Event(5.5, "model_changed: anthropic/x now answers as y"),
            Event(7.0, "alert firing: slo:review-replies-refusals:page (…)"),
            Event(6.2, "drift alert: refusal bad rate …"),
        ]
        report = quality_report(
            change, store=store, since=now - 60, until=now, slos_at=now, events=events,
            slos=[slo],
        )  # fmt: skip
    finally:
        store.close()
    assert report.before is not None and report.after is not None
    assert (report.before.n, report.before.total) == (20, 19.0)
    assert (report.after.n, report.after.total) == (10, 7.0)
    assert report.noticed == {"model_changed": 5.5, "drift alert": 6.2, "SLO page": 7.0}
    text = " ".join(render_quality(report).plain.split())
    assert "refusals before: 1 of 20 answers (5.0%), served as claude-sonnet-4-20250514" in text
    assert "refusals after : 3 of 10 answers (30.0%), served as claude-sonnet-4-20260301" in text
    assert "daytwo noticed: model_changed at 5.5s, drift alert at 6.2s, SLO page at 7.0s" in text
    # 4 bad of 30 against a 3 % budget (0.9 allowed): 1 - 4/0.9 = -344.4 % left; both windows
    # burn at (4/30)/0.03 = 4.4, but the Wilson lower bound of 4/30 (5.3 %) burns at 1.8 < 2:
    # sampling-aware, the page holds.
    assert (
        "SLO review-replies-refusals (refusal ≥ 97.0% over 30d): SLI 86.7% (26/30), budget left "
        "-344.4% (4 bad, 0.9 allowed), burn rates 3s:4.4 2s:4.4, firing now: –" in text
    )


@pytest.mark.integration
def test_demo_drives_traffic_rides_out_an_outage_and_prints_the_spend_report(
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "demo"
    # 6 s, not 4: at 4 s the drift alert rests on exactly its minimum of 10 scores in a 1 s
    # window after the change; 6 s gives it half as many again (the run takes ~14 s in all).
    result = subprocess.run(
        [sys.executable, "-m", "daytwo.cli", "demo", "--seconds", "6", "--dir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Spend by workflow" in out
    for workflow in ("answer", "rag", "nightly-digest", "triage"):
        assert workflow in out
    assert f"ledger: {workdir / 'ledger.db'}" in out.replace("\n", "")
    review = workdir / "weekly-review.html"
    assert f"weekly review: {review}" in out.replace("\n", "")
    assert "Weekly review" in review.read_text(encoding="utf-8")
    assert re.search(
        r"audit trail: [\d,]+ chained entries in \d+ streams, signed and verified", out
    )
    # The live view's last frame: the event log tells the outage and the spend-control story.
    for event in (
        "openai: breaker open — traffic failing over to anthropic",
        "openai: recovered — traffic back after",
        "budget trip: project=batch,workflow=nightly-digest switched off",
        "kill switch: project=default switched off by demo-operator",
    ):
        assert event in out
    # Alerts fired and resolved, in the event log (and in the log sink's file); /metrics is up.
    assert re.search(r"alert firing: failover: fallback rate [\d.]+% above 20\.0%", out)
    assert re.search(r"alert resolved: failover after [\d.]+s", out)
    assert "alert firing: spend-rate: spend $" in out
    assert re.search(r"metrics: http://127\.0\.0\.1:\d+/metrics", out)
    alert_log = (workdir / "alerts.log").read_text(encoding="utf-8")
    assert "alert firing: failover" in alert_log and "alert resolved: failover" in alert_log
    # The summary: the outage cost the apps nothing but some latency.
    assert re.search(r"openai answered 503 from [\d.]+s to [\d.]+s into the run", out)
    assert re.search(r"breaker opened at [\d.]+s, recovered at [\d.]+s", out)
    assert "  0 errors seen by the apps" in out
    during = re.search(r"(\d+) calls to gpt-4o-mini, gpt-4o during the outage", out)
    failed_over = re.search(r"(\d+) failed over to anthropic", out)
    assert during and failed_over and int(during[1]) > 0 and int(failed_over[1]) > 0
    assert "added latency: p50" in out
    with sqlite3.connect(workdir / "ledger.db") as conn:
        projects = dict(conn.execute("SELECT project, COUNT(*) FROM calls GROUP BY project"))
        unattributed = conn.execute("SELECT COUNT(*) FROM calls WHERE attributed = 0").fetchone()
        priced = conn.execute("SELECT COUNT(*) FROM calls WHERE cost_nanousd > 0").fetchone()
        served = dict(
            conn.execute(
                "SELECT provider, COUNT(*) FROM calls WHERE alias IN ('gpt-4o', 'gpt-4o-mini')"
                " AND status = 'ok' GROUP BY provider"
            )
        )
        failed = conn.execute(
            "SELECT COUNT(*) FROM calls WHERE alias IN ('gpt-4o', 'gpt-4o-mini')"
            " AND status = 'error'"
        ).fetchone()
        retried = conn.execute(
            "SELECT COUNT(*) FROM calls WHERE provider = 'anthropic' AND attempts > 1"
        ).fetchone()
        per_version = dict(
            conn.execute(
                "SELECT prompt_version, AVG(input_tokens) FROM calls"
                " WHERE prompt_name = 'support-reply' AND status = 'ok' GROUP BY prompt_version"
            )
        )
    conn.close()
    # Prompts as code: midway the more verbose v2 is promoted by editing labels.yaml; the
    # gateway serves it without a restart and the ledger shows what it costs per call.
    assert "prompt: support-reply v2 (more verbose) promoted to production" in out
    assert "prompt versions (daytwo prompts stats support-reply)" in out
    assert set(per_version) == {1, 2} and per_version[2] > per_version[1] + 100
    assert re.search(r"support-reply v2 costs [\d.]+x v1 per call \(\+\d+ input tokens", out)
    # The deploy gate on v2: every answer and judge verdict a call through the demo's gateway
    # (project `evals`), and a FAIL that says why: cost per call up, the rubric not better.
    assert "deploy gate (daytwo gate)" in out
    flat = " ".join(out.split())
    assert "gate: FAIL for prompt:support-reply@v2 against prompt:support-reply@v1" in flat
    ratio = re.search(r"FAIL cost per call \$[\d.]+ = ([\d.]+)x the baseline's", flat)
    assert ratio and float(ratio[1]) > 1.5, flat
    rubric = re.search(r"ok helpfulness: candidate ([\d.]+) vs baseline ([\d.]+)", flat)
    assert rubric and float(rubric[1]) <= float(rubric[2]) + 0.05  # not better
    assert re.search(r"ok refusal rate [\d.]+% ", flat)
    assert set(projects) == {"support", "search", "batch", "default", "evals", "reviews"}
    assert projects["evals"] == 4 * 30  # 30 questions x 2 versions x (answer + judge)
    assert unattributed[0] == projects["default"]
    assert priced[0] > 0
    assert served.keys() == {"openai", "anthropic"}  # most on the primary, some failed over
    assert served["openai"] > served["anthropic"] > 0
    assert failed[0] == 0
    assert retried[0] > 0
    assert "Traceback" not in result.stderr
    _assert_the_silent_model_change(workdir, out)


OLD, NEW = "claude-sonnet-4-20250514", "claude-sonnet-4-20260301"


def _assert_the_silent_model_change(workdir: Path, out: str) -> None:
    """Midway the Anthropic-shaped simulator serves claude-sonnet as a newer snapshot that
    refuses more; the live view shows model_changed, the drift alert and the SLO burn, and the
    summary's refusal counts are the ledger's."""
    flat = " ".join(out.replace("│", " ").split())  # the event panel's lines, unwrapped
    assert (
        f"model_changed: anthropic/{OLD} now answers as {NEW} (was {OLD}); "
        "nobody changed the config" in flat
    )
    moved = re.search(r"drift alert: refusal bad rate ([\d.]+)% → ([\d.]+)% \(\+", flat)
    assert moved and float(moved[2]) > float(moved[1]), flat
    assert re.search(r"for claude-sonnet × -; meanwhile: .*deployment anthropic/", flat)
    burn = re.search(
        r"alert firing: slo:review-replies-refusals:page \(project=reviews, "
        r"slo=review-replies-refusals\): error budget burn rate ([\d.]+)x above 2\.0x",
        flat,
    )
    assert burn and float(burn[1]) >= 2.0
    alert_log = (workdir / "alerts.log").read_text(encoding="utf-8")
    for rule in ("model_changed", "drift", "slo:review-replies-refusals:page"):
        assert f"alert firing: {rule}" in alert_log, rule
    # One change, reported once (an old answer ending late is not a change back).
    assert alert_log.count("alert firing: model_changed") == 1, alert_log
    with sqlite3.connect(workdir / "ledger.db") as conn:
        refusals = {
            model: (n, bad)
            for model, n, bad in conn.execute(
                "SELECT c.served_model, COUNT(*), SUM(s.value = 0) FROM scores s"
                " JOIN calls c ON c.id = s.call_id WHERE s.evaluator = 'refusal'"
                " AND c.provider = 'anthropic' GROUP BY c.served_model"
            )
        }
        slo_events, slo_bad = conn.execute(
            "SELECT COUNT(*), SUM(s.value < 0.5) FROM scores s JOIN calls c ON c.id = s.call_id"
            " WHERE s.evaluator = 'refusal' AND c.project = 'reviews'"
        ).fetchone()
    conn.close()
    (n_old, bad_old), (n_new, bad_new) = refusals[OLD], refusals[NEW]
    assert f"refusals before: {bad_old} of {n_old} answers" in flat
    assert f"refusals after : {bad_new} of {n_new} answers" in flat
    assert bad_new / n_new > bad_old / n_old + 0.1  # 3 % → 25 % in the simulator
    noticed = re.search(
        r"daytwo noticed: model_changed at ([\d.]+)s, drift alert at ([\d.]+)s, "
        r"SLO page at ([\d.]+)s",
        flat,
    )
    change_at = re.search(r"answered as claude-sonnet-4-20260301 from ([\d.]+)s", flat)
    assert noticed and change_at
    assert all(float(noticed[i]) >= float(change_at[1]) - 0.5 for i in (1, 2, 3))
    # `daytwo slo status`'s numbers, taken when the apps stopped (scores of later calls may
    # still have come in, so at most the ledger's final counts).
    slo = re.search(
        r"SLO review-replies-refusals \(refusal ≥ 97\.0% over 30d\): SLI [\d.]+% "
        r"\((\d+)/(\d+)\), budget left (-?[\d.]+)% \((\d+) bad",
        flat,
    )
    assert slo, flat
    good, total, bad = int(slo[1]), int(slo[2]), int(slo[4])
    assert good + bad == total and 0 < total <= slo_events and 0 < bad <= slo_bad
    assert float(slo[3]) == pytest.approx((1 - bad / (0.03 * total)) * 100, abs=0.06)
