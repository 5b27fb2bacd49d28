"""The ``resilience`` config section refuses what cannot work, naming the problem."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from daytwo.config.load import validate_config
from daytwo.config.resilience import ResilienceConfig
from daytwo.core.errors import ConfigError


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


def _config(resilience: dict[str, Any], **extra: Any) -> dict[str, Any]:
    dep = {"provider": "p", "model": "gpt-4o-mini"}
    return {
        "providers": {"p": {"type": "sim"}, "q": {"type": "sim"}},
        "models": {
            "chat": {"deployments": [dep, {"provider": "q", "model": "gpt-4o-mini"}]},
            "small": {"deployments": [dep]},
            "embed": {"kind": "embeddings", "deployments": [dep]},
        },
        "resilience": resilience,
        **extra,
    }


def test_the_section_loads_in_the_whole_config() -> None:
    cfg = validate_config(
        _config(
            {
                "aliases": {
                    "chat": {
                        "strategy": "weighted",
                        "weights": {"p/gpt-4o-mini": 3, "q/gpt-4o-mini": 1},
                        "tiers": [{"hint": "cheap", "to": "small"}],
                    }
                }
            }
        )
    )
    assert cfg.resilience.aliases["chat"].tiers[0].to == "small"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_config({"aliases": {"nope": {}}}), "resilience.aliases.nope: unknown model alias"),
        (
            _config({"aliases": {"chat": {"weights": {"x/y": 1}}}}),
            "`x/y` is not a deployment of `chat`",
        ),
        (
            _config({"aliases": {"chat": {"tiers": [{"hint": "h", "to": "nope"}]}}}),
            "resilience.aliases.chat.tiers.0.to: unknown model alias `nope`",
        ),
        (
            _config({"aliases": {"chat": {"tiers": [{"hint": "h", "to": "embed"}]}}}),
            "`embed` is a embeddings alias, `chat` a chat alias",
        ),
        (
            _config({"aliases": {"chat": {"tiers": [{"to": "small"}]}}}),
            "a tier rule needs a condition",
        ),
        (
            _config({"defaults": {"tiers": [{"hint": "h", "to": "small"}]}}),
            "tiers belong to an alias",
        ),
        (_config({}, cache={"aliases": ["nope"]}), "cache.aliases.nope: unknown model alias"),
    ],
)
def test_cross_references_are_checked_with_the_key_path(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(data)
    assert message in str(info.value.problems)


def test_two_deployments_with_one_id_are_refused() -> None:
    data = _config({})
    data["models"]["chat"]["deployments"][1]["provider"] = "p"
    with pytest.raises(ConfigError) as info:
        validate_config(data)
    assert "two deployments have the same id" in str(info.value.problems)
