"""The pairwise judge on shadow pairs over real HTTP with the simulator: each mirrored call gets
one ``pairwise`` score (both orders asked: two judge calls of project ``quality`` in the
ledger); a candidate that answers worse is judged worse, and one the judge cannot tell apart
(the simulator's position bias flips with the order) a tie; pairs with nothing to compare, or
past the concurrency cap, are skipped and counted; the config names a bad judge alias."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.harness import RunningGateway, http, route, running_gateway, sim_config, wait_for
from tests.quality.harness import scores
from tests.rollout.harness import make_rollout, start

pytestmark = pytest.mark.integration

REFUND = "How do I get a refund for my order?"
#: The control (gpt-4o-mini) answers refunds right; the candidate (gpt-3.5-turbo) never does.
SIM_QUALITY: dict[str, Any] = {
    "answers": [
        {
            "match": {"regex": "(?i)refund"},
            "answer": "To get a refund for your order, open the order page and press refund.",
            "wrong": "Our office opens at nine.",
        }
    ],
    "personalities": {"gpt-3.5-turbo": {"correct_rate": 0.0}},
}
JUDGES_BUDGET = {"name": "judges", "scope": {"project": "quality"}, "window": "day", "usd": 5}


def pairwise_config(tmp_path: Path, **judge: Any) -> dict[str, Any]:
    cfg = sim_config(tmp_path, quality=SIM_QUALITY)
    cfg["models"]["cheap"] = route("sim", "gpt-3.5-turbo")
    cfg["models"]["judge"] = route("sim", "gpt-4o")
    cfg["rollouts"] = {"poll_s": 0.05, "shadow": {"judge": {"model": "judge", **judge}}}
    cfg["spend_control"] = {"budgets": [JUDGES_BUDGET]}
    return cfg


def shadowing(gw: RunningGateway) -> str:
    r = start(
        gw.app.config.ledger.url,
        make_rollout("alias", "gpt-4o-mini", "gpt-4o-mini", "cheap", "shadow:100%"),
    )
    wait_for(lambda: gw.app.rollouts is not None and gw.app.rollouts.any, what="the poll")
    return r.id


def ask(gw: RunningGateway, question: str, session: str, **extra: Any) -> str:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}], **extra}
    status, headers, raw = http(
        "POST", f"{gw.base_url}/chat/completions", orjson.dumps(body), {"x-daytwo-session": session}
    )
    assert status == 200, raw
    return str(headers["x-daytwo-call-id"])


def pairwise_scores(gw: RunningGateway, n: int) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]] | None:
        rows = [s for s in scores(gw) if s["evaluator"] == "pairwise"]
        return rows if len(rows) >= n else None

    return list(wait_for(found, what=f"{n} pairwise scores"))


def test_each_shadow_pair_is_judged_in_both_orders_as_quality_spend(tmp_path: Path) -> None:
    with running_gateway(pairwise_config(tmp_path)) as gw:
        rollout_id = shadowing(gw)
        worse = [ask(gw, REFUND, f"r{i}") for i in range(3)]
        tied = [ask(gw, "hi", f"h{i}") for i in range(2)]
        judged = pairwise_scores(gw, 5)
        rows = wait_for(
            lambda: (lambda rs: rs if len(rs) == 5 * 2 + 5 * 2 else None)(gw.records()),
            what="the judge calls",
        )
    shadow = {r["id"]: r for r in rows if r["rollout_arm"] == "shadow"}
    source = {orjson.loads(r["tags"])["source_call"]: i for i, r in shadow.items()}
    assert set(source) == {*worse, *tied}
    assert {s["call_id"] for s in judged} == set(shadow)  # one score per shadow call
    assert len(judged) == 5
    by_call = {s["call_id"]: s for s in judged}
    for control in worse:
        s = by_call[source[control]]
        assert (s["value"], s["label"]) == (0.0, "worse")
        assert s["explanation"].startswith("control shown first: control better (coverage")
        assert "; candidate shown first: control better (coverage" in s["explanation"]
    for control in tied:
        s = by_call[source[control]]
        assert (s["value"], s["label"]) == (0.5, "tie")  # the first answer won each time
        assert s["explanation"].startswith("the orders disagree, a tie: control shown first:")
    assert {s["evaluator_version"] for s in judged} == {"1:judge-pairwise@v1"}
    assert {s["source"] for s in judged} == {"online"}
    judges = [r for r in rows if r["project"] == "quality"]
    assert len(judges) == 10
    assert {r["workflow"] for r in judges} == {"judge:pairwise"}
    assert {r["alias"] for r in judges} == {"judge"}
    assert {(r["prompt_name"], r["prompt_version"]) for r in judges} == {("judge-pairwise", 1)}
    asked = [orjson.loads(r["tags"]) for r in judges]
    assert {t["rollout"] for t in asked} == {rollout_id}
    per_pair = {call: [t["judged_call"] for t in asked].count(call) for call in shadow}
    assert set(per_pair.values()) == {2}  # both orders, for every pair
    assert all(r["cost_nanousd"] > 0 for r in judges)


def test_a_stream_nobody_assembled_is_mirrored_but_not_judged(tmp_path: Path) -> None:
    with running_gateway(pairwise_config(tmp_path)) as gw:
        shadowing(gw)
        streamed = ask(gw, REFUND, "s0", stream=True)
        plain = ask(gw, REFUND, "s1")
        pairwise_scores(gw, 1)
        shadow = gw.app.pipeline.shadow
        assert shadow is not None and shadow.pairwise is not None
        wait_for(lambda: shadow.sent == 2, what="both mirrors")
        skipped = dict(shadow.pairwise.skipped)
        rows = gw.records()
        judged = [s for s in scores(gw) if s["evaluator"] == "pairwise"]
    shadows = [r for r in rows if r["rollout_arm"] == "shadow"]
    mirrors = {orjson.loads(r["tags"])["source_call"]: r["id"] for r in shadows}
    assert {streamed, plain} <= set(mirrors)  # both mirrored
    assert [s["call_id"] for s in judged] == [mirrors[plain]]  # only one compared
    assert skipped == {"unassembled": 1}
    assert len([r for r in rows if r["project"] == "quality"]) == 2


def test_pairs_past_the_cap_are_skipped_and_counted(tmp_path: Path) -> None:
    cfg = pairwise_config(tmp_path, max_concurrency=1)
    # The judge answers after a second: the first pair holds the one slot meanwhile.
    cfg["providers"]["slow"] = {"type": "sim", "sim": {"seed": 7, "ttft_ms": 1000}}
    cfg["models"]["judge"] = route("slow", "gpt-4o")
    with running_gateway(cfg) as gw:
        shadowing(gw)
        for i in range(4):
            ask(gw, REFUND, f"s{i}")
        shadow = gw.app.pipeline.shadow
        assert shadow is not None and shadow.pairwise is not None
        judge = shadow.pairwise
        wait_for(
            lambda: sum(judge.judged.values()) + judge.skipped["concurrency"] == 4,
            what="every pair judged or skipped",
        )
        judged = [s for s in scores(gw) if s["evaluator"] == "pairwise"]
        skipped = judge.skipped["concurrency"]
    assert skipped >= 1
    assert len(judged) == 4 - skipped
    assert {s["label"] for s in judged} == {"worse"}


def test_a_pair_whose_judge_is_refused_gets_a_skipped_score(tmp_path: Path) -> None:
    cfg = pairwise_config(tmp_path)
    # The judges' budget is spent before the first judge call.
    cfg["spend_control"] = {"budgets": [{**JUDGES_BUDGET, "usd": 0.0000001}]}
    with running_gateway(cfg) as gw:
        shadowing(gw)
        ask(gw, REFUND, "s0")
        (score,) = pairwise_scores(gw, 1)
    assert (score["value"], score["label"]) == (None, "skipped")
    assert score["explanation"].startswith("judge call refused (4")
