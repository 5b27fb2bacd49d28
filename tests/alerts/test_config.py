"""The ``alerts`` section is validated at load, and each problem names its key path."""

from __future__ import annotations

from typing import Any

import pytest

from daytwo.config.load import validate_config
from daytwo.core.errors import ConfigError

HOOK = {"type": "webhook", "url": "https://hooks.example.com/x"}


def _config(rules: list[dict[str, Any]], sinks: dict[str, Any] | None = None, **more: Any) -> Any:
    return validate_config(
        {
            "providers": {"sim": {"type": "sim"}},
            "models": {"chat": {"deployments": [{"provider": "sim", "model": "m"}]}},
            "alerts": {"sinks": {"hook": HOOK} if sinks is None else sinks, "rules": rules},
            **more,
        }
    )


def _problems(rules: list[dict[str, Any]], sinks: dict[str, Any] | None = None, **more: Any) -> str:
    with pytest.raises(ConfigError) as err:
        _config(rules, sinks, **more)
    return "\n".join(err.value.problems)


def test_a_full_section_loads_with_the_kinds_defaults() -> None:
    cfg = _config(
        [
            {
                "name": "errors",
                "kind": "error_rate",
                "threshold": 0.1,
                "for": 30,
                "sinks": ["hook"],
            },
            {
                "name": "cap",
                "kind": "daily_cost",
                "threshold": 50,
                "scope": {"project": "acme"},
                "action": "trip",
                "sinks": ["hook"],
            },
            {"name": "unpriced", "kind": "unpriced_calls", "sinks": ["hook"]},
            {"name": "budgets", "kind": "budget_threshold", "threshold": 80, "sinks": ["hook"]},
        ],
        sinks={
            "hook": {**HOOK, "secret": "env:HOOK_KEY", "headers": {"X-Team": "ml"}},
            "chat": {"type": "slack", "url": "env:SLACK_URL"},
            "pager": {"type": "pagerduty", "routing_key": "file:/run/secrets/pd"},
            "mail": {
                "type": "email",
                "host": "smtp.example.com",
                "from": "a@example.com",
                "to": ["b@example.com"],
                "username": "u",
                "password": "env:SMTP_PW",
            },
            "log": {"type": "log"},
        },
    ).alerts
    errors, cap, unpriced, budgets = cfg.rules
    assert (errors.for_, errors.window_s, errors.group_by, errors.least_calls) == (
        30,
        300,
        ("alias",),
        1,
    )
    assert (cap.window_s, cap.action, cap.group_by) == (None, "trip", ())
    assert (unpriced.limit, unpriced.window_s) == (0.0, 3600)
    assert budgets.limit == 80
    assert cfg.interval_s == 15 and cfg.sinks["mail"].from_ == "a@example.com"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"kind": "error_rate"}, "alerts.rules.0: kind error_rate needs a threshold (in ratio)"),
        (
            {"kind": "fallback_rate", "threshold": 5},
            "alerts.rules.0: threshold: fallback_rate is a share of calls, below 1",
        ),
        (
            {"kind": "p95_latency", "threshold": 100, "action": "trip"},
            "action: trip is for daily_cost rules",
        ),
        (
            {"kind": "daily_cost", "threshold": 10, "action": "trip"},
            "action: trip needs a scope or `by`",
        ),
        (
            {"kind": "daily_cost", "threshold": 10, "window": 60},
            "window: daily_cost is evaluated over the local day",
        ),
        (
            {"kind": "budget_threshold", "scope": {"project": "x"}},
            "budget_threshold watches budgets: use `budget`",
        ),
        (
            {"kind": "spend_per_hour", "threshold": 1, "min_calls": 5},
            "min_calls: spend_per_hour is not a rate or percentile",
        ),
        ({"kind": "request_tokens", "threshold": 10.5}, "request_tokens counts whole tokens"),
        (
            {"kind": "error_rate", "threshold": 0.1, "severity": "page"},
            "alerts.rules.0.severity: Input should be 'info', 'warning' or 'critical'",
        ),
        ({"kind": "error_rate", "threshold": 0.1, "by": ["user"]}, "alerts.rules.0.by.0:"),
        (
            {"kind": "error_rate", "threshold": 0.1, "sinks": ["nope"]},
            "alerts.rules.0.sinks: unknown sink `nope` (known: hook)",
        ),
        (
            {"kind": "error_rate", "threshold": 0.1, "scope": {"alias": "gpt-9"}},
            "alerts.rules.0.scope.alias: unknown model alias `gpt-9`",
        ),
        (
            {"kind": "budget_threshold", "budget": "ghost"},
            "alerts.rules.0.budget: no spend_control budget is named `ghost`",
        ),
    ],
)
def test_a_bad_rule_is_refused_naming_the_key_path(rule: dict[str, Any], expected: str) -> None:
    assert expected in _problems([{"name": "r", "sinks": ["hook"], **rule}])


def test_rule_names_are_unique() -> None:
    rule = {"name": "r", "kind": "unpriced_calls", "sinks": ["hook"]}
    assert "rule names must be unique; repeated: r" in _problems([rule, rule])


@pytest.mark.parametrize(
    ("sink", "expected"),
    [
        (
            {"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/secret"},
            "alerts.sinks.s.slack.url: a secret must be a reference",
        ),
        (
            {"type": "pagerduty", "routing_key": "R0123456789"},
            "alerts.sinks.s.pagerduty.routing_key",
        ),
        ({"type": "webhook", "url": "ftp://x"}, "alerts.sinks.s.webhook.url"),
        (
            {"type": "webhook", "url": "https://x", "headers": {"X-Daytwo-Signature": "x"}},
            "is set by daytwo",
        ),
        (
            {"type": "email", "host": "h", "from": "a@b", "to": ["c@d"], "username": "u"},
            "username and password go together",
        ),
        ({"type": "email", "host": "h", "from": "a@b", "to": []}, "alerts.sinks.s.email.to"),
        ({"type": "sms"}, "alerts.sinks.s"),
    ],
)
def test_a_bad_sink_is_refused(sink: dict[str, Any], expected: str) -> None:
    assert expected in _problems([], sinks={"s": sink})
