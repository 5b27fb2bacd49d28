"""``daytwo spend`` through click's CliRunner, on a real SQLite ledger."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.cli.records import call_record

from daytwo.cli.main import cli
from daytwo.core.record import AttemptRecord, CallRecord
from daytwo.ledger.store import open_store

HOUR = 3_600.0
DAY = 86_400.0


def _call(n: int, started_at: float, **kw: object) -> CallRecord:
    return call_record(n, started_at, **kw)


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    """Two calls 3 hours ago (one unpriced), one call eight days ago: `--since 7d` sees 2."""
    now = time.time()
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with open_store(url) as store:
        store.insert_batch(
            [
                _call(1, now - 3 * HOUR),
                _call(
                    2, now - 3 * HOUR, workflow="triage", served_model="llama", cost_nanousd=None
                ),
                _call(3, now - 8 * DAY, cost_nanousd=500_000_000),
            ]
        )
    return url


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["spend", *args])


def _one_line_error(result: Result, code: int, needle: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("daytwo spend: ")
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_table_shows_totals_change_groups_and_unpriced_calls(ledger: str) -> None:
    result = run("--ledger", ledger, "--by", "workflow")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Spend by workflow" in out
    assert "$1.5000" in out  # this window's cost
    assert "+200.0% (was $0.5000)" in out  # vs the week before
    assert "1 UNPRICED call(s)" in out
    assert "rag" in out and "triage" in out
    assert "Top drivers of the change" in out


def test_json_is_one_object_with_exact_money(ledger: str) -> None:
    result = run("--ledger", ledger, "--by", "model", "--since", "7d", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["by"] == "model"
    assert data["totals"]["cost"] == {"usd": "1.500000000", "nanos": 1_500_000_000}
    assert data["previous_totals"]["cost"]["nanos"] == 500_000_000
    assert data["unpriced_calls"] == 1
    assert {g["key"] for g in data["groups"]} == {"gpt-4o", "llama"}


def test_since_takes_minutes_hours_days_and_weeks(ledger: str) -> None:
    # Windows are whole hours up to the end of the current one, so 30m is the current hour.
    for since, calls, previous in (("30m", 0, 0), ("1h", 0, 0), ("5h", 2, 0), ("2w", 3, 0)):
        data = json.loads(run("--ledger", ledger, "--since", since, "--json").stdout)
        assert (data["totals"]["calls"], data["previous_totals"]["calls"]) == (calls, previous)


def test_from_and_to_select_an_explicit_window(ledger: str) -> None:
    result = run("--ledger", ledger, "--from", "2000-01-01", "--to", "2000-01-02", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["window"] == {"start": "2000-01-01T00:00:00Z", "end": "2000-01-02T00:00:00Z"}
    assert data["totals"]["calls"] == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--since", "7x"], "--since"),
        (["--since", "0d"], "--since"),
        (["--by", "colour"], "unknown dimension 'colour'"),
        (["--limit", "0"], "--limit"),
        (["--since", "7d", "--from", "2024-01-01"], "not both"),
        (["--from", "yesterday"], "--from"),
        (["--to", "2024-01-01"], "--to needs --from"),
        (["--from", "2024-01-02", "--to", "2024-01-01"], "after --from"),
        (["--bogus"], "--bogus"),
    ],
)
def test_usage_errors_exit_2_with_one_line(ledger: str, args: list[str], needle: str) -> None:
    _one_line_error(run("--ledger", ledger, *args), 2, needle)


def test_a_named_config_file_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    _one_line_error(run("--config", str(tmp_path / "nope.yaml")), 2, "config file not found")


def test_the_ledger_url_comes_from_the_config_file(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "elsewhere.yaml"
    config.write_text(f"ledger:\n  url: {ledger}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAYTWO_CONFIG", str(config))
    data = json.loads(run("--json").stdout)
    assert data["totals"]["calls"] == 2
    assert data["ledger"] == ledger


def test_an_invalid_config_file_fails_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAYTWO_CONFIG", raising=False)
    (tmp_path / "daytwo.yaml").write_text("ledger:\n  url: mysql://x\n")
    _one_line_error(run(), 1, "daytwo.yaml")


def test_without_flag_or_config_the_default_ledger_is_used_but_never_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAYTWO_CONFIG", raising=False)
    _one_line_error(run(), 1, "no ledger at")
    assert not (tmp_path / "daytwo-ledger.db").exists()
    with open_store("sqlite:///daytwo-ledger.db") as store:
        store.insert_batch([_call(1, time.time())])
    assert json.loads(run("--json").stdout)["totals"]["calls"] == 1


def test_an_unreachable_database_fails_with_one_line_and_no_password() -> None:
    result = run("--ledger", "postgresql://u:s3cret@127.0.0.1:1/ledger?connect_timeout=2")
    _one_line_error(result, 1, "ledger open failed")
    assert "s3cret" not in result.stderr


def _attempt(n: int, outcome: str, cost: int | None) -> AttemptRecord:
    return AttemptRecord(
        n=n,
        started_at=time.time() - 3 * HOUR,
        latency_ms=10.0,
        provider="openai",
        deployment="openai/gpt-4o",
        model="gpt-4o",
        outcome=outcome,  # type: ignore[arg-type]
        cost_nanousd=cost,
    )


@pytest.fixture
def resilient_ledger(tmp_path: Path) -> str:
    """Two retried calls (3 extra attempts, 2 of them failed for $0.0012), two cache hits and
    a replay that saved $0.85 together; all 3 hours ago."""
    at = time.time() - 3 * HOUR
    url = f"sqlite:///{tmp_path / 'resilient.db'}"
    with open_store(url) as store:
        store.insert_batch(
            [
                _call(
                    1,
                    at,
                    attempts=3,
                    attempt_log=(
                        _attempt(1, "error", 1_000_000),
                        _attempt(2, "error", 200_000),
                        _attempt(3, "ok", 1_500_000_000),
                    ),
                ),
                _call(2, at, attempts=2, attempt_log=(_attempt(1, "ok", 0), _attempt(2, "ok", 0))),
                _call(3, at, attempts=0, cache_status="hit", saved_nanousd=500_000_000),
                _call(4, at, attempts=0, cache_status="hit", saved_nanousd=300_000_000),
                _call(5, at, attempts=0, cache_status="replay", saved_nanousd=50_000_000),
            ]
        )
    return url


def test_table_shows_retries_and_cache_savings_on_one_line(resilient_ledger: str) -> None:
    result = run("--ledger", resilient_ledger)
    assert result.exit_code == 0, result.stderr
    [line] = [x for x in result.stdout.splitlines() if x.startswith("Retries:")]
    assert line == (
        "Retries: 3 extra attempts on 2 calls (2 failed attempts, $0.0012 spent on them) · "
        "Cache: 2 hits, 1 replay, $0.8500 saved"
    )


def test_retries_and_cache_are_left_out_of_the_table_when_there_were_none(ledger: str) -> None:
    out = run("--ledger", ledger).stdout
    assert "Spend by project" in out
    assert "Retries:" not in out and "Cache:" not in out


def test_json_carries_retry_and_cache_figures(resilient_ledger: str, ledger: str) -> None:
    data = json.loads(run("--ledger", resilient_ledger, "--json").stdout)["totals"]
    assert (data["retried_calls"], data["extra_attempts"], data["failed_attempts"]) == (2, 3, 2)
    assert data["failed_attempt_cost"] == {"usd": "0.001200000", "nanos": 1_200_000}
    assert (data["cache_hits"], data["replays"]) == (2, 1)
    assert data["saved"] == {"usd": "0.850000000", "nanos": 850_000_000}
    quiet = json.loads(run("--ledger", ledger, "--json").stdout)["totals"]  # zero, not absent
    assert (quiet["extra_attempts"], quiet["cache_hits"], quiet["saved"]["nanos"]) == (0, 0, 0)
