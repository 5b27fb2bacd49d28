"""``daytwo forecast`` through click's CliRunner, on a real SQLite ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from daytwo.cli.main import cli
from daytwo.finops.forecast_synth import Flow, seasonal_records
from daytwo.ledger.schema import DAY
from daytwo.ledger.store import open_store

NOW = datetime(2026, 1, 10, tzinfo=UTC)
AT = "2026-01-10T00:00:00Z"


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = open_store(url)
    end = NOW.timestamp()
    flows = [Flow("triage", "support", 50.0), Flow("search", "search", 20.0)]
    store.insert_batch(list(seasonal_records(flows, start=end - 28 * DAY, end=end, seed=3)))
    store.close()
    return url


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["forecast", *args])


def test_json_forecast_per_workflow_with_budgets(ledger: str, tmp_path: Path) -> None:
    config = tmp_path / "daytwo.yaml"
    config.write_text(
        f"ledger: {{url: '{ledger}'}}\n"
        "spend_control:\n"
        "  budgets:\n"
        "    - {name: support-month, scope: {project: support}, window: month, usd: 600}\n"
    )
    r = run("--config", str(config), "--by", "workflow", "--at", AT, "--horizon", "14d", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert [s["key"] for s in data["series"]] == ["triage", "search"]
    triage = data["series"][0]
    assert len(triage["days"]) == 14
    assert triage["days"][0]["date"] == "2026-01-10"
    assert triage["model"] == "holt-winters weekly"
    assert data["backtest_overall"] is None
    (budget,) = data["budgets"]
    assert budget["name"] == "support-month"
    # ~$50 a day: ~$450 spent on Jan 1-9, the other $150 take ~3 more days (Jan 13).
    assert 420 < float(budget["spent"]["usd"]) < 480
    assert "2026-01-12T12" < budget["exhaustion"] < "2026-01-14T12"


def test_tables_with_backtest_and_what_if(ledger: str) -> None:
    r = run(
        "--ledger", ledger, "--by", "workflow", "--at", AT, "--backtest",
        "--what-if", "workflow=triage model=gpt-4o-mini",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "Spend forecast by workflow" in r.output
    assert "80% cover" in r.output
    # 28 days of history: origins 21, 14 and 7 days back (the 4th would leave none to fit)
    assert "Backtest over 2 series (42 days): MAPE" in r.output
    assert "What if workflow=triage model=gpt-4o-mini" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "user"], "--by: unknown dimension 'user'"),
        (["--horizon", "36h"], "--horizon: expected whole days or weeks such as 30d or 8w"),
        (["--since", "soon"], "--since: expected whole days or weeks such as 30d or 8w"),
        (["--at", "tomorrow"], "--at: expected an ISO date or time, got 'tomorrow'"),
        (["--what-if", "workflow=triage"], "--what-if: name the model to move to (model=NAME)"),
        (["--what-if", "user=bob model=gpt-4o-mini"], "--what-if: cannot pick calls by `user`"),
        (["--what-if", "triage"], "--what-if: expected FIELD=VALUE pairs, got 'triage'"),
        (
            ["--what-if", "workflow=triage model=no-such-model"],
            "--what-if: model 'no-such-model' has no price in the catalog",
        ),
        (
            ["--what-if", "workflow=nobody model=gpt-4o-mini"],
            "--what-if: no spend by workflow=nobody in the history",
        ),
        (["--limit", "0"], "Invalid value for '--limit'"),
    ],
)
def test_usage_errors_are_one_line(ledger: str, args: list[str], message: str) -> None:
    r = run("--ledger", ledger, "--at", AT, *args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("daytwo forecast: ")
    assert message in lines[0]


def test_a_missing_config_file_is_a_usage_error(ledger: str, tmp_path: Path) -> None:
    r = run("--ledger", ledger, "--config", str(tmp_path / "nope.yaml"))
    assert r.exit_code == 2
    assert r.stderr.strip() == f"daytwo forecast: config file not found: {tmp_path / 'nope.yaml'}"


def test_a_missing_ledger_is_one_line(tmp_path: Path) -> None:
    r = run("--ledger", f"sqlite:///{tmp_path / 'none.db'}")
    assert r.exit_code == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "pass --ledger URL" in r.stderr


def test_the_cli_offers_every_forecast_dimension() -> None:
    from daytwo.cli.forecast import DIMENSIONS
    from daytwo.finops.forecast import FORECAST_DIMS

    assert DIMENSIONS == FORECAST_DIMS
