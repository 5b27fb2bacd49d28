"""``daytwo drill outage`` (CliRunner): short self-contained drills of a 503 storm played by the
simulator upstream and of refused connections injected in the gateway, each over real HTTP
with a real ledger; the one-line usage errors; and the report's arithmetic on known inputs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from daytwo.cli import drill as drill_cli
from daytwo.cli.main import cli
from daytwo.core.record import CallRecord
from daytwo.drill.faults import MODES
from daytwo.drill.report import OutageReport, Transition, phase_report, plan_phases
from daytwo.drill.traffic import Shot, is_streamed

SHORT = ("drill", "outage", "--provider", "openai", "--seconds", "3", "--rate", "10")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"DAYTWO_CONFIG": ""})


def one_line_usage_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("daytwo drill: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_the_cli_knows_every_mode() -> None:
    assert drill_cli.MODES == MODES


# -- real drills ----------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize(("mode", "injected"), [("503", "simulator"), ("refused", "adapter")])
def test_a_short_outage_fails_over_without_client_errors(mode: str, injected: str) -> None:
    result = run(*SHORT, "--mode", mode, "--json")
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)

    assert (report["setup"], report["provider"], report["mode"]) == (
        "self-contained",
        "openai",
        mode,
    )
    assert report["injected"] == injected
    assert report["deployments"] == ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]
    assert report["failover_possible"] is True
    baseline, outage, recovery = report["phases"]
    assert [p["phase"] for p in report["phases"]] == ["baseline", "outage", "recovery"]
    assert [(p["start_s"], p["duration_s"]) for p in report["phases"]] == [
        (0, 5),
        (5, 3),
        (8, 5),
    ]
    assert [p["requests"] for p in report["phases"]] == [50, 30, 50]
    assert [p["streamed"] for p in report["phases"]] == [25, 15, 25]
    for phase in report["phases"]:
        assert phase["errors"] == 0 and phase["errors_by_status"] == {}, phase
        assert phase["unrecorded_calls"] == 0
        assert phase["p95_ms"] >= phase["p50_ms"] > 0

    # Before: the primary serves everything. During: the fallback does (the breaker opens
    # after a few failed attempts). Every failed attempt is in the ledger.
    assert baseline["served_by"] == {"openai": 1.0}
    assert baseline["extra_attempts"] == 0
    assert outage["served_by"].get("anthropic", 0) > 0.5
    assert report["failover"]["share"] > 0.5
    assert outage["extra_attempts"] >= 1 and outage["retried_calls"] >= 1
    assert report["retries"]["extra_attempts"] >= outage["extra_attempts"]
    assert report["failover"]["added_p50_ms"] is not None

    breaker = report["breaker"]
    assert breaker["opened_after_s"] is not None and 0 <= breaker["opened_after_s"] < 3
    assert breaker["transitions"][0] == {
        "deployment": "openai/gpt-4o-mini",
        "state": "open",
        "at_s": breaker["transitions"][0]["at_s"],
    }
    # After: the breaker probes the primary back (2 s open period) and traffic returns.
    assert breaker["closed_after_outage_s"] is not None
    assert recovery["served_by"].get("openai", 0) > 0

    # Claude Haiku costs more than GPT-4o mini: the outage raised the cost per call.
    cost = report["cost"]
    assert float(cost["outage_per_1k_usd"]) > float(cost["baseline_per_1k_usd"]) > 0
    assert float(cost["impact_usd"]) > 0

    assert report["outage_client_errors"] == 0
    assert report["ok"] is True


# -- usage errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--provider", "azure", "--seconds", "3"), ("--provider", "'azure'", "--config")),
        (
            (
                "--provider",
                "openai",
            ),
            ("--seconds",),
        ),
        (("--provider", "openai", "--seconds", "0"), ("--seconds",)),
        (("--provider", "openai", "--seconds", "ten"), ("ten",)),
        (("--provider", "openai", "--seconds", "3", "--mode", "boom"), ("--mode", "boom")),
        (("--provider", "openai", "--seconds", "3", "--stream-share", "2"), ("--stream-share",)),
        (("--provider", "openai", "--seconds", "3", "--rate", "0"), ("--rate",)),
        (("--provider", "openai", "--seconds", "1", "--rate", "0.5"), ("less than one call",)),
        (("--provider", "openai", "--seconds", "3", "--model", "chat"), ("--model", "--config")),
        (("--provider", " ", "--seconds", "3"), ("--provider",)),
    ],
)
def test_bad_flags_are_one_line_usage_errors(
    args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    one_line_usage_error(run("drill", "outage", *args), *needles)


CONFIG = """
providers:
  primary: {type: sim}
  backup: {type: sim}
models:
  embed: {kind: embeddings, deployments: [{provider: primary, model: text-embedding-3-small}]}
  chat:
    deployments:
      - {provider: primary, model: gpt-4o-mini}
      - {provider: backup, model: gpt-4o-mini}
  backup-only: {deployments: [{provider: backup, model: gpt-4o}]}
ledger: {url: "sqlite:///LEDGER"}
"""


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--provider", "nobody"), ("no provider 'nobody'", "primary, backup")),
        (("--provider", "primary", "--model", "nothing"), ("--model", "'nothing'", "chat")),
        (("--provider", "primary", "--model", "embed"), ("--model", "embeddings alias")),
        (("--provider", "primary", "--model", "backup-only"), ("'backup-only'", "'primary'")),
    ],
)
def test_config_problems_are_one_line_usage_errors(
    tmp_path: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    path = tmp_path / "daytwo.yaml"
    path.write_text(CONFIG.replace("LEDGER", str(tmp_path / "ledger.db")), encoding="utf-8")
    result = run("drill", "outage", "--config", str(path), "--seconds", "3", *args)
    one_line_usage_error(result, *needles)
    assert not (tmp_path / "ledger.db").exists()  # nothing ran


def test_a_missing_or_invalid_config_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = run("drill", "outage", "--config", str(missing), "--provider", "p", "--seconds", "3")
    one_line_usage_error(result, "nope.yaml", "not found")
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: {p: {type: carrier-pigeon}}\n", encoding="utf-8")
    result = run("drill", "outage", "--config", str(bad), "--provider", "p", "--seconds", "3")
    one_line_usage_error(result, "bad.yaml", "providers.p")


# -- the report's arithmetic ----------------------------------------------------------------


def _shot(n: int, at_s: float, error: str | None = None, latency: float = 100.0) -> Shot:
    return Shot(n, at_s, n % 2 == 1, None if error else 200, error, latency, f"call{n}")


def _record(call_id: str, provider: str, attempts: int, cost: int | None) -> CallRecord:
    return CallRecord(
        id=call_id,
        started_at=0.0,
        ended_at=0.0,
        latency_ms=1.0,
        status="ok",
        http_status=200,
        operation="chat",
        alias="chat",
        trace_id="0" * 32,
        provider=provider,
        attempts=attempts,
        cost_nanousd=cost,
    )


def test_the_report_counts_errors_failover_breaker_and_cost() -> None:
    phases = plan_phases(4.0)
    assert [(p.name, p.start_s, p.end_s) for p in phases] == [
        ("baseline", 0, 5),
        ("outage", 5, 9),
        ("recovery", 9, 14),
    ]
    assert plan_phases(40.0)[0].duration_s == 10  # a quarter of a long outage
    shots = [
        _shot(0, 1.0, latency=100),
        _shot(1, 2.0, latency=300),
        _shot(2, 5.5, latency=400),  # failed over
        _shot(3, 6.0, latency=900),  # failed over
        _shot(4, 7.0, error="503"),
        _shot(5, 9.5, error="stream_error"),
        _shot(6, 10.0),
    ]
    records = {
        "call0": _record("call0", "openai", 1, 1_000),
        "call1": _record("call1", "openai", 1, 3_000),
        "call2": _record("call2", "anthropic", 2, 10_000),
        "call3": _record("call3", "anthropic", 3, 20_000),
        "call4": _record("call4", "openai", 3, 0),
        "call6": _record("call6", "openai", 1, None),
    }
    baseline, outage, recovery = (phase_report(p, shots, records) for p in phases)
    assert (baseline.requests, baseline.errors, baseline.p50_ms, baseline.p95_ms) == (
        2,
        0,
        100,
        300,
    )
    assert baseline.cost_per_1k_nanousd == 2_000_000
    assert (outage.requests, outage.errors, outage.errors_by_status) == (3, 1, {"503": 1})
    assert outage.served_by == {"anthropic": 1.0}  # the failed call served nobody
    assert (outage.retried_calls, outage.extra_attempts) == (3, 5)
    assert outage.cost_per_1k_nanousd == 10_000_000
    assert recovery.errors_by_status == {"stream_error": 1}
    assert recovery.unrecorded_calls == 1 and recovery.unpriced_calls == 1

    report = OutageReport(
        setup="self-contained",
        config_path=None,
        provider="openai",
        mode="503",
        injected="simulator",
        alias="chat",
        deployments=("openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"),
        drilled=("openai/gpt-4o-mini",),
        rate=1.0,
        stream_share=0.5,
        baseline=baseline,
        outage=outage,
        recovery=recovery,
        transitions=(
            Transition("openai/gpt-4o-mini", "open", 5.25),
            Transition("openai/gpt-4o-mini", "half_open", 10.25),
            Transition("openai/gpt-4o-mini", "closed", 10.5),
        ),
    )
    assert report.outage_errors == 2 and not report.ok
    assert report.failover_share == 1.0
    assert report.added_p50_ms == 400 - 100 and report.added_p95_ms == 900 - 300
    assert report.breaker_opened_after_s == 0.25
    assert report.breaker_closed_after_s == 1.5
    # (10_000 - 2_000) nano-dollars more per call, over the 3 recorded outage calls
    assert report.cost_impact_nanousd == 24_000
    data = report.to_json()
    assert data["cost"] == {
        "baseline_per_1k_usd": "0.002",
        "outage_per_1k_usd": "0.01",
        "impact_usd": "0.000024",
    }
    assert data["ok"] is False and data["outage_client_errors"] == 2
    assert "unpriced" in " ".join(data["notes"])

    lone = replace(report, drilled=report.deployments, transitions=())
    assert not lone.failover_possible
    assert lone.breaker_opened_after_s is None and lone.breaker_closed_after_s is None
    assert any("failover is impossible" in n for n in lone.notes())


def test_streamed_calls_are_spread_evenly() -> None:
    assert [is_streamed(n, 0.5) for n in range(4)] == [False, True, False, True]
    assert sum(is_streamed(n, 0.3) for n in range(100)) == 30
    assert not any(is_streamed(n, 0.0) for n in range(10))
    assert all(is_streamed(n, 1.0) for n in range(10))
