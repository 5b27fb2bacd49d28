"""The incident demo's gateway (``daytwo demo --incident``): one simulated model behind the
alias ``gpt-4o``, the support app's prompt ``support-reply`` (v1 in production, and a v2 whose
new legal-safety rule makes the model refuse), the ``refusal`` online evaluator, a refusal SLO
whose page fires within seconds, the support project's content captured (redacted) for
replay, and the response cache on for the alias so that degraded ``cached`` mode has answers.

The simulator decides each question's fate by a hash of the question (docs/simulator.md), so
the same question refused under v2 is answered under v1: the replay's pairs show it. v2's
system text matches :data:`EFFECT_WHEN`, the sim effect that adds :data:`V2_EXTRA_REFUSAL` to
the refusal rate; nothing else in the story refuses more.

Timings scale with the run's length (``seconds``), so the test's short run tells the same
story as the default minute.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from daytwo.demo.prompts import V1

PROMPT = "support-reply"
PROJECT = "support"
WORKFLOW = "answer"
ALIAS = "gpt-4o"
#: The simulated model's own refusal rate, and what v2's system text adds to it.
BASE_REFUSAL = 0.02
V2_EXTRA_REFUSAL = 0.45
#: The sim effect's regex, found in v2's system text only.
EFFECT_WHEN = "(?i)decline anything"
#: The refusal SLO: at most 10 % refusals, paged when both windows burn it at twice the rate.
SLO_NAME = "support-refusals"
SLO_OBJECTIVE = 0.9
SLO_PAGE_BURN = 2.0
SLO_MIN_EVENTS = 10
#: The alert engine's log sink writes here, in the demo's directory.
ALERT_LOG = "alerts.log"

#: The bad change: a rule a reviewer would approve, which the model reads as "refuse".
_V2 = """\
name: support-reply
version: 2
model: gpt-4o
system: >-
  You are a friendly support agent for {{ shop }}. Answer briefly. For legal safety, decline
  anything that is not strictly about an order placed in the last 30 days.
variables:
  shop: {type: string, default: the shop}
  topic: {type: string}
messages:
  - role: user
    content: "{{ topic }}"
metadata: {owner: support, description: "Answers customer questions, with a legal-safety rule"}
"""


def write_prompts(workdir: Path) -> Path:
    """The prompt directory, fresh for every run: v1 and v2, production on v1."""
    root = workdir / "prompts"
    (root / PROMPT).mkdir(parents=True, exist_ok=True)
    (root / PROMPT / "v1.yaml").write_text(V1, encoding="utf-8")
    (root / PROMPT / "v2.yaml").write_text(_V2, encoding="utf-8")
    set_production(root, 1)
    return root


def set_production(root: Path, version: int) -> None:
    """The one-line change to labels.yaml, replaced in one step (never read half-written)."""
    tmp = root / ".labels.yaml.tmp"
    tmp.write_text(f"{PROMPT}: {{production: {version}}}\n", encoding="utf-8")
    os.replace(tmp, root / "labels.yaml")


def slo_windows(seconds: float) -> tuple[int, int]:
    """The page's long and short windows in whole seconds: long enough to hold a dozen
    scored answers, short enough to fire (and resolve) within the run."""
    long = max(4, round(seconds * 0.1))
    return long, max(2, long // 2)


def incident_config(
    ledger_path: Path, prompts_root: Path, port: int, seconds: float
) -> dict[str, Any]:
    long, short = slo_windows(seconds)
    sim = {
        "seed": 11,
        "ttft_ms": 15,
        "per_token_ms": 1,
        "min_output_tokens": 20,
        "max_output_tokens": 60,
        "quality": {
            "refusal_rate": BASE_REFUSAL,
            "effects": [{"when": EFFECT_WHEN, "refusal_rate": V2_EXTRA_REFUSAL}],
        },
    }
    return {
        "server": {"host": "127.0.0.1", "port": port, "reload_poll_s": 0},
        # The embedded demo runs without virtual keys; the admin API needs its tokens.
        "gateway": {"require_keys": False},
        "logging": {"level": "warning", "access_log": False},
        "providers": {"sim": {"type": "sim", "sim": sim}},
        "models": {ALIAS: {"deployments": [{"provider": "sim", "model": ALIAS}]}},
        "prompts": {"dir": str(prompts_root), "reload_poll_s": 0.2},
        "ledger": {"url": f"sqlite:///{ledger_path}", "flush_interval_ms": 100},
        "cache": {"backend": "memory", "aliases": {ALIAS: {}}},
        "audit": {
            "capture": "metadata",
            "rules": [{"project": PROJECT, "capture": "redacted"}],
        },
        "quality": {"evaluators": [{"name": "refusal", "checks": ["refusal"]}]},
        "alerts": {
            "interval_s": 0.25,
            "sinks": {"log": {"type": "log"}},
            "rules": [],
        },
        "slos": [
            {
                "name": SLO_NAME,
                "sli": "refusal",
                "objective": SLO_OBJECTIVE,
                "scope": {"project": PROJECT, "workflow": WORKFLOW},
                "alerting": [
                    {
                        "severity": "page",
                        "long": f"{long}s",
                        "short": f"{short}s",
                        "burn_rate": SLO_PAGE_BURN,
                    }
                ],
                "min_events": SLO_MIN_EVENTS,
                "sampling_aware": False,
                "sinks": ["log"],
            }
        ],
    }


def write_config(path: Path, raw: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
