"""The silent model change in the demo's final summary: the changed model's refusal rate
before and after (the online refusal check's scores in the ledger, as ``daytwo quality --by
provider --by model`` counts them), what daytwo noticed and when (the live view's events), and
the quality SLO's budget (as ``daytwo slo status`` computes it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

from daytwo.config.slos import SloConfig
from daytwo.demo.config import ModelChange
from daytwo.demo.providers import Event
from daytwo.ledger.quality import ScoreCounts, score_counts
from daytwo.ledger.store import LedgerStore
from daytwo.slo.status import SloStatus, evaluate_slo, label

#: The event log's lines that tell the story, by the start of their text.
NOTICED = (
    ("model_changed", "model_changed:"),
    ("drift alert", "drift alert:"),
    ("SLO page", "alert firing: slo:"),
)


@dataclass(frozen=True, slots=True)
class QualityReport:
    change: ModelChange
    #: The refusal check's scores of the changed deployment's answers, per served model.
    before: ScoreCounts | None
    after: ScoreCounts | None
    #: Seconds into the run each kind of notice first appeared (absent: it did not).
    noticed: dict[str, float]
    slos: list[SloStatus]


def quality_report(
    change: ModelChange,
    *,
    store: LedgerStore,
    since: float,
    until: float,
    slos_at: float,
    events: Sequence[Event],
    slos: Sequence[SloConfig],
) -> QualityReport:
    """``since`` / ``until``: Unix seconds bounding the scores read (the run); ``slos_at``:
    when the SLOs are evaluated (as the apps stopped: the burn rates of the end of the run)."""
    rows = score_counts(store, since, until, ("provider", "model"), evaluator="refusal")
    found = {r.group: r for r in rows}
    noticed: dict[str, float] = {}
    for name, prefix in NOTICED:
        first = next((e.at_s for e in events if e.text.startswith(prefix)), None)
        if first is not None:
            noticed[name] = first
    return QualityReport(
        change,
        found.get((change.provider, change.served_before)),
        found.get((change.provider, change.served_after)),
        noticed,
        [evaluate_slo(store, slo, slos_at) for slo in slos],
    )


def _refusals(which: str, served: str, counts: ScoreCounts | None) -> str:
    if counts is None or counts.n == 0:
        return f"  refusals {which}: no answers scored ({served})\n"
    refused = counts.n - round(counts.total)
    return (
        f"  refusals {which}: {refused} of {counts.n} answers ({refused / counts.n:.1%}), "
        f"served as {served}\n"
    )


def slo_line(s: SloStatus) -> str:
    """One SLO as ``daytwo slo status`` tells it: SLI, budget left, burn rates, firing."""
    bad, total = s.period_counts
    sli = "–" if s.sli is None else f"{s.sli:.1%} ({total - bad}/{total})"
    windows = dict.fromkeys(
        w for c in s.evaluation.checks for w in (c.alert.long_window, c.alert.short_window)
    )
    rates = " ".join(f"{label(w)}:{s.burn_rate(w):.1f}" for w in windows)
    allowed = (1 - s.slo.objective) * total
    return (
        f"SLO {s.slo.name} ({s.slo.sli.type} ≥ {s.slo.objective:.1%} over {s.slo.window}): "
        f"SLI {sli}, budget left {s.budget_remaining:.1%} ({bad} bad, {allowed:.1f} allowed), "
        f"burn rates {rates}, firing now: {s.severity or '–'}"
    )


def render_quality(r: QualityReport) -> Text:
    c = r.change
    out = Text()
    out.append(
        f"Silent model change: {c.provider}'s {c.model} answered as {c.served_after} from "
        f"{c.at_s:.1f}s into the run (refusal rate {c.refusal_before:.0%} → "
        f"{c.refusal_after:.0%} in the simulator)\n",
        "bold",
    )
    out.append(_refusals("before", c.served_before, r.before))
    out.append(_refusals("after ", c.served_after, r.after), "bold red")
    noticed = ", ".join(f"{name} at {at:.1f}s" for name, at in r.noticed.items())
    out.append(f"  daytwo noticed: {noticed or 'nothing'}\n")
    for s in r.slos:
        out.append(f"  {slo_line(s)}\n")
    out.rstrip()
    return out
