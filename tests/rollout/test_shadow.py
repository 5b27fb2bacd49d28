"""A rollout's shadow stage over real HTTP: the client gets the control's answer; the sampled
calls are mirrored to the candidate through the pipeline, as project ``experiment`` (no
tenant budget counts them), with the rollout, the arm ``shadow`` and the source call in the
ledger; calls offering tools are not mirrored; a client cannot forge the shadow marker."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from tests.gateway.harness import http, route, running_gateway, sim_config, wait_for
from tests.prompts.files import SUPPORT_V1, SUPPORT_V2, prompt_dir
from tests.rollout.harness import make_rollout, start

pytestmark = pytest.mark.integration


def test_shadow_mirrors_to_the_candidate_as_experiment_spend(tmp_path: Path) -> None:
    cfg = sim_config(tmp_path)
    cfg["models"]["cheap"] = route("sim", "gpt-3.5-turbo")
    cfg["rollouts"] = {"poll_s": 0.05}
    cfg["spend_control"] = {
        "budgets": [{"name": "acme", "scope": {"project": "acme"}, "window": "day", "usd": 100}]
    }
    with running_gateway(cfg) as gw:
        r = start(
            gw.app.config.ledger.url,
            make_rollout("alias", "gpt-4o-mini", "gpt-4o-mini", "cheap", "shadow:100%,canary:10%"),
        )
        wait_for(lambda: gw.app.rollouts is not None and gw.app.rollouts.any, what="the poll")
        plain = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        tools = {
            **plain,
            "tools": [{"type": "function", "function": {"name": "refund", "parameters": {}}}],
        }
        sent = []
        for i, body in enumerate([plain] * 5 + [tools]):
            status, headers, raw = http(
                "POST",
                f"{gw.base_url}/chat/completions",
                orjson.dumps(body),
                {"x-daytwo-project": "acme", "x-daytwo-session": f"s{i}"},
            )
            assert status == 200, raw
            assert orjson.loads(raw)["model"].startswith("gpt-4o-mini")  # the control answered
            sent.append(headers["x-daytwo-call-id"])
        rows = wait_for(
            lambda: (lambda rs: rs if len(rs) == 11 else None)(gw.records()), what="mirrors"
        )
    control = [x for x in rows if x["project"] == "acme"]
    shadow = [x for x in rows if x["project"] == "experiment"]
    assert {x["rollout_arm"] for x in control} == {"control"}
    assert len(shadow) == 5 and {x["rollout_arm"] for x in shadow} == {"shadow"}
    assert {x["rollout_id"] for x in rows} == {r.id}
    assert {x["deployment"] for x in shadow} == {"sim/gpt-3.5-turbo"}
    sources = {orjson.loads(x["tags"])["source_call"] for x in shadow}
    assert sources == set(sent[:5])  # the call offering tools was not mirrored
    assert {x["session"] for x in shadow} == {f"s{i}" for i in range(5)}
    assert all(x["cost_nanousd"] > 0 for x in shadow)


def test_a_prompt_shadow_renders_the_candidate_version(tmp_path: Path) -> None:
    root = prompt_dir(
        tmp_path / "prompts", SUPPORT_V1, SUPPORT_V2, labels={"support-reply": {"production": 1}}
    )
    cfg = sim_config(tmp_path)
    cfg["prompts"] = {"dir": str(root), "reload_poll_s": 0.05}
    cfg["rollouts"] = {"poll_s": 0.05}
    with running_gateway(cfg) as gw:
        start(
            gw.app.config.ledger.url,
            make_rollout("prompt", "support-reply@production", "1", "2", "shadow:100%"),
        )
        wait_for(lambda: gw.app.rollouts is not None and gw.app.rollouts.any, what="the poll")
        body = {
            "model": "prompt:support-reply",
            "messages": [],
            "variables": {"customer": "ann", "topic": "a refund"},
        }
        status, _, raw = http(
            "POST", f"{gw.base_url}/chat/completions", orjson.dumps(body), {"x-daytwo-session": "s"}
        )
        assert status == 200, raw
        rows = wait_for(
            lambda: (lambda rs: rs if len(rs) == 2 else None)(gw.records()), what="the mirror"
        )
    by_arm = {x["rollout_arm"]: x for x in rows}
    assert (by_arm["control"]["prompt_version"], by_arm["shadow"]["prompt_version"]) == (1, 2)
    assert by_arm["shadow"]["prompt_label"] is None  # named by version, as mirrored


def test_a_forged_shadow_marker_is_ignored(tmp_path: Path) -> None:
    with running_gateway(sim_config(tmp_path)) as gw:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        status, headers, _ = http(
            "POST",
            f"{gw.base_url}/chat/completions",
            orjson.dumps(body),
            {"x-daytwo-shadow": "ro_abc;guessed"},
        )
        assert status == 200
        row = gw.record(headers["x-daytwo-call-id"])
    assert row["rollout_id"] is None and row["rollout_arm"] is None


def test_mirrored_calls_are_checked_by_the_evaluators_of_the_calls_they_mirror(
    tmp_path: Path,
) -> None:
    cfg = sim_config(tmp_path)
    cfg["models"]["cheap"] = route("sim", "gpt-3.5-turbo")
    cfg["rollouts"] = {"poll_s": 0.05}
    cfg["quality"] = {
        "evaluators": [
            {
                "name": "acme",
                "match": {"project": "acme", "alias": "gpt-4o-mini"},
                "checks": ["refusal"],
            }
        ]
    }
    with running_gateway(cfg) as gw:
        start(
            gw.app.config.ledger.url,
            make_rollout("alias", "gpt-4o-mini", "gpt-4o-mini", "cheap", "shadow:100%"),
        )
        wait_for(lambda: gw.app.rollouts is not None and gw.app.rollouts.any, what="the poll")
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        for i in range(3):
            status, _, _ = http(
                "POST",
                f"{gw.base_url}/chat/completions",
                orjson.dumps(body),
                {"x-daytwo-project": "acme", "x-daytwo-session": f"s{i}"},
            )
            assert status == 200
        rows = wait_for(
            lambda: (lambda rs: rs if len(rs) == 6 else None)(gw.records()), what="mirrors"
        )
        shadow_ids = {x["id"] for x in rows if x["rollout_arm"] == "shadow"}
        assert len(shadow_ids) == 3

        def scored() -> set[str]:
            assert gw.app.ledger is not None
            gw.app.ledger.flush(5.0)
            with sqlite3.connect(gw.db) as conn:  # type: ignore[arg-type]
                found = conn.execute(
                    "SELECT call_id FROM scores WHERE evaluator = 'refusal'"
                ).fetchall()
            return {r[0] for r in found} & shadow_ids

        assert wait_for(lambda: scored() == shadow_ids, what="the mirrors' refusal scores")
