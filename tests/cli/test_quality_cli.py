"""``daytwo quality`` through click's CliRunner on a real SQLite ledger seeded as the report's
tests seed it (scores and calls through the store)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.quality.test_quality_report import seed, two_proportion_p

from daytwo.cli.main import cli
from daytwo.ledger.store import open_store
from daytwo.quality.report import quality_report


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with open_store(url) as store:
        seed(store, now=time.time() - 5)
    return url


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["quality", *args])


def one_line_error(result: Result, code: int, needle: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("daytwo quality: ") and needle in lines[0]


def test_json_is_the_report_of_the_window_it_names(ledger: str) -> None:
    result = run("--ledger", ledger, "--since", "1h", "--by", "model", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    window = data["window"]
    assert window["end"] - window["start"] == 3_600
    assert data["previous"] == {"start": window["start"] - 3_600, "end": window["start"]}
    with open_store(ledger) as store:
        expected = quality_report(store, window["start"], window["end"], ("model",)).to_json()
    assert data == {"ledger": data["ledger"], **expected}
    thumbs = next(r for r in data["rows"] if r["evaluator"] == "feedback:thumbs")
    assert (thumbs["window"]["rate"], thumbs["previous"]["rate"]) == (0.4, 0.8)
    assert thumbs["p_value"] == pytest.approx(two_proportion_p(12, 30, 24, 30))
    assert thumbs["verdict"] == "worse"


def test_table_shows_rates_intervals_and_verdicts(ledger: str) -> None:
    result = run("--ledger", ledger, "--since", "1h", "--by", "model", "--by", "workflow")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "compared with the 1h before" in out
    assert "feedback:thumbs" in out and "40.0%" in out and "80.0%" in out
    assert "↓ worse" in out and "not enough events" in out and "measurement" in out
    assert "gpt-4o" in out and "rag" in out and "claude" in out and "triage" in out
    assert "-40.0 pt" in out  # thumbs-up 80% → 40%


def test_one_evaluator(ledger: str) -> None:
    result = run(
        "--ledger", ledger, "--since", "1h", "--evaluator", "feedback:task_success", "--json"
    )
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)["rows"]
    assert (row["window"]["successes"], row["previous"]["successes"]) == (20, 21)
    assert row["verdict"] == "no change"


def test_an_empty_window_says_so(ledger: str) -> None:
    result = run("--ledger", ledger, "--since", "1h", "--evaluator", "nothing-here")
    assert result.exit_code == 0, result.stderr
    assert "no scores in either window" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--since", "yesterday"], "--since"),
        (["--since", "0h"], "--since"),
        (["--by", "colour"], "unknown dimension 'colour'"),
        (["--by", "model", "--by", "model"], "named twice"),
        (["--evaluator", " "], "--evaluator"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(ledger: str, args: list[str], needle: str) -> None:
    one_line_error(run("--ledger", ledger, *args), 2, needle)


def test_a_missing_ledger_is_one_line_and_exit_1(tmp_path: Path) -> None:
    one_line_error(run("--ledger", f"sqlite:///{tmp_path / 'none.db'}"), 1, "run the gateway first")
