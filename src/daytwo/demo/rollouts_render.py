"""The rollouts demo's narrative, as pure functions of what each step found: a rollout as the
admin API returned it, the controller's changes from its history with their evidence, costs
before and after, what served a prompt's calls, the closing summary table and the audit
trail's rollout entries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from rich.table import Table

from daytwo.demo.rollouts_ledger import AuditEntry, Cost

#: How a status reads in the summary.
_DECISION = {
    "completed": "completed",
    "rolled_back": "rolled back",
    "running": "still running",
    "waiting": "waiting for approval",
    "paused": "paused",
}


def usd(x: float | None) -> str:
    """Three significant digits ($0.000651, $0.0412, $2.50)."""
    if x is None:
        return "–"
    if x <= 0.0:
        return "$0"
    if x >= 1.0:
        return f"${x:,.2f}"
    return f"${Decimal(f'{x:.2e}'):f}"


def moves(r: Mapping[str, Any]) -> str:
    """``alias smart: smart → cheap``, ``support-reply@production: v1 → v2``."""
    if r["kind"] == "prompt":
        return f"{r['target']}: v{r['control']} → v{r['candidate']}"
    return f"alias {r['target']}: {r['control']} → {r['candidate']}"


def ladder(r: Mapping[str, Any]) -> str:
    return " → ".join(str(s["name"]) for s in r["stages"])


def started_lines(r: Mapping[str, Any]) -> list[str]:
    """A rollout just started: what moves, through which stages, judged how."""
    c = r["criteria"]
    return [
        f"{r['id']}: {moves(r)} ({ladder(r)}), sticky by {r['sticky']}",
        f"started by {r['created_by']}: {r['reason']}",
        f"each stage: at least {c['min_duration_s']:g}s and {c['min_calls']} candidate calls, "
        f"then at most errors +{100 * c['max_error_increase']:.0f} pt, refusals "
        f"+{100 * c['max_refusal_increase']:.0f} pt, latency p95 ×{c['max_latency_ratio']:.2f}, "
        f"cost per call ×{c['max_cost_ratio']:.2f} the control's (95 % confidence)",
    ]


def change_title(event: Mapping[str, Any]) -> str:
    """A controller's change (a ``rollout.*`` history entry) in one line."""
    after = event.get("after") or {}
    action = str(event["action"]).removeprefix("rollout.")
    reason = after.get("reason", "")
    what = moves(after) if {"kind", "target", "control", "candidate"} <= after.keys() else ""
    if action == "advance":
        return f"{what}: {reason} → {after.get('stage')}"
    if action == "complete":
        return f"{what}: {reason} → completed on the candidate"
    if action == "rollback":
        return f"{what}: {reason} → rolled back to the control"
    return f"{what}: {action} ({after.get('status', '')}): {reason}"


def evidence_lines(event: Mapping[str, Any]) -> list[str]:
    after = event.get("after") or {}
    return [str(line) for line in after.get("evidence", ())]


def cost_lines(before: Cost, after: Cost, shadow: Cost, shadow_stage: str) -> list[str]:
    return [
        f"cost per call of the triage workflow: {usd(before.per_call_usd)} before the rollout "
        f"({before.calls} calls on {_on(before)}) → {usd(after.per_call_usd)} since it "
        f"completed ({after.calls} calls on {_on(after)})"
        + (
            f": ×{after.per_call_usd / before.per_call_usd:.2f}"
            if after.per_call_usd is not None and before.per_call_usd
            else ""
        ),
        f"{shadow_stage}: {shadow.calls} mirrored calls billed to project experiment, "
        f"{usd(shadow.nanousd / 1e9)} (the helpdesk paid none of it; daytwo spend --by project)",
    ]


def _on(c: Cost) -> str:
    return ", ".join(c.deployments) or "nothing"


def served_lines(rows: Mapping[tuple[str | None, int | None], int], what: str) -> list[str]:
    """``what``: the span (e.g. "since the rollback")."""
    total = sum(rows.values())
    parts = ", ".join(
        f"v{version} on arm {arm or 'none'}: {n}"
        for (arm, version), n in sorted(rows.items(), key=lambda kv: (str(kv[0]), kv[1]))
    )
    return [f"{what}: {total} support calls ({parts or 'none'})"]


def stages_reached(r: Mapping[str, Any]) -> str:
    """Each stage with its state: ✓ passed, ✗ failed there, … current, · not reached."""
    mark = {"done": "✓", "stopped": "✗", "current": "…", "next": "·"}
    return ", ".join(f"{s['name']} {mark.get(s['state'], '?')}" for s in r["stages"])


def decisive(r: Mapping[str, Any]) -> list[str]:
    """The evidence lines that decided: the failing ones of a rollback, else the cost line
    and the refusal line."""
    evidence = [str(line) for line in r.get("evidence", ())]
    if r["status"] == "rolled_back":
        return [line for line in evidence if line.endswith(": worse")]
    return [line for line in evidence if line.startswith(("cost per call", "refusals"))]


def summary(rollouts: Sequence[tuple[Mapping[str, Any], Mapping[str, int]]]) -> Table:
    """Both rollouts: what moved, the stages reached, the decision, its evidence, the calls
    per arm."""
    table = Table(title="rollouts", show_lines=True)
    for column in ("rollout", "moves", "stages", "decision", "evidence", "calls per arm"):
        table.add_column(column, overflow="fold")
    for r, arms in rollouts:
        per_arm = "\n".join(f"{arm} {n:,}" for arm, n in sorted(arms.items())) or "–"
        table.add_row(
            r["id"],
            moves(r),
            stages_reached(r),
            f"{_DECISION.get(r['status'], r['status'])}: {r['reason']}",
            "\n".join(decisive(r)) or "–",
            per_arm,
        )
    return table


def audit_table(entries: Sequence[AuditEntry], t0: float) -> Table:
    table = Table(title="audit trail: the rollout events (control stream)")
    for column in ("seq", "at", "event", "rollout", "actor", "after", "why"):
        table.add_column(column, overflow="fold")
    for e in entries:
        after = f"{e.status} at {e.stage}" if e.status == "running" else e.status
        table.add_row(str(e.seq), f"{e.at - t0:.1f}s", e.kind, e.subject, e.actor, after, e.why)
    return table
