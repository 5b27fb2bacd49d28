"""``daytwo gate --require-error-budget``: the candidate's suite passes, but an exhausted
quality SLO budget in the gateway's ledger fails the gate with one line of numbers; a healthy
budget passes; no quality SLO to hold to cannot run."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from tests.gateway.harness import sim_config

from daytwo.cli.main import cli
from daytwo.core.record import CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.ledger.store import open_store

pytestmark = pytest.mark.integration

SLO = {
    "name": "support-helpful",
    "sli": "judge:helpful",
    "objective": 0.95,
    "scope": {"workflow": "support"},
    "min_events": 10,
}


@pytest.fixture(autouse=True)
def _in_project(tmp_path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield
    finally:
        os.chdir(before)


def project(tmp_path: Path, *, bad: int, total: int = 50, slos: Any = (SLO,)) -> None:
    """A config with the SLO, a ledger holding ``bad`` failed judgements of ``total`` of the
    support workflow, and a three-item suite."""
    cfg = sim_config(tmp_path)
    cfg["slos"] = list(slos)
    (tmp_path / "daytwo.yaml").write_text(yaml.safe_dump(cfg))
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    now = time.time()
    try:
        call = CallRecord(
            id="c1", started_at=now - 120, ended_at=now - 119, latency_ms=900.0, status="ok",
            http_status=200, operation="chat", alias="gpt-4o-mini", trace_id="0" * 32,
            project="shop", attributed=True, workflow="support",
        )  # fmt: skip
        store.insert_batch([call])
        store.insert_scores(
            [
                ScoreRecord(
                    f"s{i}", "c1", now - 60, "judge:helpful", "1", "online", float(i >= bad)
                )
                for i in range(total)
            ]
        )
    finally:
        store.close()
    suite = {
        "targets": ["gpt-4o-mini"],
        "messages": [{"role": "user", "content": "{{ q }}"}],
        "params": {"max_tokens": 20},
        "tests": [{"id": f"q{i}", "vars": {"q": f"question {i}"}} for i in range(3)],
    }
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "s.yaml").write_text(yaml.safe_dump(suite))


def gate(*args: str) -> Result:
    base = ["gate", "--suite", "evals/s.yaml", "--candidate", "gpt-4o-mini"]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def test_an_exhausted_budget_fails_the_gate_with_its_numbers(tmp_path: Path) -> None:
    project(tmp_path, bad=10)  # 10 bad of 50 with 2.5 allowed: 4 budgets spent
    got = gate("--max-cost-per-call", "1", "--require-error-budget")
    assert got.exit_code == 1, got.output
    lines = [line for line in got.stdout.splitlines() if "error budget" in line]
    assert len(lines) == 1
    assert "SLO support-helpful: -300.0% left (10 bad of 50 events over 30d" in lines[0]
    assert lines[0].endswith("exhausted")
    # without the flag the same candidate passes
    assert gate("--max-cost-per-call", "1").exit_code == 0


def test_a_healthy_budget_passes(tmp_path: Path) -> None:
    project(tmp_path, bad=1)  # 1 bad of 50, 2.5 allowed: 60 % left
    got = gate("--require-error-budget", "--slo", "support-helpful", "--json")
    assert got.exit_code == 0, got.output
    assert '"criterion": "error_budget:support-helpful"' in got.stdout
    assert '"value": 0.6' in got.stdout


def test_no_quality_slo_cannot_run(tmp_path: Path) -> None:
    project(tmp_path, bad=0, slos=[{"name": "up", "sli": "availability", "objective": 0.99}])
    got = gate("--max-cost-per-call", "1", "--require-error-budget")
    assert got.exit_code == 2
    assert got.stderr.strip() == (
        "daytwo gate: --require-error-budget: no quality SLO in daytwo.yaml (docs/slos.md)"
    )
    got = gate("--require-error-budget", "--slo", "nope")
    assert got.exit_code == 2 and "no SLO named nope" in got.stderr
