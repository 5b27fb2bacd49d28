"""An incident's timeline: what changed and what alerted, in time order, from the audit
trail's control stream (kill switches, budget thresholds and trips, loop detections, config
and prompt loads, model changes, key and admin-token changes, retention deletions, content
reveals, the incident's own start, notes and end) and the alert history (every transition to
firing or resolved).

Read-only, blocking (a worker thread in the admin API). Entries are kept as the trail has
them: the timeline describes each kind it knows in a sentence and any other as
``<action> <target>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import sqlalchemy as sa

from daytwo.alerts.schema import alert_events
from daytwo.audit.chain import CONTROL
from daytwo.audit.schema import audit_entries
from daytwo.ledger.store import LedgerStore

Source = Literal["audit", "alert"]


@dataclass(frozen=True, slots=True)
class Entry:
    at: float
    source: Source
    #: The action (``switch.kill``, ``config.reload``) or ``alert.firing`` / ``alert.resolved``.
    kind: str
    what: str
    who: str

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "source": self.source,
            "kind": self.kind,
            "what": self.what,
            "who": self.who,
        }


@dataclass(frozen=True, slots=True)
class AlertSpan:
    """One alert of a rule (its fingerprint): when it fired and when it resolved."""

    rule: str
    severity: str
    labels: dict[str, str]
    fired_at: float
    resolved_at: float | None
    value: float | None
    threshold: float | None


def control_entries(
    store: LedgerStore, start: float, end: float, *, project: str | None = None
) -> list[Entry]:
    """The control stream's entries in ``[start, end]``, oldest first (``project``: those of
    that project and those of none)."""
    e = audit_entries.c
    query = (
        sa.select(e.at, e.kind, e.subject, e.actor, e.project, e.data)
        .where(e.stream == CONTROL, e.at >= start, e.at <= end)
        .order_by(e.at, e.seq)
    )
    if project is not None:
        query = query.where(sa.or_(e.project.is_(None), e.project == project))
    with store.connect() as conn:
        rows = list(conn.execute(query))
    out = []
    for row in rows:
        body = orjson.loads(row.data).get("body") or {}
        what = describe(row.kind, row.subject, body.get("before"), body.get("after"))
        out.append(Entry(float(row.at), "audit", row.kind, what, row.actor))
    return out


def alert_spans(
    store: LedgerStore, start: float, end: float, *, project: str | None = None
) -> list[AlertSpan]:
    """Alerts that fired or resolved in ``[start, end]`` (``project``: leaving out those
    labelled with another project), by when they fired."""
    c = alert_events.c
    query = (
        sa.select(alert_events)
        .where(c.kind == "transition", c.at <= end, c.state.in_(("firing", "resolved")))
        .order_by(c.id)
    )
    with store.connect() as conn:
        rows = [r._mapping for r in conn.execute(query)]
    spans: dict[tuple[str, str], list[AlertSpan]] = {}
    for r in rows:
        labels = orjson.loads(r["labels"]) if r["labels"] else {}
        if project is not None and labels.get("project") not in (None, project):
            continue
        key = (r["rule"], r["fingerprint"])
        mine = spans.setdefault(key, [])
        if r["state"] == "firing":
            mine.append(
                AlertSpan(
                    r["rule"], r["severity"], labels, r["at"], None, r["value"], r["threshold"]
                )
            )
        elif mine and mine[-1].resolved_at is None:
            last = mine[-1]
            mine[-1] = AlertSpan(
                last.rule,
                last.severity,
                last.labels,
                last.fired_at,
                r["at"],
                last.value,
                last.threshold,
            )
    found = [
        s
        for group in spans.values()
        for s in group
        if start <= s.fired_at <= end
        or (s.resolved_at is not None and start <= s.resolved_at <= end)
        or (s.fired_at < start and (s.resolved_at is None or s.resolved_at > end))
    ]
    found.sort(key=lambda s: s.fired_at)
    return found


def alert_entries(spans: list[AlertSpan], start: float, end: float) -> list[Entry]:
    out = []
    for s in spans:
        where = ", ".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        name = f"{s.rule} ({where})" if where else s.rule
        if start <= s.fired_at <= end:
            out.append(Entry(s.fired_at, "alert", "alert.firing", f"{name} fired", s.severity))
        if s.resolved_at is not None and start <= s.resolved_at <= end:
            out.append(
                Entry(s.resolved_at, "alert", "alert.resolved", f"{name} resolved", s.severity)
            )
    return out


def timeline(
    store: LedgerStore, start: float, end: float, *, project: str | None = None
) -> tuple[list[Entry], list[AlertSpan]]:
    """Control entries and alert transitions in ``[start, end]``, oldest first; and the
    alerts themselves."""
    spans = alert_spans(store, start, end, project=project)
    entries = control_entries(store, start, end, project=project)
    entries += alert_entries(spans, start, end)
    entries.sort(key=lambda e: e.at)  # stable: the trail's own order among equal times
    return entries, spans


# ---------------------------------------------------------------- sentences


def describe(
    action: str, target: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> str:
    """One sentence for a control entry."""
    a = dict(after or {})
    b = dict(before or {})
    if action == "switch.kill":
        return f"kill switch on: {target}" + (f" ({a['reason']})" if a.get("reason") else "")
    if action == "switch.degrade":
        how = f"to alias {a['alias']}" if a.get("alias") else f"({a.get('mode', '?')})"
        return f"degraded mode on: {target} {how}" + (
            f" ({a['reason']})" if a.get("reason") else ""
        )
    if action == "switch.revive":
        what = "kill switch" if b.get("mode", "kill") == "kill" else "degraded mode"
        return f"{what} off: {target}"
    if action in ("degrade_on", "degrade_off"):  # spend control's own record of a degrade
        state = "on" if action == "degrade_on" else "off"
        return f"degraded mode {state}: {target}" + _detail(a)
    if action in ("switch_on", "switch_off"):  # spend control's own record of a switch
        state = "on" if action == "switch_on" else "off"
        return f"kill switch {state}: {target}" + _detail(a)
    if action == "trip":
        return f"budget {a.get('budget', '?')} tripped: {target} switched off"
    if action == "threshold":
        return f"budget {a.get('budget', '?')} crossed {a.get('percent', '?')}% ({target})"
    if action == "loop":
        return f"loop breaker tripped: {target}" + _detail(a)
    if action in ("config.load", "config.reload"):
        verb = "reloaded" if action == "config.reload" else "loaded"
        return f"config {verb} (checkpoint {a.get('hash', '?')})"
    if action in ("prompts.load", "prompts.reload"):
        verb = "reloaded" if action == "prompts.reload" else "loaded"
        labels = a.get("labels") or {}
        shown = "; ".join(
            f"{name}: " + ", ".join(f"{lab}=v{v}" for lab, v in sorted(ls.items()))
            for name, ls in sorted(labels.items())
        )
        return f"prompts {verb}" + (f" ({shown})" if shown else "")
    if action == "model.changed":
        return f"served model changed on {target}: {_served(b)} → {_served(a)}"
    if action.startswith(("key.", "admin_token.")):
        thing, _, verb = action.partition(".")
        return f"{thing.replace('_', ' ')} {target} {verb}d"
    if action == "retention.delete":
        return f"retention deleted {target}"
    if action == "content.reveal":
        return f"captured content revealed: {target}"
    if action == "incident.start":
        return f"incident {target} started: {a.get('title', '')} ({a.get('severity', '')})"
    if action == "incident.note":
        return f"note: {a.get('text', '')}"
    if action == "incident.end":
        return f"incident {target} ended" + (f": {a['summary']}" if a.get("summary") else "")
    return f"{action} {target}"


def _served(side: Mapping[str, Any]) -> str:
    text = str(side.get("served_model") or "?")
    return text + (f" (fingerprint {side['fingerprint']})" if side.get("fingerprint") else "")


def _detail(after: Mapping[str, Any]) -> str:
    detail = after.get("detail")
    return f" ({detail})" if isinstance(detail, str) and detail else ""
