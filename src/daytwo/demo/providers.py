"""What the demo's Providers panel, failover counter and event log show.

Three sources, each read the way an operator's tooling would:

* the gateway's per-deployment health (``Health.snapshot()``: breaker state, error rate, p50),
  polled a few times a second. A provider is *down* from the moment one of its deployments'
  breakers leaves ``closed`` until all of them are closed again; each change is one event.
  A breaker stays open for at least its ``open_s``, longer than the polling interval, so no
  opening is missed;
* the kill-switch board: a scope switched off (by a budget trip or a person) or back on;
* the ledger: which deployment answered each call, and after how many attempts;
* the gateway's alert engine: each alert that fires or resolves (a listener beside the sinks),
  SLO burn-rate alerts included; and the drift room's notifications: ``model_changed`` (old →
  new served model) and drift alerts (what moved, by how much).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from daytwo.alerts.notify import Notification
from daytwo.drift.context import describe
from daytwo.drift.service import DRIFT, MODEL_CHANGED
from daytwo.gateway.runtime import Route
from daytwo.ledger.schema import calls
from daytwo.ledger.store import LedgerStore
from daytwo.resilience.breaker import DeploymentSnapshot
from daytwo.state.base import SwitchRecord

#: "Served recently" counts the calls that started in the last this-many seconds.
RECENT_S = 5.0


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the event log."""

    at_s: float  #: seconds into the run
    text: str
    style: str = ""


@dataclass(frozen=True, slots=True)
class Topology:
    """Where each alias's calls go: its deployments in order, and their providers."""

    #: Deployment id → its provider.
    provider: Mapping[str, str]
    #: Deployment id → the other providers its aliases fail over to, in chain order.
    fallbacks: Mapping[str, tuple[str, ...]]
    #: Alias → its first deployment (what answers when all is well).
    primary: Mapping[str, str]

    @classmethod
    def from_routes(cls, routes: Mapping[str, Route]) -> Topology:
        provider: dict[str, str] = {}
        fallbacks: dict[str, list[str]] = {}
        primary: dict[str, str] = {}
        for alias, route in routes.items():
            if not route.targets:
                continue
            primary[alias] = route.targets[0].deployment
            for i, target in enumerate(route.targets):
                provider[target.deployment] = target.provider
                others = fallbacks.setdefault(target.deployment, [])
                after = route.targets[i + 1 :] + route.targets[:i]
                for other in after:
                    if other.provider != target.provider and other.provider not in others:
                        others.append(other.provider)
        return cls(provider, {d: tuple(p) for d, p in fallbacks.items()}, primary)

    def aliases_of(self, provider: str) -> tuple[str, ...]:
        """The aliases whose calls go to ``provider`` first."""
        return tuple(a for a, d in self.primary.items() if self.provider.get(d) == provider)


@dataclass(slots=True)
class Downtime:
    """A provider's time with a breaker not closed, in seconds into the run."""

    provider: str
    opened_s: float
    recovered_s: float | None = None


@dataclass(slots=True)
class Watch:
    """Turns polled health and switch states into events and downtimes."""

    topology: Topology
    events: list[Event] = field(default_factory=list)
    downtimes: list[Downtime] = field(default_factory=list)
    _down: dict[str, Downtime] = field(default_factory=dict)
    _switches: dict[str, SwitchRecord] = field(default_factory=dict)

    def health(self, snapshots: Iterable[DeploymentSnapshot], at_s: float) -> None:
        unhealthy: dict[str, list[str]] = {}
        for snap in snapshots:
            provider = self.topology.provider.get(snap.deployment)
            if provider is None:
                continue
            bad = unhealthy.setdefault(provider, [])
            if snap.state != "closed":
                bad.append(snap.deployment)
        for provider, bad in unhealthy.items():
            down = self._down.get(provider)
            if bad and down is None:
                self._down[provider] = Downtime(provider, at_s)
                self.downtimes.append(self._down[provider])
                to = _join(p for d in bad for p in self.topology.fallbacks.get(d, ()))
                text = (
                    f"{provider}: breaker open — traffic failing over to {to}"
                    if to
                    else f"{provider}: breaker open — no fallback to fail over to"
                )
                self.events.append(Event(at_s, text, "bold red"))
            elif not bad and down is not None:
                down.recovered_s = at_s
                del self._down[provider]
                took = at_s - down.opened_s
                self.events.append(
                    Event(at_s, f"{provider}: recovered — traffic back after {took:.1f}s", "green")
                )

    def switches(self, active: Mapping[str, SwitchRecord], at_s: float) -> None:
        for key, rec in sorted(active.items()):
            if key in self._switches:
                continue
            if rec.source == "budget":
                text = f"budget trip: {key} switched off"
            elif rec.source == "loopbreaker":
                text = f"loop breaker: {key} switched off"
            else:
                text = f"kill switch: {key} switched off by {rec.who}"
            self.events.append(Event(at_s, text, "yellow"))
        for key in sorted(set(self._switches) - set(active)):
            self.events.append(Event(at_s, f"{key} switched back on", "green"))
        self._switches = dict(active)

    def alert(self, n: Notification, at_s: float) -> None:
        """A notification of the gateway's alert engine or of its drift room (the demo listens
        beside the log)."""
        if n.rule == MODEL_CHANGED:
            self.events.append(Event(at_s, model_changed_text(n), "bold yellow"))
            return
        if n.rule == DRIFT and n.status == "firing":
            self.events.append(Event(at_s, drift_text(n), "bold magenta"))
            return
        where = ", ".join(f"{k}={v}" for k, v in sorted(n.labels.items()))
        name = f"{n.rule} ({where})" if where else n.rule
        if n.status == "firing":
            what = n.summary.removeprefix(name + ": ")
            self.events.append(Event(at_s, f"alert firing: {name}: {what}", "bold magenta"))
        else:
            took = f" after {n.at - n.started_at:.1f}s" if n.started_at is not None else ""
            self.events.append(Event(at_s, f"alert resolved: {name}{took}", "green"))

    def note(self, at_s: float, text: str, style: str = "") -> None:
        """An event the demo itself knows of (its scheduled outage)."""
        self.events.append(Event(at_s, text, style))

    def down(self, provider: str) -> bool:
        return provider in self._down


def model_changed_text(n: Notification) -> str:
    """``model_changed``: which deployment, old → new served model (and fingerprint)."""
    before, after = (n.detail or {}).get("before", {}), (n.detail or {}).get("after", {})
    return (
        f"model_changed: {n.labels.get('deployment')} now answers as {describe(after)} "
        f"(was {describe(before)}); nobody changed the config"
    )


def drift_text(n: Notification) -> str:
    """A drift alert: what moved, by how much (the drift room's own sentence without its
    timestamps), and what else changed then."""
    head = (n.message or "").split(", since ", 1)[0]
    head = head.split("; meanwhile: ", 1)[0]
    changes = [str(c.get("what")) for c in (n.detail or {}).get("changes", [])]
    tail = f"; meanwhile: {'; '.join(changes)}" if changes else ""
    return f"drift alert: {head}{tail}"


def _join(names: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class Served:
    """Answered calls in the ledger since the run started."""

    #: Deployment id → answered calls that started in the last ``RECENT_S`` seconds.
    recent: Mapping[str, int]
    #: Answered by a deployment other than their alias's first ...
    failed_over: int
    #: ... of which after a failed attempt (the rest were routed around an open breaker).
    after_failed_try: int


def served(
    store: LedgerStore, topology: Topology, *, since: float, now: float, until: float | None = None
) -> Served:
    """The answered calls that started from ``since`` (to ``until``); Unix seconds."""
    recent_col = (calls.c.started_at >= now - RECENT_S).label("recent")
    retried_col = (calls.c.attempts > 1).label("retried")
    query = (
        sa.select(calls.c.alias, calls.c.deployment, retried_col, recent_col, sa.func.count())
        .where(calls.c.started_at >= since, calls.c.status == "ok")
        .group_by(calls.c.alias, calls.c.deployment, retried_col, recent_col)
    )
    if until is not None:
        query = query.where(calls.c.started_at < until)
    recent: dict[str, int] = {}
    failed_over = after_failed_try = 0
    with store.connect() as conn:
        for alias, deployment, retried, is_recent, n in conn.execute(query):
            if is_recent and deployment:
                recent[deployment] = recent.get(deployment, 0) + n
            if deployment and deployment != topology.primary.get(alias, deployment):
                failed_over += n
                after_failed_try += n if retried else 0
    return Served(recent, failed_over, after_failed_try)
