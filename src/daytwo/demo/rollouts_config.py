"""The rollouts demo's gateway (``daytwo demo --rollouts``): one simulated provider behind the
aliases ``smart`` (gpt-4o) and ``cheap`` (gpt-4o-mini: as good in the simulator, at about a
sixteenth of the price) that the helpdesk's ``triage`` workflow calls, the support app's prompt
``support-reply`` (v1 in production, and the incident demo's v2 whose legal-safety rule makes
the model refuse) behind the alias ``gpt-4o``, the ``refusal`` online evaluator, and rollouts
judged every second with criteria small enough for a demo's traffic, their notifications sent
to a log sink.

``rollouts.yaml`` is written when the story moves the label (:func:`write_policy`), the way a
pull request would add it next to ``labels.yaml``.

Timings scale with the run's length (``seconds``), so the test's short run tells the same
story as the default minute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from daytwo.demo.incident_config import (
    BASE_REFUSAL,
    EFFECT_WHEN,
    PROJECT,
    PROMPT,
    V2_EXTRA_REFUSAL,
    WORKFLOW,
)
from daytwo.rollout.gitops import POLICY_FILE

#: The helpdesk's triage workflow and the aliases its rollout moves between.
TRIAGE_PROJECT = "helpdesk"
TRIAGE_WORKFLOW = "triage"
CONTROL_ALIAS = "smart"
CANDIDATE_ALIAS = "cheap"
CONTROL_MODEL = "gpt-4o"
CANDIDATE_MODEL = "gpt-4o-mini"
#: The alias support-reply's versions name.
PROMPT_ALIAS = "gpt-4o"
#: The incident demo's support app (its ledger reads count this project's refusals).
SUPPORT_PROJECT = PROJECT
SUPPORT_WORKFLOW = WORKFLOW
LABEL = "production"
ALIAS_STAGES = "shadow:50%,canary:25%,100%"
PROMPT_STAGES = "canary:25%,50%,100%"
#: The alias rollout's own criterion: the candidate must cost at most half the control.
ALIAS_CRITERIA: dict[str, float] = {"max_cost_ratio": 0.5}
#: What rollouts.yaml sets for the support label over the gateway's defaults: a support
#: answer may refuse at most 5 points more, judged from 20 candidate calls.
PROMPT_CRITERIA: dict[str, float] = {"min_calls": 20, "max_refusal_increase": 0.05}
SINK = "log"
#: The alert engine's log sink writes here, in the demo's directory.
ALERT_LOG = "alerts.log"
EVALUATE_S = 1.0
BOARD_POLL_S = 0.25


def stage_s(seconds: float) -> float:
    """How long each stage lasts at least (``criteria.min_duration_s``)."""
    return max(2.0, round(seconds * 0.1, 1))


def criteria(seconds: float) -> dict[str, float]:
    """The gateway's ``rollouts.criteria``: a few seconds and 30 candidate calls a stage, and
    margins wide enough that two equal arms show "not worse" on that many calls (0 errors in
    30: Newcombe's upper bound is 11 points)."""
    return {
        "min_duration_s": stage_s(seconds),
        "min_calls": 30,
        "max_error_increase": 0.15,
        "max_refusal_increase": 0.15,
        "max_latency_ratio": 1.5,
        "max_cost_ratio": 1.25,
    }


def rollouts_config(
    ledger_path: Path, prompts_root: Path, port: int, seconds: float
) -> dict[str, Any]:
    sim = {
        "seed": 18,
        "ttft_ms": 20,
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
        "models": {
            CONTROL_ALIAS: {"deployments": [{"provider": "sim", "model": CONTROL_MODEL}]},
            CANDIDATE_ALIAS: {"deployments": [{"provider": "sim", "model": CANDIDATE_MODEL}]},
            PROMPT_ALIAS: {"deployments": [{"provider": "sim", "model": CONTROL_MODEL}]},
        },
        "prompts": {"dir": str(prompts_root), "reload_poll_s": 0.2},
        "ledger": {"url": f"sqlite:///{ledger_path}", "flush_interval_ms": 100},
        "quality": {"evaluators": [{"name": "refusal", "checks": ["refusal"]}]},
        "alerts": {
            "backoff_s": 0.2,
            "max_backoff_s": 1.0,
            "sinks": {SINK: {"type": "log"}},
            "rules": [],
        },
        "rollouts": {
            "poll_s": BOARD_POLL_S,
            "evaluate_s": EVALUATE_S,
            "sinks": [SINK],
            "criteria": criteria(seconds),
        },
    }


def policy() -> dict[str, Any]:
    """rollouts.yaml: how support-reply's production label moves."""
    return {
        PROMPT: {LABEL: {"stages": PROMPT_STAGES, "sticky": "session", "criteria": PROMPT_CRITERIA}}
    }


def write_policy(root: Path) -> Path:
    path = root / POLICY_FILE
    path.write_text(yaml.safe_dump(policy(), sort_keys=False), encoding="utf-8")
    return path


def write_config(path: Path, raw: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
