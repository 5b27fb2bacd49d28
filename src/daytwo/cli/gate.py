"""``daytwo gate``: run a suite on a candidate (and a baseline) and hold the candidate to the
gate's criteria -- the suite's ``gate:`` block, overridden by flags. Exit 0 pass, 1 fail (each
failed criterion one line with its numbers), 2 cannot run (bad input, no criteria, budget
exhausted, provider down). Never a pass by default. See docs/gate.md."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from daytwo.cli.common import echo_json, fail
from daytwo.cli.eval_compare import (
    Resolver,
    RunFlags,
    comparison_json,
    console,
    run_options,
    write_reports,
)
from daytwo.cli.oneline import one_line_family

if TYPE_CHECKING:
    from daytwo.evals.gate import Formats
    from daytwo.evals.model import Comparison, GateCheck, GateCriteria, GateVerdict, RunResult
    from daytwo.evals.suite import Suite

PREFIX = "daytwo gate"
_UsageError, Command, _Group = one_line_family(PREFIX)

SHARE = click.FloatRange(0, 1)
POSITIVE = click.FloatRange(0, min_open=True)

#: flag → GateCriteria field (the flags that set a number).
CRITERIA_FLAGS = {
    "min_pass_rate": "min_pass_rate",
    "min_score": "min_score",
    "margin": "margin",
    "max_cost_per_call": "max_cost_per_call_usd",
    "max_cost_ratio": "max_cost_ratio",
    "max_latency_p95": "max_latency_p95_ms",
    "max_refusal_rate": "max_refusal_rate",
    "min_format_compliance": "min_format_compliance",
}


@click.command("gate", cls=Command)
@click.option("--candidate", required=True, metavar="C", help="Target label or saved run.")
@click.option(
    "--baseline",
    metavar="B",
    help="Target label or saved run to compare with [default, when a criterion compares: the "
    "suite's first target].",
)
@click.option("--min-pass-rate", type=SHARE, metavar="X", help="Least share of items passing.")
@click.option("--min-score", type=SHARE, metavar="X", help="Least mean item score.")
@click.option(
    "--no-regression",
    multiple=True,
    metavar="METRIC",
    help="No regression beyond --margin on this metric (repeatable).",
)
@click.option("--margin", type=click.FloatRange(0), metavar="D", help="Non-inferiority margin δ.")
@click.option("--max-cost-per-call", type=click.FloatRange(0), metavar="USD")
@click.option("--max-cost-ratio", type=POSITIVE, metavar="R", help="Candidate / baseline cost.")
@click.option("--max-latency-p95", type=POSITIVE, metavar="MS")
@click.option("--max-refusal-rate", type=SHARE, metavar="X")
@click.option("--min-format-compliance", type=SHARE, metavar="X")
@click.option(
    "--require-error-budget",
    is_flag=True,
    help="Fail when a quality SLO's error budget is exhausted in production (the SLOs of "
    "--config, evaluated on its ledger).",
)
@click.option(
    "--slo",
    "slo_names",
    multiple=True,
    metavar="NAME",
    help="The SLO --require-error-budget holds to (repeatable) [default: every quality SLO].",
)
@run_options
def gate(
    candidate: str,
    baseline: str | None,
    no_regression: tuple[str, ...],
    require_error_budget: bool,
    slo_names: tuple[str, ...],
    **kwargs: Any,
) -> None:
    """Hold a candidate to the deploy gate's criteria on --suite's items. Flags override the
    suite's `gate:` block. Exit 0 pass, 1 fail, 2 cannot run."""
    flags = RunFlags.take(kwargs)
    if flags.suite is None:
        fail("--suite is required (the items and the `gate:` block)", 2, prefix=PREFIX)
    resolver = Resolver(flags, PREFIX, aborted=f"CANNOT RUN for {candidate}: ")
    suite = resolver.suite(required=True)
    assert suite is not None
    criteria = _criteria(suite.gate, no_regression, kwargs)
    baseline = _baseline(criteria, suite, baseline, candidate)
    budgets = _error_budgets(flags.config_path, slo_names) if require_error_budget else []
    if slo_names and not require_error_budget:
        fail("--slo goes with --require-error-budget", 2, prefix=PREFIX)
    _check_before_running(criteria, suite, candidate, baseline, others=bool(budgets))
    run, base_label, cand_label, comparison = _measure(resolver, baseline, candidate, flags)
    from daytwo.evals.gate import evaluate_gate

    verdict = evaluate_gate(
        criteria,
        run,
        base_label,
        cand_label,
        comparison,
        alpha=flags.alpha,
        formats=_formats(suite, cand_label, criteria),
        extra=budgets,
    )
    write_reports(flags, run, comparison, verdict, suite)
    _show(verdict, comparison, run, flags)
    sys.exit(verdict.exit_code)


def _criteria(
    suite_gate: GateCriteria, no_regression: tuple[str, ...], flags: dict[str, Any]
) -> GateCriteria:
    """The suite's block with what the flags set over it."""
    over: dict[str, Any] = {
        field: flags[flag] for flag, field in CRITERIA_FLAGS.items() if flags[flag] is not None
    }
    if no_regression:
        over["no_regression"] = tuple(dict.fromkeys(no_regression))
    return replace(suite_gate, **over)


def _baseline(
    criteria: GateCriteria, suite: Suite, baseline: str | None, candidate: str
) -> str | None:
    """``--baseline``, else the suite's first target when a criterion compares and the
    candidate is another."""
    from daytwo.evals.gate import NEEDS_BASELINE, configured

    if baseline is not None:
        return baseline
    compares = any(name in NEEDS_BASELINE for name in configured(criteria))
    if compares and suite.targets[0] != candidate:
        return suite.targets[0]
    return None


def _check_before_running(
    criteria: GateCriteria, suite: Suite, candidate: str, baseline: str | None, *, others: bool
) -> None:
    """What can be refused before a call is made: no criterion, a criterion that compares
    with no baseline, a metric no_regression names that the suite cannot produce."""
    from daytwo.evals.compare import BUILTIN_METRICS
    from daytwo.evals.gate import precondition

    reason = precondition(criteria, baseline, others=others)
    if reason is None:
        names = {a.name for case in suite.cases for a in case.assertions}
        known = [
            *BUILTIN_METRICS,
            *sorted(f"assert:{n}" if n in BUILTIN_METRICS else n for n in names),
        ]
        unknown = [m for m in criteria.no_regression if m not in known]
        if unknown:
            reason = (
                f"no_regression names {', '.join(map(repr, unknown))}, which {suite.path} does "
                f"not measure (its metrics: {', '.join(known)})"
            )
    if reason is not None:
        from daytwo.evals.model import GateVerdict

        _cannot(GateVerdict("cannot run", candidate, baseline, reason=reason))
        sys.exit(2)


def _error_budgets(config_path: str | None, names: tuple[str, ...]) -> list[GateCheck]:
    """One ``error_budget`` check per SLO held to (``--slo``, else every quality SLO of the
    config), evaluated now on the config's ledger. Exit 2 when there is none to hold to."""
    import os
    import time

    from daytwo.cli.common import DEFAULT_CONFIG, load_or_fail
    from daytwo.config.slos import ScoreSli
    from daytwo.core.errors import DaytwoError
    from daytwo.evals.gate import error_budget_check
    from daytwo.ledger.store import open_store
    from daytwo.slo.status import evaluate_slo

    path = config_path or os.environ.get("DAYTWO_CONFIG") or DEFAULT_CONFIG
    config = load_or_fail(path)
    known = {s.name: s for s in config.slos}
    unknown = [n for n in names if n not in known]
    if unknown:
        fail(f"--slo: no SLO named {', '.join(unknown)} in {path}", 2, prefix=PREFIX)
    slos = [known[n] for n in names] or [s for s in config.slos if isinstance(s.sli, ScoreSli)]
    if not slos:
        fail(f"--require-error-budget: no quality SLO in {path} (docs/slos.md)", 2, prefix=PREFIX)
    try:
        store = open_store(config.ledger.url, create=False)
    except DaytwoError as exc:
        fail(f"--require-error-budget: {exc.message}", 2, prefix=PREFIX)
    try:
        now = time.time()
        statuses = [evaluate_slo(store, slo, now) for slo in slos]
    except DaytwoError as exc:
        fail(f"--require-error-budget: {exc.message}", 2, prefix=PREFIX)
    finally:
        store.close()
    return [
        error_budget_check(
            s.slo.name, s.budget_remaining, *s.period_counts, s.slo.objective, s.slo.window
        )
        for s in statuses
    ]


def _measure(
    resolver: Resolver, baseline: str | None, candidate: str, flags: RunFlags
) -> tuple[RunResult, str | None, str, Comparison | None]:
    """Run (or read) the sides: the run, the labels in it, the comparison."""
    if baseline is None:
        run, label = resolver.one(candidate)
        return run, None, label, None
    sides = resolver.sides(baseline, candidate)
    return sides.run, sides.baseline, sides.candidate, sides.compare(flags.alpha)


def _formats(suite: Suite, label: str, criteria: GateCriteria) -> Formats | None:
    """The response format each case's request under ``label`` asks for, as the suite builds
    it; None when format compliance is not asked or ``label`` is not a target of the suite."""
    if criteria.min_format_compliance is None:
        return None
    from daytwo.evals.model import SuiteError

    try:
        plan = suite.plan(label)
    except SuiteError:
        return None
    return {case.id: plan.request(case).response_format for case in suite.cases}


def _show(
    verdict: GateVerdict, comparison: Comparison | None, run: RunResult, flags: RunFlags
) -> None:
    if flags.as_json:
        echo_json(
            {
                "verdict": verdict.to_json(),
                "comparison": comparison_json(comparison) if comparison else None,
                "run_id": run.run_id,
            }
        )
        return
    if comparison is not None:
        from daytwo.evals.report.table import print_comparison

        print_comparison(comparison, console(), alpha=flags.alpha)
    if verdict.status == "cannot run":
        _cannot(verdict)
        return
    for line in verdict.lines():
        click.echo(line)


def _cannot(verdict: GateVerdict) -> None:
    """The verdict's one line on stderr: ``daytwo gate: CANNOT RUN for C: reason``."""
    click.echo(f"{PREFIX}: {verdict.lines()[0].removeprefix('gate: ')}", err=True)
