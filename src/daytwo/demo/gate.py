"""The demo's deploy gate: the verbose ``support-reply`` v2 (the version the demo promotes
midway) held against v1 on the shop's support questions, every answer and every judge verdict
a call through the demo's own gateway (budgets, ledger).

The simulated OpenAI-shaped provider answers those questions from a script
(:mod:`daytwo.demo.support_qa`: mostly right, sometimes wrong) and writes more when the system
prompt asks for thoroughness -- so v2 costs more per call without being judged any better, and
the gate says so with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Group, RenderableType
from rich.text import Text

from daytwo.demo.prompts import NAME as PROMPT_NAME
from daytwo.demo.support_qa import SUPPORT_QA
from daytwo.evals.compare import compare
from daytwo.evals.gate import evaluate_gate
from daytwo.evals.model import Comparison, GateVerdict
from daytwo.evals.report.table import comparison_renderable
from daytwo.evals.runner import RunOptions, execute, load_suite

BASELINE = f"prompt:{PROMPT_NAME}@v1"
CANDIDATE = f"prompt:{PROMPT_NAME}@v2"
#: The judge's alias in the demo's config (a Claude-named model: another family than the GPT
#: models under test, as the suite requires).
JUDGE_ALIAS = "judge"


def write_suite(workdir: Path) -> Path:
    """``evals/support.yaml`` in the demo's directory: v1 and v2 on every scripted question,
    a rubric judge, and the gate's criteria."""
    root = workdir / "evals"
    root.mkdir(parents=True, exist_ok=True)
    suite = {
        "description": "support-reply: right answers at a sane cost",
        "prompts": "../prompts",
        "targets": [BASELINE, CANDIDATE],
        "tests": [
            {"id": f"q{i:02d}", "vars": {"topic": question}, "expected": right}
            for i, (question, right, _) in enumerate(SUPPORT_QA, start=1)
        ],
        "defaultTest": {
            "assert": [
                {"type": "not-is-refusal"},
                {
                    "type": "llm-rubric",
                    "value": "Tells the customer exactly what to do, consistent with the reference",
                    "metric": "helpfulness",
                },
            ]
        },
        "judge": {"model": JUDGE_ALIAS, "require_other_family": True},
        "concurrency": 16,
        "max_cost": 1.0,
        "gate": {
            "no_regression": ["helpfulness"],
            "margin": 0.05,
            "max_cost_ratio": 1.5,
            "max_refusal_rate": 0.05,
        },
    }
    path = root / "support.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class GateOutcome:
    verdict: GateVerdict
    comparison: Comparison
    calls: int
    spent_usd: float


def run_gate(workdir: Path, gateway_url: str) -> GateOutcome:
    """Run the suite through the demo's gateway and hold v2 to the gate."""
    suite = load_suite(write_suite(workdir))
    options = RunOptions(gateway_url=gateway_url, use_cache=False, cache_dir=workdir / ".daytwo")
    run = execute(suite, options)
    comparison = compare(
        run.for_target(BASELINE),
        run.for_target(CANDIDATE),
        baseline_label=BASELINE,
        candidate_label=CANDIDATE,
    )
    verdict = evaluate_gate(suite.gate, run, BASELINE, CANDIDATE, comparison)
    return GateOutcome(verdict, comparison, run.calls, run.spent_usd)


def render(outcome: GateOutcome, *, compact: bool = False) -> RenderableType:
    """The comparison (``compact``: the numbers and verdicts only) and the gate's lines."""
    lines = outcome.verdict.lines()
    style = "bold green" if outcome.verdict.status == "pass" else "bold red"
    return Group(
        Text(
            f"Deploy gate: {CANDIDATE} against {BASELINE} "
            f"({outcome.calls} calls through the gateway, ${outcome.spent_usd:.4f})",
            style="bold",
        ),
        comparison_renderable(outcome.comparison, compact=compact),
        Text(lines[0], style=style),
        *(Text(line) for line in lines[1:]),
    )
