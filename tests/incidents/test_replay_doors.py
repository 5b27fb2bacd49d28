"""``daytwo replay`` of calls made at the Anthropic door (``/v1/messages``) and the Responses
door (``/v1/responses``), through the simulator over real HTTP: captured, then replayed
against another model, a config checkpoint and another prompt version, with a report that
reads the original and the replay in the same shape.

The alias ``assistant`` is the simulated ``flaky``, which refuses at ``FLAKY_REFUSAL``;
``steady`` never refuses; prompt v2's "senior" system text makes the simulator refuse, v1's
does not (tests/incidents/replay_harness.py). The replay's own calls are captured too (a
``full`` rule for project ``replay``), so a test sees the door each one went through. One test
puts the simulator's ``/v1/messages`` behind an ``anthropic`` provider, where the Anthropic door
relays the client's body as-is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.harness import route
from tests.incidents.replay_harness import (
    TOPICS,
    Incident,
    project_config,
    question,
    replay_json,
    traffic,
)

from daytwo.config.schema import SimSettings
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

SYSTEM = "You answer support tickets."
THINKING = {"type": "enabled", "budget_tokens": 1024}


def _message(model: str, topic: str) -> dict[str, Any]:
    """A Messages request only the Anthropic door reads as it is meant: a top-level system,
    content blocks, stop sequences."""
    return {
        "model": model,
        "max_tokens": 200,
        "system": SYSTEM,
        "stop_sequences": ["\n\nHuman:"],
        "messages": [{"role": "user", "content": [{"type": "text", "text": question(topic)}]}],
    }


def _config(root: Path, **kw: Any) -> dict[str, Any]:
    cfg = project_config(root, **kw)
    cfg["audit"]["rules"].append({"project": "replay", "capture": "full"})
    return cfg


def _rate(report: dict[str, Any], name: str) -> dict[str, Any]:
    (row,) = [r for r in report["rates"] if r["name"] == name]
    return dict(row)


def _replays(incident: Incident, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The captured content of the replay's answer calls (not the judge's)."""
    rows = incident.rows("SELECT id, tags FROM calls WHERE session = ?", report["run_id"])
    ids = [r["id"] for r in rows if orjson.loads(r["tags"])["purpose"] == "answer"]
    return [incident.captured(i) for i in ids]


def test_anthropic_door_calls_are_replayed_through_that_door_against_another_model(
    tmp_path: Path,
) -> None:
    topics = TOPICS[:24]
    incident = traffic(
        tmp_path,
        _config(tmp_path, capture="redacted"),
        "/v1/messages",
        [_message("assistant", t) for t in topics],
        headers={"anthropic-beta": "prompt-caching-2024-07-31"},
    )
    kept = incident.captured(incident.call_ids[0])
    assert kept["wire"] == "anthropic" and kept["beta"] == ["prompt-caching-2024-07-31"]
    assert kept["request"]["system"] == SYSTEM

    report = replay_json("--config", str(incident.config), "--model", "steady", "--judge", "judge")
    assert report["replayed"] == len(topics) and report["skipped"] == {}
    assert report["failed"] == {}
    refusal = _rate(report, "refusal")
    refused = round(refusal["original"] * len(topics))
    assert refused > 0.3 * len(topics) and refusal["replay"] == 0.0
    assert refusal["discordant"] == [refused, 0]
    # Both answers read alike: every refusal replaced by the scripted answer is a win, and
    # an answer against the same answer is a tie (an original read as empty would lose).
    judge = report["judge"]
    assert (judge["better"], judge["worse"]) == (refused, 0)
    assert judge["ties"] == len(topics) - refused

    sent = _replays(incident, report)
    assert len(sent) == len(topics)
    for content in sent:  # the Messages body, model replaced, through the Messages door
        assert content["wire"] == "anthropic"
        assert content["beta"] == ["prompt-caching-2024-07-31"]
        request = content["request"]
        assert request["model"] == "steady" and request["system"] == SYSTEM
        assert request["stop_sequences"] == ["\n\nHuman:"]
    rows = incident.rows("SELECT alias FROM calls WHERE session = ?", report["run_id"])
    assert {r["alias"] for r in rows} == {"steady", "judge"}


def test_anthropic_door_calls_replay_the_alias_as_a_checkpoint_defined_it(tmp_path: Path) -> None:
    before = traffic(
        tmp_path, _config(tmp_path, capture="full", assistant="gpt-4o"), "/v1/messages", []
    )
    topics = TOPICS[:16]
    incident = traffic(
        tmp_path,
        _config(tmp_path, capture="full"),
        "/v1/messages",
        [_message("assistant", t) for t in topics],
    )
    report = replay_json(
        "--config", str(incident.config), "--config-checkpoint", before.config_hash
    )
    assert report["replayed"] == len(topics) and report["skipped"] == {}
    refusal = _rate(report, "refusal")
    assert refusal["original"] > 0.3 and refusal["replay"] == 0.0
    alias = f"replay@{before.config_hash}:assistant"
    assert [c["request"]["model"] for c in _replays(incident, report)] == [alias] * len(topics)


def test_responses_door_calls_are_replayed_against_another_model(tmp_path: Path) -> None:
    topics = TOPICS[:24]
    bodies = [
        {
            "model": "assistant",
            "instructions": SYSTEM,
            "input": question(t),
            "max_output_tokens": 200,
        }
        for t in topics
    ]
    incident = traffic(tmp_path, _config(tmp_path, capture="full"), "/v1/responses", bodies)
    report = replay_json("--config", str(incident.config), "--model", "steady", "--judge", "judge")
    assert report["replayed"] == len(topics) and report["skipped"] == {}
    refusal = _rate(report, "refusal")
    refused = round(refusal["original"] * len(topics))
    assert refused > 0.3 * len(topics) and refusal["replay"] == 0.0
    judge = report["judge"]
    assert (judge["better"], judge["worse"], judge["ties"]) == (refused, 0, len(topics) - refused)
    sent = [c["request"] for c in _replays(incident, report)]
    assert {m["messages"][1]["content"] for m in sent} == {question(t) for t in topics}
    for request in sent:  # the door's translation, model replaced
        assert request["messages"][0] == {"role": "system", "content": SYSTEM}
        assert (request["model"], request["max_completion_tokens"]) == ("steady", 200)


@pytest.mark.parametrize("door", ["/v1/messages", "/v1/responses"])
def test_prompt_calls_at_either_door_replay_against_another_version(
    tmp_path: Path, door: str
) -> None:
    bodies = []
    for topic in TOPICS:
        variables = {"customer": "Ann", "topic": topic}
        follow_up = f"Any news about {topic}?"
        if door == "/v1/messages":
            bodies.append(
                {
                    "model": "prompt:support-reply@v2",
                    "max_tokens": 300,
                    "messages": [{"role": "user", "content": follow_up}],
                    "variables": variables,
                }
            )
        else:
            bodies.append(
                {"model": "prompt:support-reply@v2", "input": follow_up, "variables": variables}
            )
    incident = traffic(tmp_path, _config(tmp_path, capture="redacted"), door, bodies)
    kept = incident.captured(incident.call_ids[0])
    assert kept["variables"] == {"customer": "Ann", "topic": TOPICS[0]}

    report = replay_json("--config", str(incident.config), "--against", "prompt:support-reply@v1")
    assert report["replayed"] == len(TOPICS) and report["skipped"] == {}
    refusal = _rate(report, "refusal")
    assert refusal["original"] > 0.3 and refusal["replay"] == 0.0 and refusal["ci_high"] < 0
    sent = [c["variables"] for c in _replays(incident, report)]
    assert sorted(v["topic"] for v in sent) == sorted(TOPICS)
    assert {v["customer"] for v in sent} == {"Ann"}


def test_a_messages_body_relayed_to_an_anthropic_upstream_is_replayed_as_it_was_sent(
    tmp_path: Path,
) -> None:
    cfg = _config(tmp_path, capture="full")
    settings = SimSettings(**cfg["providers"]["sim"]["sim"])
    with running_sim_server(settings) as url:
        cfg["providers"]["claude"] = {"type": "anthropic", "base_url": url.removesuffix("/v1")}
        cfg["models"]["claude-flaky"] = route("claude", "flaky")
        cfg["models"]["claude-steady"] = route("claude", "gpt-4o")
        topics = TOPICS[:16]
        bodies = [
            {**_message("claude-flaky", t), "max_tokens": 2048, "thinking": THINKING}
            for t in topics
        ]
        incident = traffic(tmp_path, cfg, "/v1/messages", bodies)
        report = replay_json("--config", str(incident.config), "--model", "claude-steady")
    assert report["replayed"] == len(topics) and report["failed"] == {}
    refusal = _rate(report, "refusal")
    assert refusal["original"] > 0.3 and refusal["replay"] == 0.0
    rows = incident.rows("SELECT provider FROM calls WHERE session = ?", report["run_id"])
    assert {r["provider"] for r in rows} == {"claude"}
    for content in _replays(incident, report):  # thinking reached the upstream as sent
        assert content["request"]["thinking"] == THINKING
