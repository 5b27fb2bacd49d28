"""The replay's verdict: original vs replay, call by call, in the paired statistics of
docs/statistics.md (pure functions over the pairs), its text and JSON, and the replayed sample
as an eval dataset.

* The judge (asked in both orders; a preference that flips with the order is a tie): the share
  of calls whose replay is judged better, with Wilson's interval, the share judged worse, and
  the sign test (McNemar's exact test on the calls that are not ties).
* The online evaluators' checks (:mod:`daytwo.quality.checks`) on both answers: refusal,
  format failure (only where the request asked for a format), truncation. Each rate is
  compared paired: McNemar's exact test on the calls where the two sides differ, and the paired
  bootstrap interval of the difference (replay - original; lower is better).
* Cost and latency per call: :func:`daytwo.evals.compare.compare` on the pairs (paired
  bootstrap; lower is better). The original's cost and latency are its ledger row's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from daytwo.evals.model import ItemResult, MetricComparison, Output
from daytwo.incidents.replay import Selection
from daytwo.incidents.replay_build import Against, Rebuilt
from daytwo.incidents.replay_run import Outcome, Pair
from daytwo.quality.checks import format_ok, is_refusal, truncation_label
from daytwo.stats import mcnemar_exact, paired_bootstrap, wilson_interval


@dataclass(frozen=True, slots=True)
class RateComparison:
    """One check's rate (a bad outcome: lower is better), original vs replay, paired."""

    name: str
    n: int
    original: float
    replay: float
    #: replay - original, with its paired bootstrap interval (None below two calls).
    delta: float
    ci_low: float | None
    ci_high: float | None
    #: (bad in the original only, bad in the replay only): the discordant calls.
    discordant: tuple[int, int]
    p_value: float


@dataclass(frozen=True, slots=True)
class JudgeSummary:
    model: str
    n: int
    better: int
    worse: int
    ties: int
    #: Wilson interval of the share judged better.
    ci_low: float
    ci_high: float
    #: The sign test: McNemar's exact test on better vs worse (ties carry no preference).
    p_value: float
    #: Verdicts whose two orders disagreed (position bias caught, counted as ties).
    inconsistent: int

    @property
    def share_better(self) -> float:
        return self.better / self.n if self.n else 0.0

    @property
    def share_worse(self) -> float:
        return self.worse / self.n if self.n else 0.0


@dataclass(frozen=True, slots=True)
class ReplayReport:
    run_id: str
    against: Against
    selection: Selection
    in_window: int
    captured: int
    selected: int
    replayed: int
    #: Calls not replayed, by reason (could not be rebuilt, unusable content).
    skipped: Mapping[str, int]
    #: Replay calls that failed (after retries), by message.
    failed: Mapping[str, int]
    rates: tuple[RateComparison, ...]
    judge: JudgeSummary | None
    judge_errors: int
    costs: tuple[MetricComparison, ...]
    calls: int
    spent_usd: float
    stopped: str | None
    redacted: int
    pairs: tuple[Pair, ...] = field(repr=False, default=())

    def to_json(self) -> dict[str, Any]:
        judge = None
        if self.judge is not None:
            judge = {
                **asdict(self.judge),
                "share_better": self.judge.share_better,
                "share_worse": self.judge.share_worse,
            }
        return {
            "run_id": self.run_id,
            "against": {"kind": self.against.kind, "value": self.against.value},
            "selection": asdict(self.selection),
            "in_window": self.in_window,
            "captured": self.captured,
            "selected": self.selected,
            "replayed": self.replayed,
            "skipped": dict(self.skipped),
            "failed": dict(self.failed),
            "rates": [asdict(r) for r in self.rates],
            "judge": judge,
            "judge_errors": self.judge_errors,
            "costs": [asdict(m) for m in self.costs],
            "calls": self.calls,
            "spent_usd": self.spent_usd,
            "stopped": self.stopped,
            "redacted": self.redacted,
            "pairs": [_pair_json(p) for p in self.pairs],
        }


def _pair_json(pair: Pair) -> dict[str, Any]:
    verdict = pair.verdict
    return {
        "call_id": pair.call.call_id,
        "replay_call_id": pair.replay.call_id if pair.replay is not None else None,
        "original_refusal": is_refusal(pair.original),
        "replay_refusal": is_refusal(pair.replay) if pair.replay is not None else None,
        "winner": None
        if verdict is None
        else {"a": "original", "b": "replay", "tie": "tie"}[verdict.winner],
        "error": pair.error,
        "judge_error": pair.judge_error,
    }


#: The checks compared: name → (pair → (original bad, replay bad), or None: not applicable).
Check = Callable[[Output, Output, Rebuilt], tuple[bool, bool] | None]


def _refusal(a: Output, b: Output, _: Rebuilt) -> tuple[bool, bool]:
    return is_refusal(a), is_refusal(b)


def _format(a: Output, b: Output, rebuilt: Rebuilt) -> tuple[bool, bool] | None:
    one, two = format_ok(a, rebuilt.response_format), format_ok(b, rebuilt.response_format)
    if one is None or two is None:
        return None
    return not one, not two


def _truncated(a: Output, b: Output, _: Rebuilt) -> tuple[bool, bool]:
    return truncation_label(a) != "ok", truncation_label(b) != "ok"


CHECKS: Mapping[str, Check] = {
    "refusal": _refusal,
    "format failure": _format,
    "truncated": _truncated,
}


def rate_comparison(
    name: str, flags: Sequence[tuple[bool, bool]], *, alpha: float = 0.05
) -> RateComparison | None:
    """(original bad, replay bad) per call, compared paired; None without a call."""
    n = len(flags)
    if n == 0:
        return None
    b = sum(one and not two for one, two in flags)
    c = sum(two and not one for one, two in flags)
    original = sum(one for one, _ in flags) / n
    replay = sum(two for _, two in flags) / n
    low = high = None
    if n >= 2:
        diffs = [float(two) - float(one) for one, two in flags]
        ci = paired_bootstrap(diffs, confidence=1.0 - alpha)
        low, high = ci.low, ci.high
    return RateComparison(
        name, n, original, replay, replay - original, low, high, (b, c), mcnemar_exact(b, c)
    )


def judge_summary(model: str, pairs: Sequence[Pair], *, alpha: float = 0.05) -> JudgeSummary | None:
    verdicts = [p.verdict for p in pairs if p.verdict is not None]
    if not verdicts:
        return None
    n = len(verdicts)
    better = sum(v.winner == "b" for v in verdicts)
    worse = sum(v.winner == "a" for v in verdicts)
    ci = wilson_interval(better, n, 1.0 - alpha)
    return JudgeSummary(
        model=model,
        n=n,
        better=better,
        worse=worse,
        ties=n - better - worse,
        ci_low=ci.low,
        ci_high=ci.high,
        p_value=mcnemar_exact(worse, better),
        inconsistent=sum(not v.consistent for v in verdicts),
    )


def cost_comparison(
    pairs: Sequence[Pair], label: str, alpha: float
) -> tuple[MetricComparison, ...]:
    from daytwo.evals.compare import compare

    answered = [p for p in pairs if p.replay is not None]
    base = [
        ItemResult(p.call.call_id, i, "original", 0, p.original) for i, p in enumerate(answered)
    ]
    cand = [ItemResult(p.call.call_id, i, label, 0, p.replay) for i, p in enumerate(answered)]
    got = compare(base, cand, baseline_label="original", candidate_label=label, alpha=alpha)
    wanted = ("cost_per_call", "latency_p50_ms")
    return tuple(m for m in got.metrics if m.metric in wanted)


def build_report(
    *,
    run_id: str,
    against: Against,
    selection: Selection,
    in_window: int,
    captured: int,
    selected: int,
    skipped: Mapping[str, int],
    outcome: Outcome,
    judge: str | None,
    alpha: float = 0.05,
) -> ReplayReport:
    answered = [p for p in outcome.pairs if p.replay is not None]
    rates: list[RateComparison] = []
    for name, check in CHECKS.items():
        flags = []
        for p in answered:
            assert p.replay is not None
            got = check(p.original, p.replay, p.rebuilt)
            if got is not None:
                flags.append(got)
        row = rate_comparison(name, flags, alpha=alpha)
        if row is not None:
            rates.append(row)
    failed: dict[str, int] = {}
    for p in outcome.pairs:
        if p.error is not None:
            failed[p.error] = failed.get(p.error, 0) + 1
    return ReplayReport(
        run_id=run_id,
        against=against,
        selection=selection,
        in_window=in_window,
        captured=captured,
        selected=selected,
        replayed=len(answered),
        skipped=dict(skipped),
        failed=failed,
        rates=tuple(rates),
        judge=judge_summary(judge, answered, alpha=alpha) if judge else None,
        judge_errors=sum(p.judge_error is not None for p in answered),
        costs=cost_comparison(answered, against.label, alpha) if len(answered) >= 2 else (),
        calls=outcome.calls,
        spent_usd=outcome.spent_usd,
        stopped=outcome.stopped,
        redacted=sum(p.call.mode == "redacted" for p in outcome.pairs),
        pairs=outcome.pairs,
    )


# -- text -------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


def render_text(report: ReplayReport, *, alpha: float = 0.05) -> list[str]:
    """The report as lines for a terminal."""
    r = report
    level = f"{100 * (1 - alpha):.0f} %"
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.selection.start))
    lines = [
        f"replay {r.run_id} against {r.against.label}: {r.replayed} of {r.selected} sampled "
        f"calls replayed ({r.selection.describe()}, since {when} UTC; {r.in_window} answered "
        f"chat calls in the window, {r.captured} with captured content)"
    ]
    if r.stopped:
        lines.append(f"  stopped early: {r.stopped}")
    for reason, n in sorted(r.skipped.items()):
        lines.append(f"  skipped {n}: {reason}")
    for message, n in sorted(r.failed.items()):
        lines.append(f"  failed {n}: {message}")
    if r.redacted:
        lines.append(
            f"  {r.redacted} calls were captured redacted: any value the detectors found "
            "reached the replay as its [REDACTED:...] placeholder"
        )
    j = r.judge
    if j is not None:
        lines.append(
            f"  judged by {j.model} (both orders): {r.against.label} answers are judged better on "
            f"{100 * j.share_better:.0f} % of {j.n} calls (CI {100 * j.ci_low:.0f}–"
            f"{100 * j.ci_high:.0f} %), worse on {100 * j.share_worse:.0f} %, ties "
            f"{100 * j.ties / j.n:.0f} % (sign test p={_p(j.p_value)}; {j.inconsistent} "
            "verdicts flipped with the order)"
        )
    elif r.judge_errors == 0:
        lines.append("  no judge (pass --judge ALIAS for a pairwise verdict)")
    if r.judge_errors:
        lines.append(f"  {r.judge_errors} judge verdicts could not be had")
    for rate in r.rates:
        ci = (
            f", {level} CI {100 * rate.ci_low:+.1f} to {100 * rate.ci_high:+.1f} pts"
            if rate.ci_low is not None and rate.ci_high is not None
            else ""
        )
        lines.append(
            f"  {rate.name}: {_pct(rate.original)} original vs {_pct(rate.replay)} replay "
            f"(Δ {100 * rate.delta:+.1f} pts{ci}; McNemar p={_p(rate.p_value)}, "
            f"n={rate.n})"
        )
    for m in r.costs:
        unit = "$" if m.metric == "cost_per_call" else ""
        tail = " ms" if m.metric != "cost_per_call" else ""
        ci = (
            f", CI {m.ci_low:+.6g} to {m.ci_high:+.6g}"
            if m.ci_low is not None and m.ci_high is not None
            else ""
        )
        lines.append(
            f"  {m.metric}: {unit}{m.baseline:.6g}{tail} original vs {unit}{m.candidate:.6g}"
            f"{tail} replay (Δ {m.delta:+.6g}{ci}; {m.verdict})"
        )
    lines.append(
        f"  the replay made {r.calls} calls for ${r.spent_usd:.6f} (ledger: project replay, "
        f"session {r.run_id})"
    )
    return lines


# -- dataset ----------------------------------------------------------------------------------


def dataset_rows(report: ReplayReport) -> list[dict[str, Any]]:
    """The replayed calls as eval test entries (docs/evals.md's dataset format): ``vars`` are
    the prompt's variables for a prompt replay (a suite's ``prompt:NAME@vN`` targets render
    them), else ``{"question": <the last user message>}`` (for a suite whose message template
    is ``{{ question }}``); ``expected`` is the answer the judge preferred, when it preferred
    one."""
    rows: list[dict[str, Any]] = []
    for pair in report.pairs:
        if pair.replay is None:
            continue
        variables = pair.rebuilt.variables
        row: dict[str, Any] = {
            "id": f"replay-{pair.call.call_id}",
            "description": (
                f"call {pair.call.call_id} ({pair.call.project}"
                f"{'/' + pair.call.workflow if pair.call.workflow else ''}), replayed against "
                f"{report.against.label} in {report.run_id}"
            ),
            "vars": dict(variables)
            if variables is not None
            else {"question": pair.rebuilt.question},
        }
        verdict = pair.verdict
        if verdict is not None and verdict.winner != "tie":
            row["expected"] = (pair.replay if verdict.winner == "b" else pair.original).text
        rows.append(row)
    return rows


def save_dataset(report: ReplayReport, path: Path) -> int:
    """Write :func:`dataset_rows` as JSONL at ``path`` (atomically); the number of rows."""
    from daytwo.core.files import write_atomic

    rows = dataset_rows(report)
    write_atomic(path, b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return len(rows)
