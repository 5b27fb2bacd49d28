"""``daytwo alerts list|test|history`` through click's CliRunner: a real config file, a real
ledger (SQLite, and PostgreSQL for the history), and test notifications received by a loopback
server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from tests.alerts.harness import HMAC_ENV, HMAC_KEY
from tests.alerts.receiver import Receiver, receiving

from daytwo.alerts.history import AlertHistory
from daytwo.alerts.notify import SIGNATURE_HEADER, verify
from daytwo.cli.main import cli
from daytwo.gateway.server import free_port
from daytwo.ledger.store import open_store

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=[pytest.mark.postgres]),
    ]
)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def _write_config(tmp_path: Path, receiver: Receiver, ledger_url: str) -> Path:
    hook = {
        "type": "webhook",
        "url": f"{receiver.url}/hook",
        "secret": f"env:{HMAC_ENV}",
        "allow_private": True,
    }
    dead = {"type": "webhook", "url": f"http://127.0.0.1:{free_port()}/x", "allow_private": True}
    raw = {
        "providers": {"sim": {"type": "sim"}},
        "models": {"chat": {"deployments": [{"provider": "sim", "model": "m"}]}},
        "ledger": {"url": ledger_url},
        "alerts": {
            "delivery_attempts": 2,
            "backoff_s": 0.01,
            "sinks": {"hook": hook, "dead": dead, "log": {"type": "log"}},
            "rules": [
                {
                    "name": "errors",
                    "kind": "error_rate",
                    "threshold": 0.05,
                    "window": 300,
                    "for": 60,
                    "severity": "critical",
                    "scope": {"alias": "chat"},
                    "sinks": ["hook", "log"],
                },
                {"name": "cap", "kind": "daily_cost", "threshold": 20, "sinks": ["dead"]},
            ],
        },
    }
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path, receiver: Receiver, ledger_url: str) -> Path:
    open_store(ledger_url).close()  # the gateway created the ledger
    return _write_config(tmp_path, receiver, ledger_url)


def run(*args: str) -> Result:
    env = {HMAC_ENV: HMAC_KEY, "DAYTWO_CONFIG": ""}
    return CliRunner().invoke(cli, ["alerts", *args], env=env)


def one_line_error(result: Result, code: int, *needles: str) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("daytwo alerts: ")
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def test_test_sends_a_signed_test_notification(config: Path, receiver: Receiver) -> None:
    result = run("test", "--config", str(config), "--sink", "hook")
    assert result.exit_code == 0, result.output
    assert result.stdout == "sent to hook (webhook) after 1 attempt\n"
    (req,) = receiver.received
    assert verify(HMAC_KEY.encode(), req.body, req.headers[SIGNATURE_HEADER.lower()])
    body = req.json()
    assert body["test"] is True and body["status"] == "firing"
    assert body["summary"] == "[test] a test notification from daytwo: this sink works"


def test_test_as_a_rule_goes_to_its_sinks(config: Path, receiver: Receiver) -> None:
    result = run("test", "--config", str(config), "--rule", "errors", "--json")
    assert result.exit_code == 0, result.output
    assert [(r["sink"], r["error"]) for r in json.loads(result.stdout)] == [
        ("hook", None),
        ("log", None),
    ]
    (body,) = receiver.bodies()
    assert body["rule"] == "errors" and body["labels"] == {"alias": "chat"}
    assert body["summary"].startswith("[test] errors (alias=chat): error rate")


def test_a_failed_delivery_is_one_line_and_exit_1(config: Path, ledger_url: str) -> None:
    result = run("test", "--config", str(config), "--sink", "dead")
    line = one_line_error(result, 1, "dead (webhook): failed after 2 attempts", "cannot reach")
    assert "127.0.0.1" in line
    store = AlertHistory.open(ledger_url)
    try:
        rows = store.since(0)
    finally:
        store.close()
    assert [(r.sink, r.state, r.attempt, r.outcome) for r in rows] == [
        ("dead", "test", 1, "failed"),
        ("dead", "test", 2, "failed"),
    ]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--sink", "nope"), "--sink: no sink named 'nope' (sinks: dead, hook, log)"),
        (("--rule", "nope"), "--rule: no rule named 'nope' (rules: cap, errors)"),
        (("--sink", "hook", "--rule", "errors"), "use either --sink or --rule, not both"),
        (("--bogus",), "No such option '--bogus'"),
    ],
)
def test_usage_errors_exit_2(config: Path, args: tuple[str, ...], needle: str) -> None:
    one_line_error(run("test", "--config", str(config), *args), 2, needle)


def test_list_shows_rules_and_what_fires(config: Path, ledger_url: str) -> None:
    now = time.time()
    store = AlertHistory.open(ledger_url)
    try:
        store.write(
            [
                {
                    "at": now - 50,
                    "kind": "transition",
                    "rule": "errors",
                    "fingerprint": "a",
                    "state": "firing",
                    "severity": "critical",
                    "labels": '{"alias":"chat"}',
                    "value": 0.2,
                    "threshold": 0.05,
                    "started_at": now - 50,
                },
                {
                    "at": now - 40,
                    "kind": "transition",
                    "rule": "cap",
                    "fingerprint": "b",
                    "state": "firing",
                    "severity": "warning",
                    "labels": "{}",
                    "value": 30.0,
                    "threshold": 20.0,
                    "started_at": now - 40,
                },
                {
                    "at": now - 10,
                    "kind": "transition",
                    "rule": "cap",
                    "fingerprint": "b",
                    "state": "resolved",
                    "severity": "warning",
                    "labels": "{}",
                    "value": 0.0,
                    "threshold": 20.0,
                    "started_at": now - 40,
                },
            ]
        )
    finally:
        store.close()
    result = run("list", "--config", str(config))
    assert result.exit_code == 0, result.output
    lines = {
        line.split("│")[1].strip(): line
        for line in result.stdout.splitlines()
        if line.count("│") > 5 and "rule" not in line
    }
    assert "firing (1)" in lines["errors"] and "> 5.0%" in lines["errors"]
    assert "ok" in lines["cap"] and "> $20.0000" in lines["cap"] and "day" in lines["cap"]
    data = json.loads(run("list", "--config", str(config), "--json").stdout)
    errors, cap = data
    assert errors["alerts"][0]["state"] == "firing" and errors["alerts"][0]["labels"] == {
        "alias": "chat"
    }
    assert errors["for_s"] == 60 and errors["scope"] == {"alias": "chat"}
    assert cap["alerts"] == [] and cap["last_fired"] is not None


def test_history_lists_deliveries_and_transitions(config: Path, ledger_url: str) -> None:
    assert run("test", "--config", str(config), "--sink", "hook").exit_code == 0
    result = run("history", "--config", str(config), "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert (row["kind"], row["sink"], row["state"], row["outcome"]) == (
        "delivery",
        "hook",
        "test",
        "ok",
    )
    table = run("history", "--config", str(config), "--since", "1h")
    assert table.exit_code == 0 and "test → hook #1: ok" in table.stdout
    assert run("history", "--config", str(config), "--rule", "cap").stdout.startswith(
        "no alert events in the last 24h"
    )


def test_history_errors(tmp_path: Path, receiver: Receiver) -> None:
    missing = _write_config(tmp_path, receiver, f"sqlite:///{tmp_path / 'none.db'}")
    one_line_error(run("history", "--config", str(missing)), 1, "pass --ledger URL")
    one_line_error(
        run("history", "--config", str(missing), "--since", "3x"),
        2,
        "--since: expected a duration such as 30m",
    )
    assert run("list", "--config", str(missing)).exit_code == 0  # no ledger yet: rules only


def test_an_invalid_config_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "daytwo.yaml"
    bad.write_text("alerts:\n  rules:\n    - {name: r, kind: error_rate, sinks: [x]}\n")
    result = run("list", "--config", str(bad))
    assert result.exit_code == 1
    assert "alerts.rules.0: kind error_rate needs a threshold" in result.stderr
    assert "Traceback" not in result.output


def test_list_shows_a_reconciliation_gap_rule_with_the_finops_threshold(tmp_path: Path) -> None:
    raw = {
        "providers": {"sim": {"type": "sim"}},
        "models": {"chat": {"deployments": [{"provider": "sim", "model": "m"}]}},
        "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        "finops": {"reconcile": {"threshold_pct": 7.5}},
        "alerts": {
            "sinks": {"log": {"type": "log"}},
            "rules": [{"name": "bill-gap", "kind": "reconciliation_gap", "sinks": ["log"]}],
        },
    }
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    open_store(raw["ledger"]["url"]).close()
    got = run("list", "--config", str(path), "--json")
    assert got.exit_code == 0, got.output
    (rule,) = json.loads(got.stdout)
    assert (rule["name"], rule["threshold"]) == ("bill-gap", 7.5)
