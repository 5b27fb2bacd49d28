"""The outage in the demo's final summary: what the apps saw while a provider was down, and
what the gateway did about it (from the apps' own records and the ledger)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text

from daytwo.demo.config import Outage
from daytwo.demo.providers import Downtime, Topology, served
from daytwo.demo.traffic import Sample
from daytwo.ledger.store import LedgerStore


@dataclass(frozen=True, slots=True)
class OutageReport:
    outage: Outage
    #: The aliases whose first deployment is on the failing provider.
    aliases: tuple[str, ...]
    #: The apps' calls to those aliases sent during the outage ...
    calls: int
    #: ... that failed as the apps saw them (a refusal by a rule is not a failure) ...
    errors: int
    #: ... that a rule refused (a kill switch, a budget) ...
    refused: int
    #: ... and, per the ledger, that a fallback deployment answered, and of those how many
    #: after a failed try on the failing provider (the rest went around its open breaker).
    failed_over: int
    after_failed_try: int
    #: The apps' median latency on those aliases before and during the outage.
    p50_before_ms: float | None
    p50_during_ms: float | None
    #: The failing provider's breaker: when it opened and recovered (None: it never opened).
    downtime: Downtime | None


def outage_report(
    outage: Outage,
    *,
    run_start: float,
    samples: Iterable[Sample],
    store: LedgerStore,
    topology: Topology,
    downtimes: Sequence[Downtime],
) -> OutageReport:
    """``run_start``: Unix seconds the apps (and the outage's clock) started."""
    start, end = run_start + outage.start_s, run_start + outage.end_s
    aliases = topology.aliases_of(outage.provider)
    mine = [s for s in samples if s.model in aliases]
    during = [s for s in mine if start <= s.at < end]
    before = [s for s in mine if s.at < start]
    ledger = served(store, topology, since=start, until=end, now=end)
    downtime = next(
        (
            d
            for d in downtimes
            if d.provider == outage.provider
            and d.opened_s < outage.end_s
            and (d.recovered_s is None or d.recovered_s > outage.start_s)
        ),
        None,
    )
    return OutageReport(
        outage=outage,
        aliases=aliases,
        calls=len(during),
        errors=sum(1 for s in during if s.failed),
        refused=sum(1 for s in during if not s.ok and not s.failed),
        failed_over=ledger.failed_over,
        after_failed_try=ledger.after_failed_try,
        p50_before_ms=_p50(s.latency_ms for s in before if s.ok),
        p50_during_ms=_p50(s.latency_ms for s in during if s.ok),
        downtime=downtime,
    )


def _p50(values: Iterable[float]) -> float | None:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None


def render_outage(r: OutageReport) -> Text:
    o = r.outage
    aliases = ", ".join(r.aliases)
    out = Text()
    out.append(
        f"Provider outage: {o.provider} answered {o.mode} from {o.start_s:.1f}s "
        f"to {o.end_s:.1f}s into the run\n",
        "bold",
    )
    d = r.downtime
    if d is None:
        out.append(f"  {o.provider}'s breaker never opened\n", "yellow")
    else:
        back = f"recovered at {d.recovered_s:.1f}s" if d.recovered_s is not None else "still open"
        out.append(f"  breaker opened at {d.opened_s:.1f}s, {back}\n")
    out.append(f"  {r.calls:,} calls to {aliases} during the outage\n")
    out.append("  ")
    out.append(f"{r.errors:,} errors seen by the apps", "bold red" if r.errors else "bold green")
    if r.refused:
        out.append(f" ({r.refused:,} refused by spend control, not the outage)")
    out.append("\n")
    around = r.failed_over - r.after_failed_try
    out.append(
        f"  {r.failed_over:,} failed over to {o.fallback}: {r.after_failed_try:,} after a "
        f"failed try on {o.provider}, {around:,} straight past its open breaker\n"
    )
    if r.p50_before_ms is not None and r.p50_during_ms is not None:
        added = r.p50_during_ms - r.p50_before_ms
        out.append(
            f"  added latency: p50 {r.p50_before_ms:,.0f} ms before, "
            f"{r.p50_during_ms:,.0f} ms during ({added:+,.0f} ms)"
        )
    return out
