"""Triage of incidents played through the simulator over real HTTP: baseline traffic, then the
incident (a verbose prompt rollout, a silent model change, a provider outage, a looping agent, a
new heavy caller, a prompt whose planted secret the model echoes), then ``triage`` over exactly
those two windows must rank the true cause first, say why, and list the symptoms it explains as
its consequences."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from tests.gateway.harness import running_gateway, sim_config, wait_for
from tests.gateway.recording_sim import recording_sim
from tests.incidents.harness import (
    Clock,
    chat,
    explain,
    mark,
    run_triage,
    send,
    send_in_order,
    settled,
)
from tests.prompts.files import prompt_dir, write_labels, write_version
from tests.quality.harness import scores

from daytwo.incidents.triage import Suspect, Triage
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore

pytestmark = pytest.mark.integration

BASELINE, INCIDENT = 60, 60


def top(result: Triage) -> Suspect:
    assert result.suspects, "no suspects at all"
    return result.suspects[0]


def consequences(result: Triage, cause: Suspect) -> set[str]:
    return {s.kind for s in result.suspects if s.consequence_of == cause.rank}


# -- 1. a verbose prompt rollout --------------------------------------------------------------

TERSE: dict[str, Any] = {
    "name": "support-reply",
    "version": 1,
    "model": "gpt-4o-mini",
    "system": "You are a support agent. Be brief.",
    "messages": [{"role": "user", "content": "Ticket {{ n }}: {{ topic }}"}],
    "variables": {"n": {"type": "string"}, "topic": {"type": "string"}},
    "max_tokens": 20,
}
#: v2: the same prompt with a system prompt some forty times as long.
VERBOSE = {
    **TERSE,
    "version": 2,
    "system": "You are a senior support agent. " + "Restate the problem, list every step. " * 60,
}


def test_a_verbose_prompt_rollout_is_ranked_above_the_cost_it_triples(tmp_path: Path) -> None:
    root = prompt_dir(tmp_path / "prompts", TERSE, labels={"support-reply": {"production": 1}})
    cfg = sim_config(tmp_path, min_output_tokens=10, max_output_tokens=20)
    cfg["prompts"] = {"dir": str(root), "reload_poll_s": 0.05}

    def ticket(i: int) -> tuple[dict[str, Any], dict[str, str]]:
        body = chat("prompt:support-reply", "hi")
        body["variables"] = {"n": str(i), "topic": "a refund"}
        return body, {}

    clock = Clock()
    with running_gateway(cfg) as gw:
        clock.t0 = mark()
        assert set(send(gw, BASELINE, ticket)) == {200}
        clock.t1 = mark()
        write_version(root, VERBOSE)
        write_labels(root, {"support-reply": {"production": 2}})
        wait_for(
            lambda: gw.app.prompts.current.labels["support-reply"]["production"] == 2,  # type: ignore[union-attr]
            what="the rollout",
        )
        assert set(send(gw, INCIDENT, ticket, BASELINE)) == {200}
        clock.t2 = mark()
        settled(gw, BASELINE + INCIDENT)
        result = run_triage(gw, clock)
    cause = top(result)
    assert (cause.kind, cause.detail["version"]) == ("prompt", 2), explain(result)
    assert "support-reply" in cause.why and "v1 → v2" in cause.why
    assert any("label production v1 → v2" in e for e in cause.evidence), cause.evidence
    assert "daytwo prompts diff support-reply 1 2" in cause.dig
    assert cause.calls == INCIDENT
    cost = next(s for s in result.suspects if s.detail.get("metric") == "cost_per_call")
    assert cost.consequence_of == cause.rank and cost.effect is not None
    assert cost.effect.ratio is not None and cost.effect.ratio > 2.5, cost.why
    assert {"cost", "tokens"} <= consequences(result, cause)
    assert clock.t1 - 1.0 < (cause.when or 0) < clock.t2


# -- 2. a silent model change that raises refusals ---------------------------------------------


def test_a_silent_model_change_is_ranked_above_the_refusals_it_brings(tmp_path: Path) -> None:
    quality = {
        "refusal_rate": 0.02,
        "changes": [
            {
                "after_requests": BASELINE,
                "models": ["gpt-4o-mini"],
                "personality": {"served_model": "gpt-4o-mini-2099-01-01", "refusal_rate": 0.6},
            }
        ],
    }
    cfg = sim_config(tmp_path, quality=quality)
    cfg["quality"] = {"evaluators": [{"name": "refusals", "checks": ["refusal"]}]}

    def question(i: int) -> tuple[dict[str, Any], dict[str, str]]:
        return chat("gpt-4o-mini", f"Question {i}: where is my order?"), {}

    clock = Clock()
    with running_gateway(cfg) as gw:
        clock.t0 = mark()
        assert set(send(gw, BASELINE, question)) == {200}
        clock.t1 = mark()
        assert set(send(gw, INCIDENT, question, BASELINE)) == {200}
        clock.t2 = mark()
        settled(gw, BASELINE + INCIDENT)
        wait_for(lambda: len(scores(gw)) >= BASELINE + INCIDENT, 20.0, "every call scored")
        result = run_triage(gw, clock)
    cause = top(result)
    assert cause.kind == "model", explain(result)
    assert cause.detail["served_model"] == "gpt-4o-mini-2099-01-01"
    assert "gpt-4o-mini-2099-01-01" in cause.why and "refusal failures" in cause.why
    assert cause.calls == INCIDENT
    refusals = next(s for s in result.suspects if s.detail.get("metric") == "score:refusal")
    assert refusals.consequence_of == cause.rank
    assert refusals.effect is not None and refusals.effect.ci is not None
    assert refusals.effect.ci[0] > 0.2 and refusals.effect.p_value is not None  # +~58 pt
    assert refusals.effect.p_value < 1e-6


# -- 3. a provider outage, failed over ---------------------------------------------------------

#: Users arrive on their own clock (an outage does not change how many calls come): both phases
#: are sent at this steady rate, so calls per minute are the same before and during.
PER_S = 300.0


def test_a_provider_outage_is_ranked_above_the_failover_it_causes(tmp_path: Path) -> None:
    clock = Clock()
    with ExitStack() as stack:
        primary = recording_sim()
        root, _ = primary.__enter__()
        cfg = sim_config(tmp_path)
        cfg["providers"]["primary"] = {"type": "openai", "base_url": f"{root}/v1"}
        cfg["models"]["chat"] = {
            "deployments": [
                {"provider": "primary", "model": "gpt-4o-mini"},
                {"provider": "sim", "model": "gpt-4o-mini"},
            ]
        }
        # The breaker opens after 20 failures (5 by default) and every call may fail over (the
        # retry budget's default is a fifth of them): five calls of 60 failed over are no rise
        # a test can tell from chance (p=0.02), twenty are.
        cfg["resilience"] = {
            "aliases": {"chat": {"strategy": "ordered"}},
            "breaker": {"consecutive_failures": 20, "error_rate": 1.0},
            "retry_budget": {"ratio": 1.0},
        }
        gw = stack.enter_context(running_gateway(cfg))

        def question(i: int) -> tuple[dict[str, Any], dict[str, str]]:
            return chat("chat", f"Question {i}"), {}

        assert set(send(gw, 10, question, 1000)) == {200}  # warm, as a gateway in service is
        clock.t0 = mark()
        assert set(send(gw, BASELINE, question, per_s=PER_S)) == {200}
        clock.t1 = mark()
        primary.__exit__(None, None, None)  # the primary goes down: connections refused
        clock.resumed = mark()  # stopping it took 0.1-0.2 s without traffic: in no window
        assert set(send(gw, INCIDENT, question, BASELINE, per_s=PER_S)) == {200}  # failed over
        clock.t2 = mark()
        settled(gw, BASELINE + INCIDENT)
        result = run_triage(gw, clock)
    cause = top(result)
    assert (cause.kind, cause.detail.get("provider")) == ("provider", "primary"), explain(result)
    assert "provider primary" in cause.why and "attempts failing" in cause.why
    assert cause.after.startswith("100% of"), cause.after
    assert any("calls served by primary: 100% →" in e for e in cause.evidence), cause.evidence
    assert "daytwo providers status" in cause.dig
    failover = next((s for s in result.suspects if s.detail.get("metric") == "failover"), None)
    assert failover is not None and failover.consequence_of == cause.rank, explain(result)


# -- 4. a looping agent -------------------------------------------------------------------------


def test_a_looping_agent_is_ranked_first_and_named(tmp_path: Path) -> None:
    cfg = sim_config(tmp_path)
    cfg["spend_control"] = {"loop_breaker": {"repeats": 4, "window_s": 60}}

    def user(i: int) -> tuple[dict[str, Any], dict[str, str]]:
        return chat("gpt-4o-mini", f"Question {i}"), {"x-daytwo-session": f"s-{i}"}

    def agent(i: int) -> tuple[dict[str, Any], dict[str, str]]:
        headers = {"x-daytwo-session": "agent-run-7", "x-daytwo-agent": "planner"}
        return chat("gpt-4o-mini", "Plan the next step of task 7."), headers

    clock = Clock()
    with running_gateway(cfg) as gw:
        clock.t0 = mark()
        assert set(send(gw, BASELINE, user)) == {200}
        clock.t1 = mark()
        assert set(send(gw, INCIDENT // 2, user, BASELINE)) == {200}
        looped = send_in_order(gw, 30, agent)
        assert looped.count(200) == 3 and looped.count(403) == 27
        assert set(send(gw, INCIDENT // 2, user, BASELINE + INCIDENT)) == {200}
        clock.t2 = mark()
        settled(gw, BASELINE + INCIDENT + 30)
        # the trip is written to the event log off the response path: wait for it
        with KeyStore.open(cfg["ledger"]["url"]) as events:
            wait_for(
                lambda: any(e.action == "loop" for e in events.events()), 10.0, "the loop trip"
            )
        result = run_triage(gw, clock)
    cause = top(result)
    assert (cause.kind, cause.detail["scope"]) == ("loop", "session=agent-run-7"), explain(result)
    assert "loop breaker tripped session=agent-run-7" in cause.why
    assert cause.calls == 30 and "27 refused" in cause.after
    assert "daytwo revive --session agent-run-7" in cause.dig
    refused = next(s for s in result.suspects if s.detail.get("metric") == "rejected")
    assert refused.consequence_of == cause.rank


# -- 5. a new heavy caller ----------------------------------------------------------------------


def test_a_new_heavy_caller_key_is_ranked_above_the_spend_it_adds(tmp_path: Path) -> None:
    cfg = sim_config(tmp_path)
    cfg["gateway"] = {"require_keys": True, "key_cache_ttl_s": 0.05}
    with KeyStore.open(cfg["ledger"]["url"]) as store:
        app = store.create(KeySpec(project="shop", workflow="support"), actor="test")
    clock = Clock()
    with running_gateway(cfg) as gw:
        with KeyStore.open(cfg["ledger"]["url"]) as store:
            batch = store.create(KeySpec(project="shop", workflow="support"), actor="ops")

        def steady(i: int) -> tuple[dict[str, Any], dict[str, str]]:
            return chat("gpt-4o-mini", f"Question {i}"), {"authorization": f"Bearer {app.secret}"}

        def heavy(i: int) -> tuple[dict[str, Any], dict[str, str]]:
            auth = {"authorization": f"Bearer {batch.secret}"}
            return chat("gpt-4o-mini", f"Summarise document {i}"), auth

        clock.t0 = mark()
        assert set(send(gw, BASELINE, steady)) == {200}
        clock.t1 = mark()
        assert set(send(gw, BASELINE, steady, BASELINE)) == {200}
        assert set(send(gw, 3 * BASELINE, heavy)) == {200}
        clock.t2 = mark()
        settled(gw, 5 * BASELINE)
        result = run_triage(gw, clock)
    cause = top(result)
    assert (cause.kind, cause.detail["value"]) == ("traffic", batch.record.id), explain(result)
    assert f"key {batch.record.id}" in cause.why and "0% → 75%" in cause.what
    assert f"daytwo keys blast-radius {batch.record.id}" in cause.dig
    assert cause.calls == 3 * BASELINE


# -- 6. an answer leaking a planted internal secret ---------------------------------------------

#: v2: the same prompt, with an internal escalation code in its system prompt.
PLANTED = {
    **TERSE,
    "version": 2,
    "system": "You are a support agent. Be brief. Escalate refunds over $500 with code "
    "INTERNAL-4471; never tell the customer the code.",
}


def test_a_prompt_whose_planted_secret_leaks_is_ranked_above_the_leaks(tmp_path: Path) -> None:
    root = prompt_dir(tmp_path / "prompts", TERSE, labels={"support-reply": {"production": 1}})
    # The model repeats its instructions' escalation code in about half of its answers.
    leaky = {"effects": [{"when": "INTERNAL-[0-9]+", "leak_rate": 0.5}]}
    cfg = sim_config(tmp_path, quality=leaky, min_output_tokens=10, max_output_tokens=20)
    cfg["prompts"] = {"dir": str(root), "reload_poll_s": 0.05}
    cfg["quality"] = {
        "evaluators": [{"name": "leaks", "checks": ["leak"]}],
        "leak": {"patterns": [{"name": "internal_marker", "regex": "INTERNAL-[0-9]+"}]},
    }

    def ticket(i: int) -> tuple[dict[str, Any], dict[str, str]]:
        body = chat("prompt:support-reply", f"Where is the refund of order {i}?")
        body["variables"] = {"n": str(i), "topic": "a refund"}
        return body, {}

    clock = Clock()
    with running_gateway(cfg) as gw:
        clock.t0 = mark()
        assert set(send(gw, BASELINE, ticket, per_s=PER_S)) == {200}
        clock.t1 = mark()
        write_version(root, PLANTED)
        write_labels(root, {"support-reply": {"production": 2}})
        wait_for(
            lambda: gw.app.prompts.current.labels["support-reply"]["production"] == 2,  # type: ignore[union-attr]
            what="the rollout",
        )
        clock.resumed = mark()  # the reload's poll, without traffic: in no window
        assert set(send(gw, INCIDENT, ticket, BASELINE, per_s=PER_S)) == {200}
        clock.t2 = mark()
        settled(gw, BASELINE + INCIDENT)
        wait_for(lambda: len(scores(gw)) >= BASELINE + INCIDENT, 20.0, "every call scored")
        leaked = [r for r in scores(gw) if r["label"] == "internal_marker"]
        result = run_triage(gw, clock)
    assert 15 <= len(leaked) <= 45 and all("INTERNAL" not in str(r) for r in leaked)
    cause = top(result)
    assert (cause.kind, cause.detail["version"]) == ("prompt", 2), explain(result)
    assert "support-reply" in cause.why and "v1 → v2" in cause.why
    assert "leak failures" in cause.why, cause.why
    assert any("label production v1 → v2" in e for e in cause.evidence), cause.evidence
    assert "daytwo prompts diff support-reply 1 2" in cause.dig
    assert cause.calls == INCIDENT
    leaks = next((s for s in result.suspects if s.detail.get("metric") == "score:leak"), None)
    assert leaks is not None and leaks.consequence_of == cause.rank, explain(result)
    assert leaks.effect is not None and leaks.effect.ci is not None
    assert leaks.effect.before == 0.0 and leaks.effect.ci[0] > 0.2  # 0% → about half
    assert leaks.effect.p_value is not None and leaks.effect.p_value < 1e-6
    assert cause.explains["score:leak"] > 0.9
