"""The demo's gateway config: simulated providers that behave like real ones (latency, output
lengths) behind aliases named like real models, and a scheduled outage of the OpenAI-shaped
provider that its aliases ride out on Anthropic.

The outage and the breaker's timings scale with the run's length, so a three-second run shows
the same story as the default minute: the breaker opens, traffic fails over, the provider
recovers and traffic returns.
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
#: gateway, speaking both APIs).
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
