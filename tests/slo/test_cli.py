"""``daytwo slo status`` and ``daytwo slo rules``: the status of SLOs over a seeded ledger
(table and JSON, numbers checked by hand), and the generated Prometheus rules checked and unit
tested with the real ``promtool``."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner, Result

from daytwo.cli.main import cli
from daytwo.core.record import CallRecord
from daytwo.ledger.store import open_store

DATA = Path(__file__).parent / "data"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
SLOS: list[dict[str, Any]] = [
    {
        "name": "shop-availability",
        "sli": "availability",
        "objective": 0.99,
        "scope": {"project": "shop"},
        "runbook": "https://runbooks.example.com/shop",
    },
    {
        "name": "calm-availability",
        "sli": "availability",
        "objective": 0.99,
        "scope": {"project": "calm"},
    },
    {"name": "judge-helpful", "sli": "judge:helpful", "objective": 0.95},
]


def write_config(tmp_path: Path, slos: list[dict[str, Any]] = SLOS) -> Path:
    path = tmp_path / "daytwo.yaml"
    cfg = {"ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"}, "slos": slos}
    path.write_text(yaml.safe_dump(cfg))
    return path


def seed(tmp_path: Path) -> None:
    """shop: 100 calls in the last half hour, 5 of them 503s; calm: nothing."""
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    now = time.time()
    try:
        store.insert_batch(
            [
                CallRecord(
                    id=f"c{i}",
                    started_at=now - 1800 + i * 10,
                    ended_at=now - 1790 + i * 10,
                    latency_ms=500.0,
                    status="error" if i < 5 else "ok",
                    http_status=503 if i < 5 else 200,
                    operation="chat",
                    alias="a",
                    trace_id=f"{i:032x}",
                    project="shop",
                    attributed=True,
                )
                for i in range(100)
            ]
        )
    finally:
        store.close()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["slo", *args], catch_exceptions=False)


def test_status_json_has_budget_burn_and_alerts(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    seed(tmp_path)
    got = run("status", "--config", str(config), "--json")
    assert got.exit_code == 0, got.output
    shop, calm, judge = orjson.loads(got.stdout)
    assert (shop["events"], shop["bad_events"]) == (100, 5)
    assert shop["sli_value"] == pytest.approx(0.95)
    # 5 bad of 100 with 1 allowed: five budgets spent
    assert shop["budget_remaining"] == pytest.approx(1 - 0.05 / 0.01)
    assert shop["burn_rates"]["1h"] == pytest.approx(5.0)
    assert shop["burn_rates"]["3d"] == pytest.approx(5.0)
    assert shop["exhaustion_s"] == 0.0
    # a burn rate of 5 everywhere: under both pages (14.4, 6), over the ticket (1)
    assert shop["firing"] == "ticket"
    assert [a["firing"] for a in shop["alerts"]] == [False, False, True]
    assert shop["runbook"] == "https://runbooks.example.com/shop"
    assert (calm["events"], calm["sli_value"], calm["budget_remaining"]) == (0, None, 1.0)
    assert calm["exhaustion_s"] is None and calm["firing"] is None
    assert judge["sampling_aware"] is True and judge["min_events"] == 30


def test_status_table(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    seed(tmp_path)
    got = run("status", "--config", str(config))
    assert got.exit_code == 0, got.output
    shop = next(line for line in got.stdout.splitlines() if "shop-availability" in line)
    assert "95.000% (95/100)" in shop and "-400.0%" in shop and "ticket" in shop
    assert "1h:5.0" in shop and "exhausted" in shop


def test_status_without_a_ledger_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    got = run("status", "--config", str(config))
    assert got.exit_code == 1
    assert got.stderr.startswith("daytwo slo: ") and len(got.stderr.strip().splitlines()) == 1


def test_a_bad_slo_names_its_key_path(tmp_path: Path) -> None:
    config = write_config(tmp_path, [{"name": "x", "sli": "judge", "objective": 0.9}])
    got = run("status", "--config", str(config))
    assert got.exit_code == 1
    assert "slos.0.sli" in got.stderr and "Traceback" not in got.stderr


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_generated_rules_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        [*SLOS, {"name": "p", "sli": "availability", "objective": 0.9, "scope": {"prompt": "x"}}],
    )
    out = tmp_path / "slo-rules.yml"
    got = run("rules", "--config", str(config), "-o", str(out))
    assert got.exit_code == 0, got.output
    assert "skipped p: a prompt scope has no metric label" in got.stderr
    checked = promtool("check", "rules", out.name, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 66 rules found" in checked.stdout
    shutil.copy(DATA / "slo-rules-test.yml", tmp_path)
    tested = promtool("test", "rules", "slo-rules-test.yml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_broken_expectation_fails_the_unit_tests(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert (
        run("rules", "--config", str(config), "-o", str(tmp_path / "slo-rules.yml")).exit_code == 0
    )
    text = (DATA / "slo-rules-test.yml").read_text().replace("value: 0.2\n", "value: 0.3\n")
    (tmp_path / "slo-rules-test.yml").write_text(text)
    tested = promtool("test", "rules", "slo-rules-test.yml", cwd=tmp_path)
    assert tested.returncode == 1 and "got:" in tested.stdout + tested.stderr


def test_rules_to_stdout_name_their_source(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    got = run("rules", "--config", str(config))
    assert got.stdout.startswith(f"# Generated by `daytwo slo rules` from {config}")
    groups = yaml.safe_load(got.stdout)["groups"]
    assert [g["name"] for g in groups] == [f"daytwo-slo-{s['name']}" for s in SLOS]
