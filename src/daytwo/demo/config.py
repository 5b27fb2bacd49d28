"""The demo's gateway config: simulated providers that behave like real ones (latency, output
lengths, a flaky primary) behind aliases named like real models."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def demo_config(ledger_path: Path, port: int) -> dict[str, Any]:
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
            "text-embedding-3-small": {
                "kind": "embeddings",
                "deployments": [{"provider": "embed-sim", "model": "text-embedding-3-small"}],
            },
        },
        "ledger": {"url": f"sqlite:///{ledger_path}", "flush_interval_ms": 200},
        "pricing": {"unpriced": "flag"},
    }
