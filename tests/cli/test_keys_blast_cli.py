"""``daytwo keys blast-radius`` through click's CliRunner, on SQLite and PostgreSQL: calls written
through ``LedgerStore.insert_batch``, figures summed by hand, the config's budgets in the caps,
one-line failures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from tests.ledger.conftest import priced_call

from daytwo.cli.main import cli
from daytwo.keys.hashing import PEPPER_ENV
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore
from daytwo.ledger.store import open_store

HOUR = 3600
DAY = 86_400


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.integration]),
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    pg: str = request.getfixturevalue("pg_url")
    return pg


def run(*args: str) -> Result:
    env = {PEPPER_ENV: "cli-pepper", "DAYTWO_CONFIG": ""}
    return CliRunner().invoke(cli, ["keys", "blast-radius", *args], env=env)


def one_line_error(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("daytwo keys: ")
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture
def key_id(url: str) -> str:
    """Key A (50/day, 6,000 tpm, alias `smart`) with four calls in the last 30 days and one
    before; another key's call beside them."""
    now = time.time()
    with KeyStore.open(url, pepper=b"cli-pepper") as store:
        spec = KeySpec(project="search", models=("smart",), budget="50/day", tpm=6_000)
        a = store.create(spec, actor="t", now=now - 60 * DAY).record
        b = store.create(KeySpec(project="other"), actor="t", now=now - 60 * DAY).record
    with open_store(url) as ledger:
        ledger.insert_batch(
            [
                priced_call(1, now - 40 * DAY, key_id=a.id, cost_nanousd=9_000_000,
                            client_ip="10.0.0.9"),
                priced_call(2, now - 10 * DAY, key_id=a.id, workflow="rag", cost_nanousd=1_000,
                            client_ip="10.0.0.1"),
                priced_call(3, now - 3 * DAY, key_id=a.id, workflow="rag", cost_nanousd=2_000,
                            client_ip="10.0.0.1"),
                priced_call(4, now - 2 * HOUR, key_id=a.id, workflow="batch",
                            cost_nanousd=30_000, client_ip="192.0.2.7", status="error"),
                priced_call(5, now - 1 * HOUR, key_id=a.id, workflow="batch",
                            cost_nanousd=400_000, client_ip="192.0.2.7"),
                priced_call(6, now - 1 * HOUR, key_id=b.id, cost_nanousd=5_000_000,
                            client_ip="10.9.9.9"),
            ]
        )  # fmt: skip
    return a.id


def test_json_sums_the_keys_calls_by_window_ip_and_workflow(url: str, key_id: str) -> None:
    result = run(key_id, "--ledger", url, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["object"] == "key_blast_radius" and data["key"]["id"] == key_id
    assert data["lifetime_calls"] == 5
    # calls 2-5: 1,000 + 2,000 + 30,000 + 400,000 nano-dollars
    window = data["window"]
    assert (window["calls"], window["errors"], window["cost"]["nanos"]) == (4, 1, 433_000)
    assert sum(d["calls"] for d in data["days"]) == 4
    assert sum(d["cost"]["nanos"] for d in data["days"]) == 433_000
    ips = data["dimensions"]["client_ip"]
    assert ips["distinct"] == 2
    assert [(v["value"], v["calls"], v["cost"]["nanos"]) for v in ips["top"]] == [
        ("192.0.2.7", 2, 430_000),  # as many calls as 10.0.0.1: the dearer first
        ("10.0.0.1", 2, 3_000),
    ]
    workflows = {v["value"]: v["calls"] for v in data["dimensions"]["workflow"]["top"]}
    assert workflows == {"rag": 2, "batch": 2}
    recent = data["impact"]["recent"]
    assert (recent["24h"]["calls"], recent["24h"]["cost"]["nanos"]) == (2, 430_000)
    assert (recent["7d"]["calls"], recent["7d"]["cost"]["nanos"]) == (3, 432_000)
    assert data["impact"]["consumer_count"] == 2
    caps = data["caps"]
    assert caps["max_per_day"]["nanos"] == 50 * 1_000_000_000
    assert caps["max_per_day_by"] == "key budget (50/day)"


def test_the_tables_name_the_ips_caps_and_what_revoking_stops(url: str, key_id: str) -> None:
    result = run(key_id, "--ledger", url, "--since", "7d")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"key {key_id}" in out
    assert "192.0.2.7" in out and "10.0.0.1" in out
    assert "10.0.0.9" not in out  # 40 days ago: outside the window
    assert "10.9.9.9" not in out  # another key's caller
    assert "max per day: $50.00 (key budget)" in out
    assert "revoking now: stops 3 call(s) a week" in out
    assert "config: none" in out
    assert "authenticates as " + key_id + " only" in out


def test_the_config_adds_its_budgets_and_alias_table(url: str, key_id: str, tmp_path: Path) -> None:
    cfg = {
        "providers": {"sim": {"type": "sim"}},
        "models": {"smart": {"deployments": [{"provider": "sim", "model": "big-model"}]}},
        "ledger": {"url": url},
        "pricing": {
            "overrides": [{"model": "big-model", "input_per_mtok": 1, "output_per_mtok": 4}]
        },
        "spend_control": {
            "budgets": [
                {"name": "search-day", "scope": {"project": "search"}, "window": "day",
                 "usd": 20},
            ]
        },
    }  # fmt: skip
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = run(key_id, "--config", str(path), "--json")  # the ledger from the config
    assert result.exit_code == 0, result.output
    caps = json.loads(result.stdout)["caps"]
    # $20/day beats the key's $50/day; 6,000 tpm x 1,440 min x $4/Mtok = $34.56/day
    bounds = {b["source"]: b for b in caps["bounds"]}
    assert bounds["budget search-day"]["per_day"]["nanos"] == 20 * 1_000_000_000
    assert bounds["budget search-day"]["shared"] is True
    assert bounds["tpm (key)"]["per_day"]["nanos"] == 34_560_000_000
    assert caps["max_per_day_by"].startswith("budget search-day")
    assert caps["priciest_model"] == {
        "alias": "smart",
        "deployment": "sim/big-model",
        "usd_per_mtok": "4",
    }
    text = run(key_id, "--config", str(path)).stdout
    assert f"config: {path}" in text


def test_an_unknown_key_is_one_line_and_exit_1(url: str, key_id: str) -> None:
    one_line_error(run("key_nope123456", "--ledger", url), 1, "no key with id key_nope123456")


def test_usage_errors_are_one_line_and_exit_2(url: str, tmp_path: Path) -> None:
    one_line_error(run("key_x", "--ledger", url, "--since", "soon"), 2, "--since")
    one_line_error(run("key_x", "--ledger", url, "--top", "0"), 2, "--top")
    missing = tmp_path / "nope.yaml"
    one_line_error(run("key_x", "--config", str(missing)), 2, "config file not found")


def test_a_missing_ledger_is_one_line(tmp_path: Path) -> None:
    one_line_error(
        run("key_x", "--ledger", f"sqlite:///{tmp_path / 'absent.db'}"), 1, "no ledger at"
    )


def test_an_invalid_config_fails_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump({"spend_control": {"budgets": [{"name": "x"}]}}))
    result = run("key_x", "--config", str(path))
    assert result.exit_code == 1
    assert "Traceback" not in result.output and result.stdout == ""
    assert all(line.startswith("daytwo: ") for line in result.stderr.splitlines())
