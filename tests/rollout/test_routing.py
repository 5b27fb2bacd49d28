"""A rollout routes calls over real HTTP: the split of a prompt label and of an alias, sticky
per session (1,000 sessions), recorded in the ledger with the rollout and the arm; a rollout
stored by another process (the CLI, another replica) is picked up within a poll."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.harness import http, route, running_gateway, sim_config, wait_for
from tests.prompts.files import SUPPORT_V1, SUPPORT_V2, prompt_dir
from tests.rollout.harness import make_rollout, start

from daytwo.rollout.assign import bucket

pytestmark = pytest.mark.integration


def _ticket(session: str) -> tuple[bytes, dict[str, str]]:
    body = {
        "model": "prompt:support-reply",
        "messages": [],
        "variables": {"customer": "ann", "topic": "a refund"},
    }
    return orjson.dumps(body), {"x-daytwo-session": session}


def test_a_prompt_rollout_splits_by_session_and_the_ledger_names_the_arm(tmp_path: Path) -> None:
    root = prompt_dir(
        tmp_path / "prompts", SUPPORT_V1, SUPPORT_V2, labels={"support-reply": {"production": 1}}
    )
    cfg = sim_config(tmp_path)
    cfg["prompts"] = {"dir": str(root), "reload_poll_s": 0.05}
    cfg["rollouts"] = {"poll_s": 0.05}
    with running_gateway(cfg) as gw:
        r = start(
            gw.app.config.ledger.url,
            make_rollout("prompt", "support-reply@production", "1", "2", "canary:30%"),
        )
        wait_for(lambda: gw.app.rollouts is not None and gw.app.rollouts.any, what="the poll")
        sessions = [f"s-{i}" for i in range(1000)]
        for session in sessions:
            for _ in range(2):  # a session's second call takes the same arm
                body, headers = _ticket(session)
                status, _, raw = http("POST", f"{gw.base_url}/chat/completions", body, headers)
                assert status == 200, raw
        rows = gw.records()
    assert len(rows) == 2000
    by_session: dict[str, set[tuple[Any, ...]]] = {}
    for row in rows:
        by_session.setdefault(row["session"], set()).add(
            (row["rollout_arm"], row["prompt_version"])
        )
    for session, arms in by_session.items():
        assert len(arms) == 1, (session, arms)  # sticky
        ((arm, version),) = arms
        want = "candidate" if bucket(r.id, session) < 30 else "control"
        assert arm == want and version == (2 if want == "candidate" else 1)
    assert {row["rollout_id"] for row in rows} == {r.id}
    share = Counter(next(iter(a))[0] for a in by_session.values())["candidate"] / 1000
    sigma = (0.3 * 0.7 / 1000) ** 0.5
    assert 0.3 - 4 * sigma < share < 0.3 + 4 * sigma, share


def test_an_alias_rollout_serves_the_candidate_alias_and_keeps_the_asked_alias(
    tmp_path: Path,
) -> None:
    cfg = sim_config(tmp_path)
    cfg["models"]["cheap"] = route("sim", "gpt-3.5-turbo")
    cfg["rollouts"] = {"poll_s": 0.05}
    with running_gateway(cfg) as gw:
        r = start(
            gw.app.config.ledger.url,
            make_rollout(
                "alias", "gpt-4o-mini", "gpt-4o-mini", "cheap", "canary:50%,100%", stage=1
            ),
        )
        wait_for(lambda: gw.app.rollouts is not None and gw.app.rollouts.any, what="the poll")
        body = orjson.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        )
        for i in range(10):
            status, _, _ = http(
                "POST", f"{gw.base_url}/chat/completions", body, {"x-daytwo-session": f"s{i}"}
            )
            assert status == 200
        rows = gw.records()
    assert {(x["alias"], x["rollout_id"], x["rollout_arm"]) for x in rows} == {
        ("gpt-4o-mini", r.id, "candidate")
    }  # full: every call is the candidate's
    assert {x["deployment"] for x in rows} == {"sim/gpt-3.5-turbo"}
