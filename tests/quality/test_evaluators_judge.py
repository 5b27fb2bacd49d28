"""Sampled LLM judges on real traffic: the judge calls go through the gateway's own pipeline
(ledger rows of project ``quality``, workflow ``judge:<name>``, tagged with the judged call),
their verdicts are ``judge:<name>`` scores, and a spent judge budget refuses them -- recorded
as skipped -- while the user's calls are unaffected."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.harness import RunningGateway, http, running_gateway, wait_for
from tests.quality.harness import quality_config, read_scores, scores

from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore
from daytwo.quality.evaluate import draw

pytestmark = pytest.mark.integration

SEED = 11
N = 16
JUDGED = {
    "name": "support",
    "checks": ["refusal"],
    "judges": [{"name": "polite", "rubric": "The answer is polite.", "sample": 0.5}],
}


def judge_config(tmp_path: Path, usd: str, **quality: Any) -> dict[str, Any]:
    budget = {"name": "judges", "scope": {"project": "quality"}, "window": "day", "usd": usd}
    return quality_config(
        tmp_path,
        {"evaluators": [JUDGED], "seed": SEED, "judge": {"model": "judge"}, **quality},
        spend_control={"budgets": [budget]},
    )


def ask(gw: RunningGateway, text: str) -> str:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    status, headers, raw = http("POST", f"{gw.base_url}/chat/completions", orjson.dumps(body))
    assert status == 200, raw
    return headers["x-daytwo-call-id"]


def judge_scores(gw: RunningGateway, n: int) -> list[dict[str, Any]]:
    return wait_for(
        lambda: len(r := [s for s in scores(gw) if s["evaluator"] == "judge:polite"]) == n and r,
        what=f"{n} judge scores",
    )


def test_sampled_judge_scores_and_ledger_rows(tmp_path: Path) -> None:
    with running_gateway(judge_config(tmp_path, "10")) as gw:
        ids = [ask(gw, f"How do I reset my password, take {i}?") for i in range(N)]
        sampled = {i for i in ids if draw(SEED, "support/judge:polite", i) < 0.5}
        got = judge_scores(gw, len(sampled))
        rows = gw.records()
    assert 0 < len(sampled) < N  # rate 0.5: a real subset, fixed by the seed
    assert {s["call_id"] for s in got} == sampled
    for s in got:
        assert s["label"] in ("pass", "fail") and 0.0 <= s["value"] <= 1.0
        assert s["explanation"] and s["evaluator_version"] == "judge-rubric@v1"
    judge_rows = [r for r in rows if r["project"] == "quality"]
    assert len(judge_rows) == len(sampled)
    for r in judge_rows:
        assert (r["workflow"], r["alias"], r["status"]) == ("judge:polite", "judge", "ok")
        assert r["prompt_name"] == "judge-rubric"
        assert r["cost_nanousd"] > 0  # priced and counted against the budget
    judged = {orjson.loads(r["tags"])["judged_call"] for r in judge_rows}
    assert judged == sampled
    assert all(r["status"] == "ok" for r in rows if r["project"] != "quality")


def test_spent_judge_budget_skips_the_judge_not_the_call(tmp_path: Path) -> None:
    with running_gateway(judge_config(tmp_path, "0.000000001")) as gw:
        ids = [ask(gw, f"Where is my order number {i}?") for i in range(N)]
        sampled = {i for i in ids if draw(SEED, "support/judge:polite", i) < 0.5}
        got = judge_scores(gw, len(sampled))
        rows = gw.records()
    assert {s["call_id"] for s in got} == sampled
    for s in got:
        assert (s["value"], s["label"]) == (None, "skipped")
        assert "budget" in s["explanation"].lower()
    refused = [r for r in rows if r["project"] == "quality"]
    assert len(refused) == len(sampled)
    assert {r["error_class"] for r in refused} == {"BudgetExceeded"}
    users = [r for r in rows if r["project"] != "quality"]
    assert [r["status"] for r in users] == ["ok"] * N


def test_cascade_skips_the_judge_when_a_cheap_check_failed(tmp_path: Path) -> None:
    cfg = judge_config(tmp_path, "10")
    cfg["providers"]["sim"]["sim"]["quality"] = {"refusal_rate": 1}
    with running_gateway(cfg) as gw:
        ids = [ask(gw, f"Tell me secret {i}.") for i in range(N)]
        db = gw.db
    assert db is not None  # the gateway stopped: every judge it started has finished
    got = read_scores(db)
    assert [s["value"] for s in got if s["evaluator"] == "refusal"] == [0.0] * N
    assert {s["call_id"] for s in got} == set(ids)
    assert not [s for s in got if s["evaluator"] == "judge:polite"]
    with sqlite3.connect(db) as conn:
        sql = "SELECT count(*) FROM calls WHERE project = 'quality'"
        (judge_calls,) = conn.execute(sql).fetchone()
    assert judge_calls == 0


def test_judges_use_their_own_key_when_keys_are_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = judge_config(tmp_path, "10", judge={"model": "judge", "key": "env:QUALITY_TEST_KEY"})
    cfg["gateway"] = {"require_keys": True}
    with KeyStore.open(cfg["ledger"]["url"]) as store:
        user = store.create(KeySpec(project="support"), actor="test").secret
        judge = store.create(KeySpec(project="quality"), actor="test").secret
    monkeypatch.setenv("QUALITY_TEST_KEY", judge)
    with running_gateway(cfg) as gw:
        ids = []
        for i in range(N):
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Q {i}?"}]}
            url = f"{gw.base_url}/chat/completions"
            auth = {"authorization": f"Bearer {user}"}
            status, headers, raw = http("POST", url, orjson.dumps(body), auth)
            assert status == 200, raw
            ids.append(headers["x-daytwo-call-id"])
        sampled = {i for i in ids if draw(SEED, "support/judge:polite", i) < 0.5}
        got = judge_scores(gw, len(sampled))
        rows = gw.records()
    assert {s["label"] for s in got} <= {"pass", "fail"}  # judged, not skipped
    judge_rows = [r for r in rows if r["project"] == "quality"]
    assert len(judge_rows) == len(sampled) and {r["status"] for r in judge_rows} == {"ok"}
    (judge_key,) = {r["key_id"] for r in judge_rows}  # the judges' own key, not the user's
    assert judge_key is not None
    assert judge_key not in {r["key_id"] for r in rows if r["project"] == "support"}
