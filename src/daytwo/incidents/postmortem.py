"""The postmortem skeleton of an incident (``daytwo incident report ID``, ``GET
/admin/incidents/{id}/report``): Markdown with the summary, the impact from the ledger over
the incident's window and scope, the timeline from the audit trail and the alert history, the
alerts, error and quality rates per 5 minutes, the notes, and the follow-up checklist.

The timeline and the rates start ``lead_s`` before the incident (the alert that opened it, the
change that caused it, the rates before); the impact counts the incident's own window only
(start to end, or to now while it is open). Everything recorded is data: table cells are
escaped, nothing is evaluated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from daytwo.core.money import format_usd
from daytwo.incidents.impact import Bucket, Figures, impact
from daytwo.incidents.record import Incident
from daytwo.incidents.timeline import AlertSpan, Entry, timeline
from daytwo.ledger.store import LedgerStore

#: Seconds of history before the incident's start that the timeline and rates show.
LEAD_S = 3600.0
#: The postmortem's follow-ups (docs/incidents.md): what stops the same incident next time.
FOLLOW_UPS = (
    "Add a test case: the requests of this incident as eval cases "
    "(`daytwo replay` can save a sample as a dataset).",
    "Broaden the test inputs: the traffic mix and the edge cases this incident exposed.",
    "Refine the scoring criteria: a check or judge rubric that fails on what went wrong.",
    "Tighten the SLO: an objective or alert that would have caught this sooner.",
)


@dataclass(frozen=True, slots=True)
class Report:
    incident: Incident
    #: The impact window (the incident's) and the shown window (from ``lead_s`` before).
    start: float
    end: float
    shown_from: float
    figures: Figures
    buckets: list[Bucket]
    entries: list[Entry]
    alerts: list[AlertSpan]


def build(
    store: LedgerStore, incident: Incident, *, now: float | None = None, lead_s: float = LEAD_S
) -> Report:
    """Read what the report shows (blocking)."""
    now = time.time() if now is None else now
    end = incident.ended_at if incident.ended_at is not None else now
    shown_from = incident.started_at - lead_s
    figures, _ = impact(store, incident.started_at, end, incident.scope)
    _, buckets = impact(store, shown_from, end, incident.scope)
    entries, alerts = timeline(store, shown_from, end, project=incident.project)
    return Report(incident, incident.started_at, end, shown_from, figures, buckets, entries, alerts)


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def markdown(r: Report) -> str:
    i = r.incident
    scope = ", ".join(f"{k}={v}" for k, v in sorted(i.scope.items())) or "everything"
    state = "ended" if i.ended_at is not None else "still open (figures up to now)"
    lines = [
        f"# Postmortem: {_cell(i.title)}",
        "",
        f"- **Incident:** `{i.id}` · **Severity:** {i.severity} · **Status:** {state}",
        f"- **Commander:** {_cell(i.commander or '–')} · **Started by:** {_cell(i.started_by)}",
        f"- **Scope:** {_cell(scope)}",
        f"- **Window:** {clock(r.start)} → {clock(r.end)} UTC ({_duration(r.end - r.start)})",
        "",
        "## Summary",
        "",
        i.summary or "_What happened, why, and how it was stopped — in three sentences._",
        "",
        "## Impact",
        "",
        *_impact(r.figures),
        "",
        f"## Timeline (UTC, from {clock(r.shown_from)})",
        "",
        *_timeline(r.entries),
        "",
        "## Alerts",
        "",
        *_alerts(r.alerts),
        "",
        "## Error and quality rates per 5 minutes",
        "",
        *_rates(r.buckets, r.start),
        "",
        "## Notes",
        "",
        *([f"- {clock(n.at)} {_cell(n.actor)}: {_cell(n.text)}" for n in i.notes] or ["_None._"]),
        "",
        "## Follow-ups",
        "",
        *[f"- [ ] {f}" for f in FOLLOW_UPS],
        "",
    ]
    return "\n".join(lines)


def _impact(f: Figures) -> list[str]:
    rows = [
        ("Calls", f"{f.calls:,}"),
        ("Answered", f"{f.ok:,}"),
        ("Errors", f"{f.errors:,} (error rate {_pct(f.error_rate)} of {f.upstream:,} upstream)"),
        ("Refused by policy", f"{f.rejected:,}"),
        ("Cancelled by the client", f"{f.cancelled:,}"),
        ("Users affected", f"{f.users:,}"),
        ("Cost", format_usd(f.cost_nanousd) + (f" (+{f.unpriced} unpriced)" if f.unpriced else "")),
    ]
    rows += [
        (f"Quality: {name}", f"{_pct(mean)} of {n:,} scores")
        for name, (n, mean) in sorted(f.quality.items())
    ]
    return ["| | |", "|---|---|", *[f"| {_cell(a)} | {_cell(b)} |" for a, b in rows]]


def _timeline(entries: list[Entry]) -> list[str]:
    if not entries:
        return ["_Nothing recorded._"]
    out = ["| time | source | what | who |", "|---|---|---|---|"]
    out += [f"| {clock(e.at)} | {e.source} | {_cell(e.what)} | {_cell(e.who)} |" for e in entries]
    return out


def _alerts(spans: list[AlertSpan]) -> list[str]:
    if not spans:
        return ["_No alert fired._"]
    out = ["| alert | severity | fired | resolved | labels |", "|---|---|---|---|---|"]
    for s in spans:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        resolved = clock(s.resolved_at) if s.resolved_at is not None else "still firing"
        out.append(
            f"| {_cell(s.rule)} | {s.severity} | {clock(s.fired_at)} | {resolved} | "
            f"{_cell(labels) or '–'} |"
        )
    return out


def _rates(buckets: list[Bucket], start: float) -> list[str]:
    evaluators = sorted({e for b in buckets for e in b.figures.quality})
    head = ["from", "calls", "errors", "error rate", "cost", *evaluators]
    out = ["| " + " | ".join(_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    for b in buckets:
        f = b.figures
        mark = " ▶" if b.start <= start < b.start + 300 else ""
        cells = [
            clock(b.start)[11:16] + mark,
            f"{f.calls:,}",
            f"{f.errors:,}",
            _pct(f.error_rate),
            format_usd(f.cost_nanousd),
            *[_pct(f.quality[e][1]) if e in f.quality else "–" for e in evaluators],
        ]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("▶ the incident started in this interval.")
    return out
