"""A production incident for ``daytwo replay`` tests: a project directory (``daytwo.yaml`` with
the simulator, ``prompts/`` with support-reply v1 and v2, a ledger), production traffic sent
through a real gateway over HTTP, then the replay run by the CLI.

The simulator's script makes v2 worse: its system text says "senior", and a ``senior`` effect
adds :data:`V2_REFUSAL` to the refusal rate; every ticket has a scripted answer that restates
it (so the simulated judge, which prefers the answer covering more of the question, prefers an
answer to a refusal, and calls two identical answers a tie).
The alias ``assistant`` is served by the simulated model ``flaky``, which refuses at
:data:`FLAKY_REFUSAL`; ``gpt-4o`` (alias ``steady``, and the judge) never refuses, nor does
``gpt-4o-mini`` (the prompts' alias).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import yaml
from click.testing import CliRunner, Result
from tests.gateway.harness import http, route, running_gateway, sim_config
from tests.prompts.files import support_prompts

from daytwo.audit.codec import decompress
from daytwo.cli.main import cli

V2_REFUSAL = 0.6
FLAKY_REFUSAL = 0.6
TOPICS = [
    f"{what} of order {n}"
    for n in range(1, 11)
    for what in ("a refund", "a late delivery", "a broken charger", "a wrong invoice")
]


def question(topic: str, customer: str = "Ann") -> str:
    return f"Ticket from {customer}: {topic}"


def project_config(
    root: Path, *, capture: str = "redacted", assistant: str = "flaky"
) -> dict[str, Any]:
    """``assistant``: the simulated model behind the alias ``assistant``."""
    answers = [
        {
            "match": {"exact": question(t)},
            "answer": f"Ann, about {t}: it is solved and the ticket closed.",
        }
        for t in TOPICS
    ]
    quality = {
        "correct_rate": 1.0,
        "refusal_rate": 0.0,
        "answers": answers,
        "effects": [{"when": "senior", "refusal_rate": V2_REFUSAL}],
        "personalities": {"flaky": {"refusal_rate": FLAKY_REFUSAL}},
    }
    cfg = sim_config(root, quality=quality, max_output_tokens=200)
    cfg["models"]["assistant"] = route("sim", assistant)
    cfg["models"]["steady"] = route("sim", "gpt-4o")
    cfg["models"]["judge"] = route("sim", "gpt-4o")
    cfg["prompts"] = {"dir": "prompts", "reload_poll_s": 0}
    cfg["audit"] = {"capture": "metadata", "rules": [{"project": "support", "capture": capture}]}
    return cfg


@dataclass
class Incident:
    root: Path
    config: Path
    config_hash: str
    call_ids: list[str]

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.db"

    def captured(self, call_id: str) -> dict[str, Any]:
        """The content the audit trail kept of ``call_id``."""
        (row,) = self.rows("SELECT codec, content FROM call_content WHERE call_id = ?", call_id)
        kept: dict[str, Any] = orjson.loads(decompress(row["codec"], bytes(row["content"])))
        return kept

    def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        conn = sqlite3.connect(self.ledger)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql, args)]
        finally:
            conn.close()


def write_config(root: Path, cfg: dict[str, Any]) -> Path:
    support_prompts(root / "prompts")
    path = root / "daytwo.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def production(
    root: Path,
    cfg: dict[str, Any],
    *,
    model: str = "prompt:support-reply@v2",
    topics: Sequence[str] = TOPICS,
    project: str = "support",
) -> Incident:
    """``topics`` sent as tickets to the Chat Completions door (see :func:`traffic`)."""
    bodies = []
    for topic in topics:
        body: dict[str, Any] = {"model": model, "messages": []}
        if model.startswith("prompt:"):
            body["variables"] = {"customer": "Ann", "topic": topic}
        else:
            body["messages"] = [{"role": "user", "content": question(topic)}]
        bodies.append(body)
    return traffic(root, cfg, "/v1/chat/completions", bodies, project=project)


def traffic(
    root: Path,
    cfg: dict[str, Any],
    door: str,
    bodies: Sequence[dict[str, Any]],
    *,
    project: str = "support",
    headers: dict[str, str] | None = None,
) -> Incident:
    """``bodies`` sent to ``door`` (``/v1/messages``, ...) through a gateway serving ``cfg``
    (real HTTP), stopped afterwards (its ledger flushed)."""
    path = write_config(root, cfg)
    ids = []
    sent = {"x-daytwo-project": project, "x-daytwo-workflow": "tickets", **(headers or {})}
    with running_gateway(cfg, path) as gw:
        for body in bodies:
            status, got, raw = http("POST", f"{gw.url}{door}", orjson.dumps(body), sent)
            assert status == 200, raw
            ids.append(got["x-daytwo-call-id"])
        config_hash = gw.app.runtime.config_hash
    return Incident(root, path, config_hash, ids)


def replay(*args: str) -> Result:
    return CliRunner().invoke(cli, ["replay", *args], catch_exceptions=False)


def replay_json(*args: str) -> dict[str, Any]:
    got = replay(*args, "--json")
    assert got.exit_code == 0, got.output
    data: dict[str, Any] = orjson.loads(got.stdout)
    return data


def ledger_rows(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()
