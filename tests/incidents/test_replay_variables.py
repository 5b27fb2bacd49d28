"""A prompt's variables are captured with the call (redacted, shown and revealed like the rest
of its content), and ``daytwo replay --against`` renders the other version with exactly those:
through the simulator over real HTTP, with a template whose variables its rendered text cannot
give back (an ``{% if %}`` that hides one, two variables side by side)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from tests.incidents.replay_harness import TOPICS, project_config, replay_json, traffic
from tests.prompts.files import write_version

from daytwo.cli.main import cli
from daytwo.incidents.replay_build import recover_variables
from daytwo.prompts import load_prompts

pytestmark = pytest.mark.integration

EMAIL = "ann.lee@example.com"
#: Production's version: ``vip`` shows only as a word the template chose, ``first`` and
#: ``last`` run together.
GREET_V2: dict[str, Any] = {
    "name": "greet",
    "version": 2,
    "model": "gpt-4o-mini",
    "system": "You are a {% if vip %}priority {% endif %}support agent.",
    "messages": [
        {"role": "user", "content": "Ticket from {{ first }}{{ last }} ({{ email }}): {{ topic }}"}
    ],
    "variables": {
        "first": {"type": "string"},
        "last": {"type": "string"},
        "email": {"type": "string"},
        "vip": {"type": "boolean", "default": False},
        "topic": {"type": "string"},
    },
    "max_tokens": 200,
}
#: The version replayed: every variable where it can be seen.
GREET_V1: dict[str, Any] = {
    **GREET_V2,
    "version": 1,
    "system": "{% if vip %}A VIP customer writes. {% endif %}Be brief.",
    "messages": [
        {"role": "user", "content": "Ticket from {{ first }} {{ last }} <{{ email }}>: {{ topic }}"}
    ],
}


def _variables(topic: str) -> dict[str, Any]:
    return {"first": "Ann", "last": "Lee", "email": EMAIL, "vip": True, "topic": topic}


def test_captured_variables_replay_exactly_where_recovery_cannot(tmp_path: Path) -> None:
    cfg = project_config(tmp_path, capture="redacted")
    cfg["audit"]["rules"].append({"project": "replay", "capture": "full"})
    for spec in (GREET_V1, GREET_V2):
        write_version(tmp_path / "prompts", spec)
    topics = TOPICS[:8]
    bodies = [
        {"model": "prompt:greet@v2", "messages": [], "variables": _variables(t)} for t in topics
    ]
    incident = traffic(tmp_path, cfg, "/v1/chat/completions", bodies)

    # Kept with the call, redacted like the messages they rendered.
    kept = incident.captured(incident.call_ids[0])
    redacted_email = kept["variables"]["email"]
    assert redacted_email.startswith("[REDACTED:email") and EMAIL not in str(kept)
    assert kept["variables"] == {**_variables(topics[0]), "email": redacted_email}
    # What the rendered text alone would give: nothing, or the wrong names.
    prompts = load_prompts(tmp_path / "prompts")
    v2 = prompts.versions["greet"][2]
    recovered = recover_variables(v2, kept["request"]["messages"][:2])
    assert recovered is None or recovered != kept["variables"]

    dataset = tmp_path / "greet.jsonl"
    report = replay_json(
        "--config",
        str(incident.config),
        "--against",
        "prompt:greet@v1",
        "--save-dataset",
        str(dataset),
    )
    assert report["replayed"] == len(topics) and report["skipped"] == {}

    v1 = prompts.versions["greet"][1]
    rows = incident.rows("SELECT id, prompt_version FROM calls WHERE session = ?", report["run_id"])
    assert {r["prompt_version"] for r in rows} == {1}
    seen = set()
    for row in rows:
        sent = incident.captured(row["id"])
        variables = sent["variables"]
        assert variables == {**_variables(variables["topic"]), "email": redacted_email}
        expected = prompts.render(v1, variables).messages
        assert sent["request"]["messages"] == list(expected)
        assert expected[0]["content"] == "A VIP customer writes. Be brief."
        seen.add(variables["topic"])
    assert seen == set(topics)
    saved = [orjson.loads(line)["vars"] for line in dataset.read_text().splitlines()]
    assert sorted(saved, key=lambda v: v["topic"]) == [
        {**_variables(t), "email": redacted_email} for t in sorted(topics)
    ]


def test_audit_show_lists_the_variables_and_a_reveal_puts_their_values_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLAY_TEST_VAULT_KEY", base64.b64encode(bytes(range(32))).decode())
    cfg = project_config(tmp_path, capture="redacted")
    cfg["audit"]["redaction"] = {"reversible_key": "env:REPLAY_TEST_VAULT_KEY"}
    write_version(tmp_path / "prompts", GREET_V2)
    body = {"model": "prompt:greet@v2", "messages": [], "variables": _variables(TOPICS[0])}
    incident = traffic(tmp_path, cfg, "/v1/chat/completions", [body])
    show = ["audit", "show", incident.call_ids[0], "--config", str(incident.config)]

    shown = CliRunner().invoke(cli, show)
    assert shown.exit_code == 0, shown.output
    assert '  variables: {\n  "email": "[REDACTED:email:' in shown.output
    assert EMAIL not in shown.output
    revealed = CliRunner().invoke(cli, [*show, "--reveal", "--json"])
    assert revealed.exit_code == 0, revealed.output
    assert orjson.loads(revealed.output)["content"]["variables"] == _variables(TOPICS[0])
