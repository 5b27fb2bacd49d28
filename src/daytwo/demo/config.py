"""The demo's gateway config: simulated providers that behave like real ones (latency, output
lengths) behind aliases named like real models, a scheduled outage of the OpenAI-shaped
provider that its aliases ride out on Anthropic, and a silent model change on the
Anthropic-shaped provider that only the quality checks notice.

The outage, the model change and every timing that must see them (breaker, alert, drift and
SLO windows) scale with the run's length, so a short run shows the same story as the default
minute: the breaker opens, traffic fails over, the provider recovers and traffic returns; the
Claude model is swapped under its name, refuses more, and daytwo says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from daytwo.config.schema import SimSettings
from daytwo.demo.support_qa import sim_quality

#: The nightly batch agent's daily budget: small enough to trip during a short demo run.
BATCH_BUDGET_USD_PER_MINUTE = "0.12"
#: The simulator behind the Claude- and Gemini-shaped providers (a real HTTP server beside the
#: gateway, speaking both APIs); its quality block is :func:`http_sim`'s.
HTTP_SIM = {"seed": 4, "ttft_ms": 300, "per_token_ms": 8, "min_output_tokens": 40}
#: The OpenAI-shaped primary: its own simulator server, so its outage hits it alone.
OPENAI_SIM = {
    "seed": 1,
    "ttft_ms": 180,
    "per_token_ms": 6,
    "min_output_tokens": 20,
    "max_output_tokens": 220,
}

#: The provider that has an outage, and the one its aliases fail over to.
OUTAGE_PROVIDER = "openai"
FALLBACK_PROVIDER = "anthropic"
#: When the outage starts and ends, as shares of the run.
OUTAGE_FROM = 0.3
OUTAGE_UNTIL = 0.6
#: How the provider fails meanwhile (a ``SimOutage`` mode).
OUTAGE_MODE = "503"
#: The demo's alert thresholds: the share of calls answered by a fallback, and the spend per
#: hour of all the apps together (they spend ~$15/h).
FAILOVER_ALERT_RATE = 0.2
SPEND_ALERT_USD_PER_HOUR = 3


#: The silent model change: the Claude model behind ``claude-sonnet`` (and ``gpt-4o``'s
#: fallback) is replaced, at this share of the run, by a newer dated snapshot that refuses
#: far more often. Anthropic's answers carry no fingerprint: only the served ``model`` changes.
CHANGED_MODEL = "claude-sonnet-4-20250514"
NEW_SERVED_MODEL = "claude-sonnet-4-20260301"
CHANGE_AT = 0.55
#: Refusal rates before and after (per question: the simulator's fate of a question is a hash,
#: so a rate is measured over different questions). Production shifts are smaller (3 % → 8 %
#: in issue 15's tests); 25 % makes the shift visible within a demo-length run.
REFUSAL_BEFORE = 0.03
REFUSAL_AFTER = 0.25
#: The quality SLO on the reviews app: at most 3 % refusals (its error budget).
SLO_NAME = "review-replies-refusals"
SLO_OBJECTIVE = 0.97
#: The SLO's page: both windows burning the budget at least this many times too fast.
SLO_PAGE_BURN = 2.0


@dataclass(frozen=True, slots=True)
class ModelChange:
    """The scheduled silent model change, in seconds from the start of the run."""

    provider: str
    model: str
    served_before: str
    served_after: str
    at_s: float
    refusal_before: float
    refusal_after: float


def model_change_for(seconds: float) -> ModelChange:
    return ModelChange(
        FALLBACK_PROVIDER,
        CHANGED_MODEL,
        CHANGED_MODEL,
        NEW_SERVED_MODEL,
        round(seconds * CHANGE_AT, 2),
        REFUSAL_BEFORE,
        REFUSAL_AFTER,
    )


def http_sim(seconds: float) -> SimSettings:
    """The Claude- and Gemini-shaped simulator's settings: the Claude model refuses a few
    questions, then is silently swapped (its clock must start with the run, as the outage's:
    :class:`DrillClock`)."""
    change = model_change_for(seconds)
    return SimSettings.model_validate(
        {
            **HTTP_SIM,
            "quality": {
                "personalities": {change.model: {"refusal_rate": change.refusal_before}},
                "changes": [
                    {
                        "after_s": change.at_s,
                        "models": [change.model],
                        "personality": {
                            "served_model": change.served_after,
                            "refusal_rate": change.refusal_after,
                        },
                    }
                ],
            },
        }
    )


@dataclass(frozen=True, slots=True)
class Outage:
    """The scheduled outage, in seconds from the start of the run."""

    provider: str
    fallback: str
    mode: str
    start_s: float
    end_s: float


def outage_for(seconds: float) -> Outage:
    return Outage(
        OUTAGE_PROVIDER,
        FALLBACK_PROVIDER,
        OUTAGE_MODE,
        round(seconds * OUTAGE_FROM, 2),
        round(seconds * OUTAGE_UNTIL, 2),
    )


def openai_sim(seconds: float) -> SimSettings:
    """The OpenAI-shaped simulator's settings, its outage included (its clock must start
    with the run: see :class:`DrillClock`)."""
    outage = outage_for(seconds)
    return SimSettings.model_validate(
        {
            **OPENAI_SIM,
            # The shop's support questions are answered from a script, mostly right (the
            # demo's deploy gate grades them).
            "quality": sim_quality(),
            "outages": [
                {
                    "start_s": outage.start_s,
                    "duration_s": round(outage.end_s - outage.start_s, 2),
                    "mode": outage.mode,
                }
            ],
        }
    )


class DrillClock:
    """The outage drill's clock for the simulator: it stands at 0 until :meth:`start`, then
    counts monotonic seconds. The simulator measures its scheduled outages from its own start,
    so this puts the outage at the same point of the apps' run however long the gateway
    took to start."""

    def __init__(self) -> None:
        self._since: float | None = None

    def start(self) -> None:
        self._since = time.monotonic()

    def __call__(self) -> float:
        return 0.0 if self._since is None else time.monotonic() - self._since


def breaker_open_s(seconds: float) -> float:
    """The breaker's first open period: long enough to be seen, short enough that recovery
    follows the outage's end closely (it doubles on each failed probe, up to twice this)."""
    return round(min(2.0, max(0.25, seconds / 30)), 2)


def alert_window_s(seconds: float) -> float:
    """The demo's alert windows: they scale with the run, and outlast a failed-over call (a
    call counts from its start and reaches the ledger when it ends)."""
    return round(max(1.5, seconds * 0.05), 2)


def alerting(seconds: float) -> dict[str, Any]:
    """The demo's alert rules, on the log and (added by the demo) its live view: calls answered
    by a fallback during the outage (fires, then resolves after it), and the apps' spend rate
    (fires early; resolves once the apps stop). A cooldown as long as the run keeps each alert
    to one fire and one resolve."""
    window = alert_window_s(seconds)
    common = {"window": window, "cooldown": seconds, "sinks": ["log"]}
    return {
        "interval_s": round(max(0.1, seconds / 200), 2),
        "sinks": {"log": {"type": "log"}},
        "rules": [
            {
                # The outage, seen from the traffic's side.
                "name": "failover",
                "kind": "fallback_rate",
                "threshold": FAILOVER_ALERT_RATE,
                "by": [],
                "severity": "warning",
                **common,
            },
            {
                # Over a longer window: single calls are cheap, so a short one is jumpy.
                "name": "spend-rate",
                "kind": "spend_per_hour",
                "threshold": SPEND_ALERT_USD_PER_HOUR,
                "severity": "critical",
                **common,
                "window": round(max(3.0, seconds * 0.25), 2),
            },
        ],
    }


#: The reviews app (:mod:`daytwo.demo.traffic`): the steady traffic on ``claude-sonnet`` that
#: the quality SLO holds.
REVIEWS_PROJECT = "reviews"


def quality() -> dict[str, Any]:
    """Online evaluators: the cheap checks on every answered call (docs/quality.md), after
    the answer went out. No judges: they would need a budget and a key of their own."""
    checks = ["refusal", "format", "truncation", "tool_call", "length"]
    return {"evaluators": [{"name": "cheap-checks", "checks": checks}]}


def drift(seconds: float) -> dict[str, Any]:
    """``model_changed`` on, and drift of the refusal and format rates tuned for a run of
    ``seconds``: a recent window of a quarter of the run against everything before it, a
    small minimum count and a looser alpha. Production defaults are far larger (a 1 h window
    against 7 days, 200 events a side, alpha 0.001: docs/drift.md), set for false alarms
    once in thousands of windows, not for a demo. Length is not compared: the prompt
    promotion and the failover change it on purpose."""
    return {
        "sinks": ["log"],
        "model_changed": True,
        "interval_s": round(max(0.2, seconds / 40), 2),
        "window_s": round(seconds * 0.25, 2),
        "baseline_s": round(seconds * 4, 2),
        "min_events": 10,
        "alpha": 0.01,
        "rates": ["refusal", "format"],
        "distributions": [],
        "context_s": round(seconds, 2),
        "cooldown_s": round(seconds, 2),
    }


def slo_windows(seconds: float) -> tuple[int, int]:
    """The SLO page's long and short windows in whole seconds: 30 % of the run, and half of
    that (the workbook's are 1 h and 5 m over a 30-day budget)."""
    long = max(2, round(seconds * 0.3))
    return long, max(1, round(long / 2))


def slos(seconds: float) -> list[dict[str, Any]]:
    """One quality SLO: the reviews app's answers are refusals at most 3 % of the time, with
    one page alert on demo-length windows. Sampling-aware (the Wilson lower bound, 5 events
    at least in a window), so one refusal among a handful of answers does not page."""
    long, short = slo_windows(seconds)
    return [
        {
            "name": SLO_NAME,
            "sli": "refusal",
            "objective": SLO_OBJECTIVE,
            "scope": {"project": REVIEWS_PROJECT},
            "alerting": [
                {
                    "severity": "page",
                    "long": f"{long}s",
                    "short": f"{short}s",
                    "burn_rate": SLO_PAGE_BURN,
                }
            ],
            "min_events": 5,
            "sampling_aware": True,
            "runbook": "https://runbooks.example.com/review-replies-refusals",
            "sinks": ["log"],
        }
    ]


def demo_config(
    ledger_path: Path, port: int, *, sim_url: str, openai_url: str, seconds: float = 60.0
) -> dict[str, Any]:
    """``sim_url``: the HTTP simulator's base URL; it speaks Anthropic's Messages API and Google's
    Gemini API too (every door of one simulator server). ``openai_url``: the OpenAI-shaped
    simulator's (:func:`openai_sim`)."""
    batch_cap = Decimal(BATCH_BUDGET_USD_PER_MINUTE) * Decimal(str(seconds)) / 60 * Decimal("0.4")
    open_s = breaker_open_s(seconds)
    # One try on the primary, then the fallback; a try that has not answered (a stream: its
    # first chunk) in 8 s is abandoned, and the whole call gets 20 s.
    chain = {"strategy": "ordered", "max_attempts": 2, "try_timeout_s": 8, "deadline_s": 20}
    return {
        "server": {"host": "127.0.0.1", "port": port, "reload_poll_s": 0},
        # The embedded demo runs without virtual keys (`daytwo keys create` makes real ones).
        "gateway": {"require_keys": False},
        "logging": {"level": "warning", "access_log": False},
        "providers": {
            # The OpenAI-shaped primary, with a scheduled outage.
            OUTAGE_PROVIDER: {"type": "openai", "base_url": openai_url},
            "embeddings": {"type": "sim", "sim": {"seed": 3, "ttft_ms": 40}},
            # A Claude-shaped upstream: daytwo translates OpenAI-format calls to Anthropic's
            # Messages API and back (the apps never notice, failed over or not).
            FALLBACK_PROVIDER: {"type": "anthropic", "base_url": sim_url.removesuffix("/v1")},
            # A Gemini-shaped upstream (generateContent / streamGenerateContent).
            "gemini": {"type": "gemini", "base_url": sim_url.removesuffix("/v1")},
            # The deploy gate's judge (the simulator answers daytwo's judge requests).
            "judge": {"type": "sim", "sim": {"seed": 5, "ttft_ms": 60, "per_token_ms": 1}},
        },
        "models": {
            "gpt-4o-mini": {
                "deployments": [
                    {"provider": OUTAGE_PROVIDER, "model": "gpt-4o-mini"},
                    {"provider": FALLBACK_PROVIDER, "model": "claude-haiku-4-5-20251001"},
                ]
            },
            "gpt-4o": {
                "deployments": [
                    {"provider": OUTAGE_PROVIDER, "model": "gpt-4o"},
                    {"provider": FALLBACK_PROVIDER, "model": "claude-sonnet-4-20250514"},
                ]
            },
            "gemini-flash": {"deployments": [{"provider": "gemini", "model": "gemini-2.5-flash"}]},
            "claude-sonnet": {
                "deployments": [
                    {"provider": FALLBACK_PROVIDER, "model": "claude-sonnet-4-20250514"}
                ]
            },
            # A Claude-named judge: another model family than the GPT models it grades.
            "judge": {"deployments": [{"provider": "judge", "model": "claude-sonnet-4-20250514"}]},
            "text-embedding-3-small": {
                "kind": "embeddings",
                "deployments": [{"provider": "embeddings", "model": "text-embedding-3-small"}],
            },
        },
        "resilience": {
            "aliases": {"gpt-4o-mini": chain, "gpt-4o": chain},
            # Two failures in a row open a deployment's breaker (the demo's traffic is light);
            # while open, its calls go straight to the fallback; after `open_s` one call
            # probes it, and closes it if it succeeds.
            "breaker": {
                "consecutive_failures": 2,
                "half_open_probes": 1,
                "open_s": open_s,
                "max_open_s": round(open_s * 2, 2),
            },
        },
        "ledger": {"url": f"sqlite:///{ledger_path}", "flush_interval_ms": 100},
        "alerts": alerting(seconds),
        "pricing": {"unpriced": "flag"},
        "quality": quality(),
        "drift": drift(seconds),
        "slos": slos(seconds),
        "spend_control": {
            "budgets": [
                # "Daily cost cap -> disable the AI feature until a human reviews": the batch
                # agent's budget trips its workflow off when spend reaches the cap.
                {
                    "name": "nightly-digest-daily",
                    "scope": {"project": "batch", "workflow": "nightly-digest"},
                    "window": "day",
                    "usd": str(batch_cap.quantize(Decimal("0.000001"))),
                    "actions": ["alert", "trip"],
                },
                {"name": "org-daily", "window": "day", "usd": "100", "actions": ["alert"]},
            ],
            "rate_limits": [
                {"name": "per-project", "scope": {"project": "*"}, "rpm": 6000, "concurrent": 50}
            ],
            "loop_breaker": {"by": "session", "repeats": 8, "window_s": 60},
        },
    }
