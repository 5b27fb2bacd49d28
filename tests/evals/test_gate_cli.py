"""``daytwo gate`` end to end through the embedded gateway and the simulator: a candidate
identical to the baseline passes, one the simulator makes costlier and worse fails with the
failing criteria's numbers, a tiny cost cap and an unknown metric cannot run (exit 2, one
line, nothing written), ``--json`` carries the verdict."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import xmlschema
import yaml
from click.testing import CliRunner, Result
from tests.evals.cli import one_line_error
from tests.evals.harness import project_config

from daytwo.cli.main import cli

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("in_project")]

QUESTIONS = 30


def scripted(tmp_path: Path, gate: dict[str, Any] | None = None) -> None:
    """Three aliases: ``mini`` and ``mini-again`` (the same simulated model, 90 % right) and
    ``big`` (a dearer model the simulator makes 50 % right); 30 scripted questions."""
    rows = [
        {"match": {"exact": f"Question {i}: what is the code?"}, "answer": f"code-{i:03d}-ok"}
        for i in range(QUESTIONS)
    ]
    (tmp_path / "answers.jsonl").write_text("\n".join(orjson.dumps(r).decode() for r in rows))
    cfg: dict[str, Any] = project_config(tmp_path)
    cfg.pop("prompts")
    cfg["providers"]["sim"]["sim"]["quality"] = {
        "answers_file": "answers.jsonl",
        "correct_rate": 0.9,
        "refusal_rate": 0.0,
        "personalities": {"gpt-4o": {"correct_rate": 0.5}},
    }
    for alias, model in (("mini", "gpt-4o-mini"), ("mini-again", "gpt-4o-mini"), ("big", "gpt-4o")):
        cfg["models"][alias] = {"deployments": [{"provider": "sim", "model": model}]}
    (tmp_path / "daytwo.yaml").write_text(yaml.safe_dump(cfg))
    tests = [
        {
            "id": f"q{i}",
            "vars": {"q": f"Question {i}: what is the code?"},
            "assert": [{"type": "contains", "value": f"code-{i:03d}-ok", "metric": "correct"}],
        }
        for i in range(QUESTIONS)
    ]
    suite: dict[str, Any] = {
        "targets": ["mini", "mini-again", "big"],
        "messages": [{"role": "user", "content": "{{ q }}"}],
        "params": {"max_tokens": 50},
        "tests": tests,
    }
    if gate is not None:
        suite["gate"] = gate
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "codes.yaml").write_text(yaml.safe_dump(suite))


def gate(*args: str) -> Result:
    return CliRunner().invoke(
        cli, ["gate", "--suite", "evals/codes.yaml", *args], catch_exceptions=False
    )


def runs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / ".daytwo" / "runs").glob("*.json"))


def test_a_candidate_identical_to_the_baseline_passes(tmp_path: Path) -> None:
    scripted(tmp_path, gate={"no_regression": ["pass", "correct"], "min_pass_rate": 0.8})
    got = gate("--baseline", "mini", "--candidate", "mini-again", "--max-cost-ratio", "1.01")
    assert got.exit_code == 0, got.output
    assert "mini-again (candidate) vs mini (baseline), 30 paired items" in got.stdout
    assert "gate: PASS for mini-again against mini (4 criteria held)" in got.stdout
    assert re.search(r"ok   correct: candidate (\S+) vs baseline \1, delta \+0\.0 pp", got.stdout)
    assert "= 1.00x the baseline's" in got.stdout


def test_a_costlier_worse_candidate_fails_with_the_numbers(tmp_path: Path) -> None:
    scripted(tmp_path, gate={"no_regression": ["pass"], "margin": 0.05, "max_cost_ratio": 1.5})
    got = gate("--candidate", "big", "--min-pass-rate", "0.8")  # baseline: the first target
    assert got.exit_code == 1, got.output
    out = got.stdout.splitlines()
    head = next(i for i, line in enumerate(out) if line.startswith("gate: "))
    assert out[head] == "gate: FAIL for big against mini (3 of 3 criteria failed)"
    failed = out[head + 1 : head + 4]
    assert all(line.startswith("  FAIL ") for line in failed)
    assert any("pass rate" in line and "< 80.0%" in line for line in failed)
    assert any(
        line.startswith("  FAIL pass: candidate ") and "lower bound below -5.0 pp" in line
        for line in failed
    )
    ratio = next(line for line in failed if "x the baseline's" in line)
    assert "(limit 1.50x" in ratio
    assert float(ratio.split(" = ")[1].split("x")[0]) > 1.5
    assert len(runs(tmp_path)) == 1


def test_the_gate_writes_its_reports_with_the_verdict(tmp_path: Path) -> None:
    scripted(tmp_path, gate={"max_cost_ratio": 1.5})
    got = gate(
        "--candidate", "big", "--junit", "gate.xml", "--html", "gate.html",
        "--markdown", "gate.md",
    )  # fmt: skip
    assert got.exit_code == 1, got.output
    schema = xmlschema.XMLSchema(Path(__file__).parent / "data" / "junit.xsd")
    schema.validate(tmp_path / "gate.xml")
    junit = (tmp_path / "gate.xml").read_text()
    assert 'name="deploy gate"' in junit and "max_cost_ratio" in junit
    markdown = (tmp_path / "gate.md").read_text()
    assert "FAIL" in markdown.splitlines()[0] or "FAIL" in markdown[:300]
    assert "x the baseline" in markdown
    html = (tmp_path / "gate.html").read_text()
    assert "Question 7: what is the code?" in html  # the suite's case variables are shown


def test_json_carries_verdict_comparison_and_run_id(tmp_path: Path) -> None:
    scripted(tmp_path)
    got = gate("--candidate", "big", "--baseline", "mini", "--no-regression", "correct", "--json")
    assert got.exit_code == 1, got.output
    data = orjson.loads(got.stdout)
    assert set(data) == {"verdict", "comparison", "run_id"}
    assert runs(tmp_path)[0].stem == data["run_id"]
    verdict = data["verdict"]
    assert (verdict["status"], verdict["exit_code"]) == ("fail", 1)
    (check,) = verdict["checks"]
    assert check["criterion"] == "no_regression:correct" and check["passed"] is False
    assert check["limit"] == 0.0 and check["value"] < 0
    assert data["comparison"]["candidate"] == "big"


def test_no_baseline_needed_for_absolute_criteria(tmp_path: Path) -> None:
    scripted(tmp_path)
    got = gate("--candidate", "mini", "--min-pass-rate", "0.8", "--max-cost-per-call", "1")
    assert got.exit_code == 0, got.output
    assert "gate: PASS for mini (2 criteria held)" in got.stdout
    assert "vs" not in got.stdout  # no comparison table


def test_a_tiny_cost_cap_cannot_run_and_writes_nothing(tmp_path: Path) -> None:
    scripted(tmp_path, gate={"min_pass_rate": 0.5})
    got = gate("--candidate", "big", "--max-cost", "0.000001")
    line = one_line_error(got)
    assert line.startswith(
        "daytwo gate: CANNOT RUN for big: the run's cost cap $0.000001 is reached"
    )
    assert runs(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--candidate", "big", "--no-regression", "corect"),
            "daytwo gate: CANNOT RUN for big against mini: no_regression names 'corect', which "
            "evals/codes.yaml does not measure (its metrics: pass, score, cost_per_call, "
            "latency_p50_ms, latency_p95_ms, correct)",
        ),
        (("--candidate", "big"), "daytwo gate: CANNOT RUN for big: the gate has no criteria"),
        (
            ("--candidate", "mini", "--max-cost-ratio", "2"),
            "daytwo gate: CANNOT RUN for mini: max_cost_ratio need a baseline (--baseline)",
        ),
        (("--candidate", "big", "--min-pass-rate", "1.5"), "daytwo gate: Invalid value"),
    ],
)
def test_cannot_run_before_any_call_is_one_line(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    scripted(tmp_path)
    line = one_line_error(gate(*args))
    assert line.startswith(expected)
    assert runs(tmp_path) == []


def test_format_compliance_checks_the_format_the_suite_asks_for(tmp_path: Path) -> None:
    scripted(tmp_path)
    cfg = yaml.safe_load((tmp_path / "daytwo.yaml").read_text())
    cfg["providers"]["sim"]["sim"]["quality"]["personalities"]["gpt-4o"] = {
        "invalid_json_rate": 0.5
    }
    (tmp_path / "daytwo.yaml").write_text(yaml.safe_dump(cfg))
    suite = yaml.safe_load((tmp_path / "evals" / "codes.yaml").read_text())
    suite["params"]["response_format"] = {"type": "json_object"}
    (tmp_path / "evals" / "codes.yaml").write_text(yaml.safe_dump(suite))
    held = gate("--candidate", "mini", "--min-format-compliance", "0.95")
    assert held.exit_code == 0, held.output
    assert "format compliance 100.0% (30 of 30;" in held.stdout
    got = gate("--candidate", "big", "--min-format-compliance", "0.95", "--json")
    assert got.exit_code == 1, got.output
    (check,) = orjson.loads(got.stdout)["verdict"]["checks"]
    assert check["criterion"] == "min_format_compliance"
    assert 0.2 < check["value"] < 0.8  # about half cut off by the simulator


def test_the_gate_decides_on_saved_runs_without_a_call(tmp_path: Path) -> None:
    scripted(tmp_path)
    for target, out in (("mini", "main.json"), ("big", "pr.json")):
        got = CliRunner().invoke(
            cli, ["eval", "run", "evals/codes.yaml", "--target", target, "--output", out]
        )
        assert got.exit_code == (0 if target == "mini" else 1), got.output
    before = runs(tmp_path)
    got = gate("--baseline", "main.json", "--candidate", "run:pr.json", "--no-regression", "pass")
    assert got.exit_code == 1, got.output
    assert "gate: FAIL for big against mini (1 of 1 criteria failed)" in got.stdout
    assert runs(tmp_path) == before
