"""The incident demo's narrative lines, as pure functions of what each step found: the alert
and the runbook it names, triage's top suspects, degraded mode as the app and the ledger saw
it, the replay's paired refusal rates, the recovery, and the postmortem's timeline."""

from __future__ import annotations

import re
from collections.abc import Mapping

from rich.text import Text

from daytwo.alerts.notify import Notification
from daytwo.demo.incident_ledger import Refusals
from daytwo.demo.incident_traffic import Tally
from daytwo.incidents.replay_report import RateComparison, ReplayReport
from daytwo.incidents.runbooks import Runbook
from daytwo.incidents.triage import Triage

#: Suspects shown of triage's ranking.
TOP_SUSPECTS = 3
#: Lines of the postmortem's timeline shown at most (its table head included).
TIMELINE_LINES = 30
INDENT = "         "


def step(at_s: float, number: int, title: str) -> Text:
    """A step's first line: seconds into the run, its number and what happened."""
    return Text.assemble((f"{at_s:6.1f}s  ", "dim"), (f"{number}. ", "bold cyan"), (title, "bold"))


def detail(*lines: str, style: str = "") -> Text:
    """Lines under a step, indented."""
    return Text("\n".join(INDENT + line for line in lines), style=style)


def runbook_name(ref: str | None) -> str | None:
    """The runbook an alert names: ``daytwo runbook show NAME``, or a URL's last segment."""
    if not ref:
        return None
    command = re.fullmatch(r"daytwo runbook show ([a-z0-9-]+)", ref.strip())
    if command is not None:
        return command[1]
    tail = ref.rstrip("/").rsplit("/", 1)[-1]
    return tail or None


def alert_lines(n: Notification) -> list[str]:
    """The notification as the log sink wrote it, and its numbers."""
    lines = [n.summary]
    burn = n.detail.get("burn_rates") if isinstance(n.detail, dict) else None
    if isinstance(burn, dict) and burn:
        shown = ", ".join(f"{w}: {float(v):.1f}x" for w, v in burn.items())
        lines.append(f"burn rates by window: {shown}")
    return lines


def checks(r: Runbook) -> list[str]:
    """The runbook's first three checks, one line each (the command and what it shows)."""
    items = re.split(r"^\d+\.\s+", r.section("First three checks"), flags=re.MULTILINE)[1:]
    return [f"{i}. {' '.join(item.split())}" for i, item in enumerate(items, start=1)]


def runbook_lines(r: Runbook) -> list[str]:
    return [
        f"runbook {r.name}: {r.title} ({r.severity}; page {r.page})",
        "first three checks:",
        *(f"  {line}" for line in checks(r)),
    ]


def triage_lines(t: Triage, shown: int = TOP_SUSPECTS) -> list[str]:
    lines = [
        f"triage: {t.window_calls} calls since the change against {t.baseline_calls} before "
        f"it; {len(t.suspects)} suspects, the top {min(shown, len(t.suspects))}:"
    ]
    for s in t.suspects[:shown]:
        cause = f", a consequence of #{s.consequence_of}" if s.consequence_of else ""
        lines.append(
            f"  #{s.rank} {_short(s.what)} ({s.kind}; {s.calls} calls, score {s.score:.2f}{cause})"
        )
    top = t.suspects[0] if t.suspects else None
    if top is not None:
        lines.append(f"  why #1: {top.why}")
        lines += [f"  dig: {command}" for command in top.dig[:2]]
    return lines


def _short(text: str, at_most: int = 80) -> str:
    return text if len(text) <= at_most else text[: at_most - 1] + "…"


def degraded_lines(app: Tally) -> list[str]:
    how = ", ".join(f"{k} {v}" for k, v in app.degraded.items()) or "none"
    return [
        f"the app sent {app.calls} calls: {app.answered} answered, {app.degraded_total} of "
        f"them degraded (x-daytwo-degraded: {how}), {app.forbidden} refused with a 403, "
        f"{app.failed} failed"
    ]


def degraded_total_lines(app: Tally, ledger: Mapping[str, int]) -> list[str]:
    """Degraded mode over its whole span: what the app saw, what the ledger marked."""
    how = ", ".join(f"{k} {v}" for k, v in app.degraded.items()) or "none"
    rows = ", ".join(f"{k} {v}" for k, v in sorted(ledger.items())) or "none"
    return [
        f"degraded mode answered {app.degraded_total} calls in all (x-daytwo-degraded: {how}; "
        f"{app.forbidden} refused with a 403); the ledger marks {sum(ledger.values())} "
        f"(degraded = {rows}; cost 0, no upstream call)"
    ]


def refusal_rate(report: ReplayReport) -> RateComparison | None:
    return next((r for r in report.rates if r.name == "refusal"), None)


def replay_lines(report: ReplayReport, old: str, new: str) -> list[str]:
    """``old``, ``new``: how to name the replayed version and the captured one."""
    lines = [
        f"{report.replayed} of {report.selected} captured {new} calls replayed against "
        f"{report.against.label} through the gateway ({report.calls} calls, "
        f"${report.spent_usd:.6f}; ledger: project replay, session {report.run_id})"
    ]
    if report.stopped:
        lines.append(f"stopped early: {report.stopped}")
    lines += [f"skipped {n}: {why}" for why, n in sorted(report.skipped.items())]
    lines += [f"failed {n}: {why}" for why, n in sorted(report.failed.items())]
    rate = refusal_rate(report)
    if rate is None:
        lines.append("no refusal rate: no pair was replayed")
        return lines
    ci = (
        f"95 % CI {100 * rate.ci_low:+.1f} to {100 * rate.ci_high:+.1f} pts, "
        if rate.ci_low is not None and rate.ci_high is not None
        else ""
    )
    lines.append(
        f"{old} refuses {rate.replay:.1%} vs {new} {rate.original:.1%} on the same calls "
        f"(Δ {100 * rate.delta:+.1f} pts, {ci}McNemar p={rate.p_value:.2g}, n={rate.n})"
    )
    return lines


def recovery_lines(
    during: Refusals, after: Refusals, resolved_after_s: float | None, waited_s: float
) -> list[str]:
    """``resolved_after_s``: how long the alert fired (None: it had not resolved when the
    demo stopped waiting, ``waited_s`` after the rollback)."""
    if resolved_after_s is not None:
        alert = f"the refusal page resolved after firing {resolved_after_s:.1f}s"
    else:
        alert = (
            f"the refusal page was still firing {waited_s:.1f}s after the rollback "
            "(its windows had not cleared)"
        )
    return [
        f"refusal rate since the rollback: {after.text()}; during the incident: {during.text()}",
        alert,
    ]


def timeline_head(markdown: str, lines: int = TIMELINE_LINES) -> list[str]:
    """The first ``lines`` lines of the postmortem's timeline table."""
    found = markdown.split("\n## Timeline", 1)
    if len(found) < 2:
        return []
    body = found[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("|")]
    return rows[:lines]
