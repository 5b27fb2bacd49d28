"""What an outage drill found: per phase, what the clients saw (errors, latency) and what the
ledger recorded (who served each call, extra attempts, cost); across phases, the failover's
added latency, when the breaker opened and closed, and what the outage cost.

Pure: shots (the clients' view), ledger records and breaker transitions in, an
:class:`OutageReport` out. Money stays in integer nano-dollars until it is printed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from daytwo.core.money import nanos_to_usd
from daytwo.core.record import CallRecord
from daytwo.drill.traffic import Shot

#: The baseline and recovery phases last a quarter of the outage, and at least this long.
MIN_SIDE_S = 5.0


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    start_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def plan_phases(outage_s: float) -> tuple[Phase, Phase, Phase]:
    """Baseline, outage, recovery on the drill's timeline."""
    side = max(MIN_SIDE_S, outage_s / 4)
    return (
        Phase("baseline", 0.0, side),
        Phase("outage", side, outage_s),
        Phase("recovery", side + outage_s, side),
    )


@dataclass(frozen=True, slots=True)
class Transition:
    """A deployment's breaker entered ``state`` at ``at_s`` seconds into the drill."""

    deployment: str
    state: str
    at_s: float


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def usd(nanos: int | None) -> str | None:
    """Exact USD as a decimal string (``"0.0015"``)."""
    return None if nanos is None else format(nanos_to_usd(nanos).normalize(), "f")


@dataclass(frozen=True, slots=True)
class PhaseReport:
    phase: Phase
    requests: int
    streamed: int
    #: Calls whose client did not get a whole answer, by what it got instead.
    errors_by_status: Mapping[str, int]
    #: Client-side latency of the answered calls.
    p50_ms: float | None
    p95_ms: float | None
    #: Share of the answered calls each provider served (from the ledger).
    served_by: Mapping[str, float]
    retried_calls: int
    extra_attempts: int
    cost_nanousd: int
    unpriced_calls: int
    #: Calls with no ledger row (no answer came, or the row was not written in time).
    unrecorded_calls: int

    @property
    def errors(self) -> int:
        return sum(self.errors_by_status.values())

    @property
    def error_pct(self) -> float:
        return 100.0 * self.errors / self.requests if self.requests else 0.0

    @property
    def cost_per_1k_nanousd(self) -> int | None:
        recorded = self.requests - self.unrecorded_calls
        return round(self.cost_nanousd * 1000 / recorded) if recorded else None

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase.name,
            "start_s": self.phase.start_s,
            "duration_s": self.phase.duration_s,
            "requests": self.requests,
            "streamed": self.streamed,
            "errors": self.errors,
            "error_pct": round(self.error_pct, 2),
            "errors_by_status": dict(self.errors_by_status),
            "p50_ms": _round(self.p50_ms),
            "p95_ms": _round(self.p95_ms),
            "served_by": {k: round(v, 4) for k, v in self.served_by.items()},
            "retried_calls": self.retried_calls,
            "extra_attempts": self.extra_attempts,
            "cost_usd": usd(self.cost_nanousd),
            "cost_per_1k_usd": usd(self.cost_per_1k_nanousd),
            "unpriced_calls": self.unpriced_calls,
            "unrecorded_calls": self.unrecorded_calls,
        }


def phase_report(
    phase: Phase, shots: Sequence[Shot], records: Mapping[str, CallRecord]
) -> PhaseReport:
    mine = [s for s in shots if phase.start_s <= s.at_s < phase.end_s]
    answered = [s for s in mine if s.error is None]
    rows = [records[s.call_id] for s in mine if s.call_id is not None and s.call_id in records]
    served: Counter[str] = Counter()
    for s in answered:
        row = records.get(s.call_id or "")
        if row is not None:
            served[row.provider or "unknown"] += 1
    total_served = sum(served.values())
    return PhaseReport(
        phase=phase,
        requests=len(mine),
        streamed=sum(1 for s in mine if s.stream),
        errors_by_status=dict(sorted(Counter(s.error for s in mine if s.error).items())),
        p50_ms=percentile([s.latency_ms for s in answered], 50),
        p95_ms=percentile([s.latency_ms for s in answered], 95),
        served_by={p: n / total_served for p, n in sorted(served.items())},
        retried_calls=sum(1 for r in rows if r.attempts > 1),
        extra_attempts=sum(max(0, r.attempts - 1) for r in rows),
        cost_nanousd=sum(r.cost_nanousd or 0 for r in rows),
        unpriced_calls=sum(1 for r in rows if r.cost_nanousd is None and r.status == "ok"),
        unrecorded_calls=len(mine) - len(rows),
    )


@dataclass(frozen=True, slots=True)
class OutageReport:
    setup: str
    config_path: str | None
    provider: str
    mode: str
    #: ``simulator`` (the upstream failed on the wire) or ``adapter`` (the gateway's adapter
    #: for the provider was swapped for one that fails).
    injected: str
    alias: str
    deployments: tuple[str, ...]
    drilled: tuple[str, ...]
    rate: float
    stream_share: float
    baseline: PhaseReport
    outage: PhaseReport
    recovery: PhaseReport
    transitions: tuple[Transition, ...]

    @property
    def phases(self) -> tuple[PhaseReport, PhaseReport, PhaseReport]:
        return (self.baseline, self.outage, self.recovery)

    @property
    def failover_possible(self) -> bool:
        return any(d not in self.drilled for d in self.deployments)

    @property
    def outage_errors(self) -> int:
        """Client-visible errors from the outage's start to the drill's end."""
        return self.outage.errors + self.recovery.errors

    @property
    def ok(self) -> bool:
        return self.outage_errors == 0

    @property
    def failover_share(self) -> float:
        """Share of the outage's answered calls that another provider served."""
        return sum(v for p, v in self.outage.served_by.items() if p != self.provider)

    @property
    def added_p50_ms(self) -> float | None:
        return _minus(self.outage.p50_ms, self.baseline.p50_ms)

    @property
    def added_p95_ms(self) -> float | None:
        return _minus(self.outage.p95_ms, self.baseline.p95_ms)

    @property
    def breaker_opened_after_s(self) -> float | None:
        """Seconds from the outage's start until a breaker on the provider opened."""
        start = self.outage.phase.start_s
        opened = [t.at_s for t in self.transitions if t.state == "open" and t.at_s >= start]
        return max(0.0, min(opened) - start) if opened else None

    @property
    def breaker_closed_after_s(self) -> float | None:
        """Seconds from the outage's end until every breaker on the provider was closed
        again (None: one was still not closed when the drill ended)."""
        end = self.outage.phase.end_s
        last: dict[str, Transition] = {}
        for t in self.transitions:
            last[t.deployment] = t
        if any(t.state != "closed" for t in last.values()):
            return None
        closes = [t.at_s for t in last.values() if t.at_s >= end]
        if not closes:
            return 0.0 if last else None
        return max(closes) - end

    @property
    def cost_impact_nanousd(self) -> int | None:
        """What the outage phase cost beyond the baseline's cost per call."""
        base, out = self.baseline.cost_per_1k_nanousd, self.outage.cost_per_1k_nanousd
        if base is None or out is None:
            return None
        return round((out - base) * (self.outage.requests - self.outage.unrecorded_calls) / 1000)

    def notes(self) -> list[str]:
        out = []
        if not self.failover_possible:
            out.append(
                f"failover is impossible: every deployment of {self.alias} is on "
                f"{self.provider}; add a deployment on another provider"
            )
        if self.breaker_opened_after_s is None:
            out.append(f"no breaker on {self.provider} opened during the drill")
        if any(p.unpriced_calls for p in self.phases):
            out.append("some calls are unpriced: the cost figures leave them out")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "drill": "outage",
            "setup": self.setup,
            "config": self.config_path,
            "provider": self.provider,
            "mode": self.mode,
            "injected": self.injected,
            "model": self.alias,
            "deployments": list(self.deployments),
            "drilled_deployments": list(self.drilled),
            "failover_possible": self.failover_possible,
            "rate_rps": self.rate,
            "stream_share": self.stream_share,
            "phases": [p.to_json() for p in self.phases],
            "failover": {
                "share": round(self.failover_share, 4),
                "added_p50_ms": _round(self.added_p50_ms),
                "added_p95_ms": _round(self.added_p95_ms),
            },
            "breaker": {
                "opened_after_s": _round(self.breaker_opened_after_s, 3),
                "closed_after_outage_s": _round(self.breaker_closed_after_s, 3),
                "transitions": [
                    {"deployment": t.deployment, "state": t.state, "at_s": round(t.at_s, 3)}
                    for t in self.transitions
                ],
            },
            "retries": {
                "retried_calls": sum(p.retried_calls for p in self.phases),
                "extra_attempts": sum(p.extra_attempts for p in self.phases),
            },
            "cost": {
                "baseline_per_1k_usd": usd(self.baseline.cost_per_1k_nanousd),
                "outage_per_1k_usd": usd(self.outage.cost_per_1k_nanousd),
                "impact_usd": usd(self.cost_impact_nanousd),
            },
            "outage_client_errors": self.outage_errors,
            "ok": self.ok,
            "notes": self.notes(),
        }


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _round(x: float | None, places: int = 1) -> float | None:
    return None if x is None else round(x, places)
