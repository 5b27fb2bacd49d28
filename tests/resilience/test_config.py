"""The ``resilience`` config section refuses what cannot work, naming the problem."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from daytwo.config.resilience import ResilienceConfig


def test_a_full_section_loads() -> None:
    cfg = ResilienceConfig.model_validate(
        {
            "defaults": {"deadline_s": 120, "try_timeout_s": 60, "max_attempts": 3},
            "aliases": {
                "gpt-4o": {"strategy": "weighted", "weights": {"openai/gpt-4o": 3, "az": 1}},
                "fast": {"strategy": "least_latency"},
            },
            "retry_budget": {"ratio": 0.2, "min_retries": 10, "window_s": 10},
            "breaker": {"consecutive_failures": 5, "error_rate": 0.5, "open_s": 5},
        }
    )
    assert cfg.for_alias("gpt-4o").weights == {"openai/gpt-4o": 3.0, "az": 1.0}  # type: ignore[union-attr]
    assert cfg.for_alias("nope") is None
    with pytest.raises(ValidationError):
        cfg.defaults.__setattr__("deadline_s", 1)  # frozen


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"defaults": {"strategy": "ordered", "weights": {"a": 1}}}, "only used by strategy"),
        ({"defaults": {"strategy": "weighted", "weights": {"a": 0}}}, "above 0"),
        ({"defaults": {"deadline_s": 5, "try_timeout_s": 10}}, "try_timeout_s"),
        ({"defaults": {"max_attempts": 0}}, "max_attempts"),
        ({"defaults": {"strategy": "random"}}, "strategy"),
        ({"breaker": {"min_calls": 30, "window_calls": 20}}, "min_calls"),
        ({"breaker": {"open_s": 600, "max_open_s": 60}}, "open_s"),
        ({"breaker": {"error_rate": 0}}, "error_rate"),
        ({"retry_budget": {"ratio": 1.5}}, "ratio"),
        ({"retry_budget": {"retries": 3}}, "retries"),
    ],
)
def test_refused(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ResilienceConfig.model_validate(section)
