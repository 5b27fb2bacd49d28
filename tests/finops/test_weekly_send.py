"""``daytwo report weekly --send``: the summary goes through the alert sinks named by
``finops.weekly.sinks`` (a webhook on a loopback receiver and Slack's message shape), each
delivery lands in the alert history, and a missing sink is a one-line error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from tests.alerts.receiver import Receiver, receiving
from tests.finops.test_weekly import seed_calls, seed_events

from daytwo.alerts.history import AlertHistory
from daytwo.cli.main import cli
from daytwo.ledger.store import open_store

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


def write_config(tmp_path: Path, receiver: Receiver, sinks: list[str]) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = open_store(url)
    try:
        seed_calls(store)
        seed_events(store)
    finally:
        store.close()
    hook = {"type": "webhook", "url": f"{receiver.url}/hook", "allow_private": True}
    chat = {"type": "slack", "url": "env:WEEKLY_SLACK_URL", "allow_private": True}
    raw = {
        "ledger": {"url": url},
        "alerts": {
            "delivery_attempts": 2,
            "backoff_s": 0.01,
            "sinks": {"hook": hook, "chat": chat},
        },
        "finops": {"weekly": {"sinks": sinks}},
    }
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path, url


def test_send_posts_the_summary_to_the_configured_sinks(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEEKLY_SLACK_URL", f"{receiver.url}/slack")
    config, url = write_config(tmp_path, receiver, ["hook", "chat"])
    result = CliRunner().invoke(
        cli, ["report", "weekly", "--config", str(config), "--week", "2024-W19", "--send"]
    )
    assert result.exit_code == 0, result.output
    summary = result.stdout
    assert summary.splitlines()[1] == "- Spend: $1.90 (+$0.70, +58.3% week over week; 10 calls)"
    (hook,) = receiver.bodies("/hook")
    assert hook["kind"] == "weekly_report" and hook["labels"] == {"week": "2024-W19"}
    assert hook["summary"] == summary
    assert hook["detail"]["report"]["spend"]["total"]["usd"] == "1.900000000"
    (slack,) = receiver.bodies("/slack")
    assert slack == {"text": summary}
    history = AlertHistory.open(url, create=False)
    try:
        rows = [r for r in history.since(0) if r.kind == "delivery"]
    finally:
        history.close()
    assert sorted((r.rule, r.sink, r.outcome) for r in rows) == [
        ("weekly-report", "chat", "ok"),
        ("weekly-report", "hook", "ok"),
    ]


@pytest.mark.parametrize(
    ("sinks", "needle"),
    [
        ([], "--send: no sinks in finops.weekly.sinks (see docs/finops.md)"),
        (["pager"], "finops.weekly.sinks: no alert sink named 'pager' in alerts.sinks"),
    ],
)
def test_send_without_usable_sinks_fails_in_one_line(
    tmp_path: Path, receiver: Receiver, sinks: list[str], needle: str
) -> None:
    config, _ = write_config(tmp_path, receiver, sinks)
    result = CliRunner().invoke(cli, ["report", "weekly", "--config", str(config), "--send"])
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line == f"daytwo report: {needle}"
    assert receiver.received == []


def test_a_failed_delivery_exits_1(tmp_path: Path, receiver: Receiver) -> None:
    config, _ = write_config(tmp_path, receiver, ["hook"])
    receiver.default_status = 500
    result = CliRunner().invoke(
        cli, ["report", "weekly", "--config", str(config), "--week", "2024-W19", "--send"]
    )
    assert result.exit_code == 1
    assert "daytwo report: hook (webhook): failed after 2 attempts" in result.stderr
    assert len(receiver.requests("/hook")) == 2
