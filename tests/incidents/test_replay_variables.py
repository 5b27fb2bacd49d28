"""A prompt's variables are captured with the call: redacted, shown and revealed like the rest
of its content."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from tests.incidents.replay_harness import TOPICS, project_config, traffic
from tests.prompts.files import write_version

from daytwo.cli.main import cli

pytestmark = pytest.mark.integration

EMAIL = "ann.lee@example.com"
#: ``vip`` shows only as a word the template chose, ``first`` and ``last`` run together.
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


def _variables(topic: str) -> dict[str, Any]:
    return {"first": "Ann", "last": "Lee", "email": EMAIL, "vip": True, "topic": topic}


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
