"""``daytwo recommend`` over a ledger the real gateway wrote: two workflows on an expensive
alias, a shadow rollout mirroring every call to a cheaper alias whose simulated model refuses
some questions (the online refusal check scores both sides), and a third alias nobody has
shadowed. The figures are checked against arithmetic done here by hand: the catalog's prices
times the tokens the ledger holds, the Wilson interval's formula, the pairs a ±2.5 pt interval
needs."""

from __future__ import annotations

import math
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner, Result
from tests.gateway.harness import gateway_config, http, route, running_gateway, wait_for
from tests.rollout.harness import make_rollout, start

from daytwo.cli.main import cli
from daytwo.cli.recommend import rollout_body
from daytwo.config.load import load_config
from daytwo.ledger.store import open_store
from daytwo.pricing.catalog import PriceBook
from daytwo.providers.sim.quality import REFUSAL_TEXT
from daytwo.rollout.recommend import recommend as build

pytestmark = pytest.mark.integration

#: Nano-dollars per token (the bundled catalog's USD per million tokens, times 1,000).
GPT_4O = {"input": 2_500, "cached": 1_250, "output": 10_000}
GPT_4O_MINI = {"input": 150, "cached": 75, "output": 600}
GPT_35 = {"input": 500, "cached": 500, "output": 1_500}
TRIAGE = [f"Ticket {i}: my order {1000 + i} arrived damaged, what now?" for i in range(40)]
FAQ = [f"Question {i}: how long does shipping to zone {i} take?" for i in range(10)]


def config(tmp_path: Path, db: str) -> dict[str, Any]:
    sim = {"seed": 7, "quality": {"personalities": {"gpt-4o-mini": {"refusal_rate": 0.25}}}}
    cfg = gateway_config(
        tmp_path / db,
        {"sim": {"type": "sim", "sim": sim}},
        {
            "smart": route("sim", "gpt-4o"),
            "cheap": route("sim", "gpt-4o-mini"),
            "mid": route("sim", "gpt-3.5-turbo"),
            "embed": route("sim", "text-embedding-3-small", "embeddings"),
        },
    )
    cfg["quality"] = {"evaluators": [{"name": "refusals", "checks": ["refusal"]}]}
    cfg["rollouts"] = {"poll_s": 0.05, "shadow": {"max_concurrency": 256}}
    return cfg


def ask(base_url: str, model: str, question: str, headers: dict[str, str]) -> tuple[str, str]:
    body = {"model": model, "messages": [{"role": "user", "content": question}]}
    status, got, raw = http("POST", f"{base_url}/chat/completions", orjson.dumps(body), headers)
    assert status == 200, raw
    return got["x-daytwo-call-id"], orjson.loads(raw)["choices"][0]["message"]["content"]


def count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The ledger and config of the traffic, the control rows, and which triage calls the
    cheap model refused (asked directly, on a gateway of its own)."""
    tmp_path = tmp_path_factory.mktemp("recommend")
    with running_gateway(config(tmp_path, "probe.db")) as probe:
        refused = {q for q in TRIAGE if ask(probe.base_url, "cheap", q, {})[1] == REFUSAL_TEXT}
    assert 0 < len(refused) < len(TRIAGE)  # the knob makes some refusals, not all
    cfg = config(tmp_path, "ledger.db")
    with running_gateway(cfg) as gw:
        start(cfg["ledger"]["url"], make_rollout("alias", "smart", "smart", "cheap", "shadow:100%"))
        wait_for(lambda: gw.app.rollouts is not None and gw.app.rollouts.any, what="the poll")
        asked: dict[str, str] = {}
        for workflow, questions in (("triage", TRIAGE), ("faq", FAQ)):
            for i, q in enumerate(questions):
                headers = {
                    "x-daytwo-project": "support",
                    "x-daytwo-workflow": workflow,
                    "x-daytwo-session": f"{workflow}-{i}",
                }
                asked[ask(gw.base_url, "smart", q, headers)[0]] = q
        total = 2 * (len(TRIAGE) + len(FAQ))
        assert gw.db is not None
        wait_for(lambda: len(gw.records()) == total, what="the mirrors")
        wait_for(lambda: count(gw.db, "SELECT count(*) FROM scores") == total, what="scores")
        rows = gw.records()
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return {"config": path, "rows": rows, "asked": asked, "refused": refused}


def recommend(seeded: dict[str, Any], *args: str) -> Result:
    return CliRunner().invoke(cli, ["recommend", "--config", str(seeded["config"]), *args])


def as_json(seeded: dict[str, Any], *args: str) -> dict[str, Any]:
    got = recommend(seeded, "--json", *args)
    assert got.exit_code == 0, got.output
    report: dict[str, Any] = orjson.loads(got.stdout)
    return report


def priced(usage: dict[str, int], price: dict[str, int]) -> int:
    cached = usage["cached"]
    return (
        (usage["input"] - cached) * price["input"]
        + cached * price["cached"]
        + usage["output"] * price["output"]
    )


def usage_of(rows: list[dict[str, Any]], workflow: str) -> tuple[int, dict[str, int]]:
    mine = [r for r in rows if r["project"] == "support" and r["workflow"] == workflow]
    cost = sum(r["cost_nanousd"] for r in mine)
    usage = {
        "input": sum(r["input_tokens"] for r in mine),
        "cached": sum(r["cached_input_tokens"] for r in mine),
        "output": sum(r["output_tokens"] for r in mine),
    }
    assert sum(r["cache_write_tokens"] for r in mine) == 0
    return cost, usage


def test_dollar_figures_are_the_catalog_prices_times_the_tokens(seeded: dict[str, Any]) -> None:
    report = as_json(seeded, "--since", "7d")
    recs = by_key(report)
    assert set(recs) == {("triage", "cheap"), ("triage", "mid"), ("faq", "cheap"), ("faq", "mid")}
    assert report["groups"] == 2  # the shadow calls (project experiment) are no group
    for workflow, calls in (("triage", len(TRIAGE)), ("faq", len(FAQ))):
        cost, usage = usage_of(seeded["rows"], workflow)
        assert cost == priced(usage, GPT_4O)  # what the gateway billed is the catalog price
        for candidate, price in (("cheap", GPT_4O_MINI), ("mid", GPT_35)):
            r = recs[(workflow, candidate)]
            theirs = priced(usage, price)
            assert (r["alias"], r["calls"], r["calls_per_week"]) == ("smart", calls, calls)
            assert r["cost_per_week"]["nanousd"] == cost  # a 7-day window is one week
            assert r["candidate_cost_per_week"]["nanousd"] == theirs
            assert r["saving_per_week"]["nanousd"] == cost - theirs
            assert Decimal(r["saving_per_week"]["usd"]) == Decimal(cost - theirs) / 10**9
            assert r["cost_ratio"] == pytest.approx(theirs / cost)
            assert r["input_tokens_per_call"] == round(usage["input"] / calls, 1)
    # the largest weekly saving first
    savings = [r["saving_per_week"]["nanousd"] for r in report["recommendations"]]
    assert savings == sorted(savings, reverse=True)
    assert report["recommendations"][0]["candidate"] == "cheap"


def by_key(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["workflow"], r["candidate"]): r for r in report["recommendations"]}


def test_a_one_day_window_is_seven_times_that_per_week(seeded: dict[str, Any]) -> None:
    week = by_key(as_json(seeded, "--since", "7d"))
    day = by_key(as_json(seeded, "--since", "1d"))
    assert set(day) == set(week)
    for key, r in day.items():
        assert r["saving_per_week"]["nanousd"] == 7 * week[key]["saving_per_week"]["nanousd"]
        assert r["cost_per_week"]["nanousd"] == 7 * week[key]["cost_per_week"]["nanousd"]
        assert r["calls_per_week"] == 7 * r["calls"]


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_shadow_pairs_are_the_evidence_with_their_wilson_interval(seeded: dict[str, Any]) -> None:
    recs = by_key(as_json(seeded))
    triage = recs[("triage", "cheap")]["evidence"]
    matches = len(TRIAGE) - len(seeded["refused"])  # the control (gpt-4o) never refuses
    low, high = wilson(matches, len(TRIAGE))
    assert (triage["pairs"], triage["matches"], triage["unscored"]) == (40, matches, 0)
    assert triage["match_share"] == matches / 40
    assert triage["ci_low"] == pytest.approx(low, abs=1e-12)
    assert triage["ci_high"] == pytest.approx(high, abs=1e-12)
    # what the pairs cost on each side
    shadow = [r for r in seeded["rows"] if r["rollout_arm"] == "shadow"]
    by_id = {r["id"]: r for r in seeded["rows"]}
    pairs = [(by_id[orjson.loads(s["tags"])["source_call"]], s) for s in shadow]
    mine = [(c, s) for c, s in pairs if c["workflow"] == "triage"]
    spent = sum(s["cost_nanousd"] for _, s in mine)
    paid = sum(c["cost_nanousd"] for c, _ in mine)
    assert triage["paired_cost_ratio"] == pytest.approx(spent / paid)
    summary = recs[("triage", "cheap")]["summary"]
    assert summary.startswith(f"triage: cheap matches smart on {matches / 40 * 100:.0f}% of ")
    assert f"(n = 40, CI {low * 100:.0f}–{high * 100:.0f}%)" in summary


def test_no_evidence_is_flagged_with_the_shadow_it_needs(seeded: dict[str, Any]) -> None:
    recs = by_key(as_json(seeded, "--since", "1d"))
    mid = recs[("triage", "mid")]
    assert mid["evidence"]["pairs"] == 0 and mid["evidence"]["match_share"] is None
    # 312 pairs give ±2.5 pt around 95 %; 280 triage calls a week cannot: 8 days at 100 %
    assert mid["proposal"] == {
        "pairs_target": 312,
        "pairs_missing": 312,
        "shadow_percent": None,
        "days": 8,
    }
    assert mid["summary"].endswith("no shadow pairs yet: shadow 100% for 8 days (312 more pairs)")
    # 40 pairs already: 272 more, 98 % of a week's 280 calls
    cheap = recs[("triage", "cheap")]
    assert cheap["proposal"] == {
        "pairs_target": 312,
        "pairs_missing": 272,
        "shadow_percent": 98,
        "days": None,
    }
    assert recs[("triage", "cheap")]["shared_with"] == ["faq"]


def test_the_table_lists_each_recommendation(seeded: dict[str, Any]) -> None:
    got = recommend(seeded)
    assert got.exit_code == 0, got.output
    assert "Cheaper models" in got.stdout and "(14d)" in got.stdout
    assert "smart serves faq, triage: a rollout of it moves them all" in got.stdout
    for name in ("triage", "faq", "cheap", "mid", "none"):
        assert name in got.stdout


def test_apply_needs_yes_when_the_alias_serves_other_workflows(seeded: dict[str, Any]) -> None:
    got = recommend(seeded, "--apply", "1")
    assert got.exit_code == 2
    assert got.output.strip() == (
        "daytwo recommend: --apply 1: alias smart also serves faq; the rollout moves them too "
        "(pass --yes)"
    )


def test_apply_sends_the_alias_rollout(seeded: dict[str, Any]) -> None:
    cfg = load_config(seeded["config"])
    store = open_store(cfg.ledger.url, create=False)
    try:
        report = build(store, cfg, PriceBook.from_config(cfg.pricing), time.time(), 14 * 86_400)
    finally:
        store.close()
    first = report.recommendations[0]
    body = rollout_body(first, 1, "shadow:10%,canary:5%,25%,100%")
    assert body == {
        "target": "alias:smart",
        "candidate": "cheap",
        "stages": "shadow:10%,canary:5%,25%,100%",
        "reason": f"daytwo recommend #1: {first.sentence()}",
    }


def test_apply_opens_the_rollout_on_the_running_gateway(
    seeded: dict[str, Any], tmp_path: Path
) -> None:
    """--apply against a real gateway over the seeded ledger (a copy: the shadow rollout that
    made the evidence is rolled back and retired first, as an operator would)."""
    import shutil

    from daytwo.keys.admin_tokens import AdminTokens
    from daytwo.keys.store import KeyStore
    from daytwo.rollout.store import RolloutStore

    src = yaml.safe_load(seeded["config"].read_text())
    db = tmp_path / "ledger.db"
    shutil.copy(Path(src["ledger"]["url"].removeprefix("sqlite:///")), db)
    cfg = {**src, "ledger": {**src["ledger"], "url": f"sqlite:///{db}"}}
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    store = RolloutStore.open(cfg["ledger"]["url"])
    try:
        (shadow,) = store.active()
        done = shadow.moved(time.time(), status="rolled_back")
        assert store.move(shadow, done, "test", "rollout.rollback")
        assert store.retire(done, "test", "evidence collected")
    finally:
        store.close()
    keys = KeyStore.open(cfg["ledger"]["url"])
    try:
        token = AdminTokens(keys).create("operator", actor="test").secret
    finally:
        keys.close()
    with running_gateway(cfg) as gw:
        got = CliRunner().invoke(
            cli,
            ["recommend", "--config", str(path), "--apply", "1", "--yes", "--gateway", gw.url],
            env={"DAYTWO_ADMIN_TOKEN": token},
        )
        assert got.exit_code == 0, got.output
        status, _, raw = http(
            "GET", f"{gw.url}/admin/rollouts", None, {"authorization": f"Bearer {token}"}
        )
    assert status == 200, raw
    live = [r for r in orjson.loads(raw)["data"] if r["status"] == "running"]
    assert [(r["kind"], r["target"], r["candidate"]) for r in live] == [("alias", "smart", "cheap")]
    assert live[0]["reason"].startswith("daytwo recommend #1: ")
