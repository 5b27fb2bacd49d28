"""``daytwo models check`` through click's CliRunner, on config files and a real SQLite ledger.

Dates come from the bundled catalog (src/daytwo/lifecycle/data/lifecycle.json): OpenAI's
deprecations page lists gpt-3.5-turbo as shut down on 2026-10-23 (successor gpt-4.1-mini) and
gpt-5 on 2026-12-11; Anthropic's lists claude-3-opus-20240229 as retired on 2026-01-05. Every
run passes --today so the result does not depend on the wall clock.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.cli.records import call_record

from daytwo.cli.main import cli
from daytwo.core.record import CallRecord
from daytwo.ledger.store import open_store

DAY = 86_400.0


def _config(tmp_path: Path, models: str, ledger: str | None = None) -> str:
    path = tmp_path / "daytwo.yaml"
    path.write_text(
        "providers:\n"
        "  oa: {type: openai}\n"
        "  sim: {type: sim}\n"
        f"models:\n{models}"
        f"ledger: {{url: '{ledger or 'sqlite:///' + str(tmp_path / 'none.db')}'}}\n"
    )
    return str(path)


RETIRING = (
    "  smart:\n"
    "    deployments:\n"
    "      - {provider: oa, model: gpt-5-2025-08-07}\n"
    "  cheap:\n"
    "    deployments:\n"
    "      - {provider: oa, model: gpt-3.5-turbo}\n"
    "      - {provider: sim, model: gpt-3.5-turbo}\n"
)
CLEAN = "  smart:\n    deployments:\n      - {provider: oa, model: gpt-4.1}\n"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["models", "check", *args])


def test_retiring_config_exits_1_and_the_table_names_alias_date_and_successor(
    tmp_path: Path,
) -> None:
    result = run("--config", _config(tmp_path, RETIRING), "--today", "2026-11-22")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "alias cheap → oa/gpt-3.5-turbo" in out
    assert "2026-10-23" in out and "retired" in out and "gpt-4.1-mini" in out
    assert "alias smart → oa/gpt-5-2025-08-07" in out
    assert "2026-12-11" in out and "retiring" in out and "gpt-6.1-sol" in out
    assert "sim/gpt-3.5-turbo" not in out  # the simulator's models never retire


def test_json_lists_each_finding_with_its_date_days_left_and_successor(tmp_path: Path) -> None:
    result = run("--config", _config(tmp_path, RETIRING), "--today", "2026-11-22", "--json")
    assert result.exit_code == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["failing"] == 2
    by_model = {f["model"]: f for f in doc["findings"]}
    turbo = by_model["gpt-3.5-turbo"]
    assert (turbo["status"], turbo["date"], turbo["days_left"]) == ("retired", "2026-10-23", -30)
    assert turbo["successor"] == "gpt-4.1-mini"
    assert turbo["used_in"] == ["alias cheap → oa/gpt-3.5-turbo"]
    assert turbo["entry"]["source"].startswith("https://developers.openai.com/")
    gpt5 = by_model["gpt-5-2025-08-07"]
    assert (gpt5["status"], gpt5["days_left"], gpt5["provider"]) == ("retiring", 19, "oa")


def test_window_decides_whether_a_deprecated_model_fails(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "  smart:\n    deployments:\n      - {provider: oa, model: gpt-5}\n")
    # 2026-08-01: gpt-5 is deprecated (notice 2026-06-11) and retires in 132 days.
    result = run("--config", cfg, "--today", "2026-08-01", "--json")
    assert result.exit_code == 0, result.stderr
    (finding,) = json.loads(result.stdout)["findings"]
    assert (finding["status"], finding["days_left"]) == ("deprecated", 132)
    assert run("--config", cfg, "--today", "2026-08-01", "--days", "140").exit_code == 1


def test_clean_config_exits_0(tmp_path: Path) -> None:
    result = run("--config", _config(tmp_path, CLEAN), "--today", "2026-11-22", "--days", "30")
    assert result.exit_code == 0, result.output
    assert "nothing retires within 30 days" in result.stdout


def _call(n: int, started_at: float, **kw: object) -> CallRecord:
    return call_record(
        n,
        started_at,
        **{"provider": "claude-direct", "served_model": "claude-3-opus-20240229", **kw},
    )


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    """Two recent calls to a retired Claude model, one 40 days ago to a retired Gemini model."""
    now = time.time()
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with open_store(url) as store:
        store.insert_batch(
            [
                _call(1, now - 2 * DAY),
                _call(2, now - 3 * DAY),
                _call(3, now - 40 * DAY, provider="g", served_model="gemini-2.0-flash"),
                _call(4, now - 1 * DAY, provider="oa", served_model="gpt-4.1"),
            ]
        )
    return url


def test_recent_calls_to_a_retired_model_are_listed(tmp_path: Path, ledger: str) -> None:
    cfg = _config(tmp_path, CLEAN, ledger=ledger)
    result = run("--config", cfg, "--today", "2026-11-22", "--since", "30d", "--json")
    assert result.exit_code == 1, result.stderr
    doc = json.loads(result.stdout)
    (finding,) = doc["findings"]
    assert finding["model"] == "claude-3-opus-20240229"
    assert (finding["status"], finding["date"]) == ("retired", "2026-01-05")
    assert finding["used_in"] == ["2 calls in the last 30d via claude-direct"]
    # a longer window also finds the Gemini calls
    doc = json.loads(
        run("--ledger", ledger, "--today", "2026-11-22", "--since", "60d", "--json").stdout
    )
    assert {f["model"] for f in doc["findings"]} == {"claude-3-opus-20240229", "gemini-2.0-flash"}


def _one_line_error(result: Result, code: int, needle: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("daytwo models: ") and needle in lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--days", "soon"], "--days"),
        (["--days", "-1"], "--days"),
        (["--since", "forever"], "--since"),
        (["--today", "tomorrow"], "--today"),
        (["--frobnicate"], "--frobnicate"),
    ],
)
def test_bad_flags_are_one_line_usage_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    _one_line_error(run("--config", _config(tmp_path, CLEAN), *args), 2, needle)


def test_missing_config_is_a_usage_error(tmp_path: Path) -> None:
    _one_line_error(run("--config", str(tmp_path / "nope.yaml")), 2, "config file not found")


def test_missing_explicit_ledger_fails_in_one_line(tmp_path: Path) -> None:
    _one_line_error(run("--ledger", f"sqlite:///{tmp_path / 'nope.db'}"), 1, "nope.db")
