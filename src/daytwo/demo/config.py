"""The demo's gateway config: simulated providers that behave like real ones (latency, output
lengths, a flaky primary) behind aliases named like real models."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

#: The nightly batch agent's daily budget: small enough to trip during a short demo run.
BATCH_BUDGET_USD_PER_MINUTE = "0.12"
#: The simulator behind the Claude- and Gemini-shaped providers (a real HTTP server beside the
#: gateway, speaking both APIs).
HTTP_SIM = {"seed": 4, "ttft_ms": 300, "per_token_ms": 8, "min_output_tokens": 40}


def demo_config(
    ledger_path: Path, port: int, *, sim_url: str, seconds: float = 60.0
) -> dict[str, Any]:
    """``sim_url``: the HTTP simulator's base URL; it speaks Anthropic's Messages API and Google's
    Gemini API too (every door of one simulator server)."""
    batch_cap = Decimal(BATCH_BUDGET_USD_PER_MINUTE) * Decimal(str(seconds)) / 60 * Decimal("0.4")
    return {
        "server": {"host": "127.0.0.1", "port": port, "reload_poll_s": 0},
        # The embedded demo runs without virtual keys (`daytwo keys create` makes real ones).
        "gateway": {"require_keys": False},
        "logging": {"level": "warning", "access_log": False},
        "providers": {
            # A primary that fails now and then (5% 503s) and a healthy backup: failover shows.
            "openai-sim": {
                "type": "sim",
                "sim": {
                    "seed": 1,
                    "ttft_ms": 180,
                    "per_token_ms": 6,
                    "min_output_tokens": 20,
                    "max_output_tokens": 220,
                    "faults": {"rate_503": 0.05, "rate_429": 0.01, "retry_after_s": 2},
                },
            },
            "backup-sim": {
                "type": "sim",
                "sim": {"seed": 2, "ttft_ms": 260, "per_token_ms": 9, "max_output_tokens": 200},
            },
            "embed-sim": {"type": "sim", "sim": {"seed": 3, "ttft_ms": 40}},
            # A Claude-shaped upstream: daytwo translates OpenAI-format calls to Anthropic's
            # Messages API and back (the apps never notice).
            "anthropic-sim": {"type": "anthropic", "base_url": sim_url.removesuffix("/v1")},
            # A Gemini-shaped upstream (generateContent / streamGenerateContent).
            "gemini-sim": {"type": "gemini", "base_url": sim_url.removesuffix("/v1")},
        },
        "models": {
            "gpt-4o-mini": {
                "deployments": [
                    {"provider": "openai-sim", "model": "gpt-4o-mini"},
                    {"provider": "backup-sim", "model": "gpt-4o-mini"},
                ]
            },
            "gpt-4o": {
                "deployments": [
                    {"provider": "openai-sim", "model": "gpt-4o"},
                    {"provider": "backup-sim", "model": "gpt-4o"},
                ]
            },
            "gemini-flash": {
                "deployments": [{"provider": "gemini-sim", "model": "gemini-2.5-flash"}]
            },
            "claude-sonnet": {
                "deployments": [{"provider": "anthropic-sim", "model": "claude-sonnet-4-20250514"}]
            },
            "text-embedding-3-small": {
                "kind": "embeddings",
                "deployments": [{"provider": "embed-sim", "model": "text-embedding-3-small"}],
            },
        },
        "ledger": {"url": f"sqlite:///{ledger_path}", "flush_interval_ms": 200},
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
