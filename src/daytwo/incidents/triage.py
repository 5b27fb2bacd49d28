"""``daytwo triage``: what changed? The incident window is compared with a baseline window and
the suspects are ranked, the likely cause first, each with its evidence.

Two families of suspects:

* **symptoms** -- a metric of the window's calls that moved against the baseline: error,
  refusal and failover rates, cache hits, tokens per call (context size: the ledger keeps no
  retrieval size, so input tokens per call stand for it), cost per call, latency, each online
  evaluator's failure rate (refusal, format, leak, judges), calls and spend per minute
  (:mod:`daytwo.incidents.triage_measure`);
* **changes** -- something that is different in the window: a prompt version, a served model,
  a config, a failing provider, a heavy caller, a looping agent, an admin action
  (:mod:`daytwo.incidents.triage_suspects`).

A change is credited with the share of each symptom it explains: for a per-call metric, how
much of the window's move is left if its calls behaved like their reference in the baseline
(``members / calls * (its mean - reference mean) / (window mean - baseline mean)``, counted only
when its calls differ from the reference significantly and in the symptom's direction); for a
volume, its own per-minute rise over the window's. Its score is

    max over symptoms (effect size * share explained * alignment)
    + 1/4 * the same over its other symptoms + 1/5 * its own size * share of calls * alignment

where ``alignment`` is 1 when the change came at most a tenth of the window before or after the
symptom's onset (the CUSUM change-point of its series), decays with the distance before it (one
window length per factor e), and is at most ¼ after it (a change after the symptom began cannot
have started it). Distances are taken on the observed timeline: the time between a baseline
that ends early (``--baseline 24h-before``) and the window is left out, as a change-point known
to a few calls may fall on either side of the seam. A symptom is then discounted by the share
of it the best cause explains, and names that cause: cost per call up because tokens per call
are up because prompt v2 is out ranks the prompt first, its ``why`` gives the chain, and cost
and tokens follow as its consequences.

Pure over the :class:`~daytwo.incidents.triage_read.Evidence` one read fetches; blocking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from daytwo.incidents.triage_measure import (
    Metric,
    Shift,
    compare,
    fmt,
    metrics_for,
    onset,
    values,
    volume_onset,
)
from daytwo.incidents.triage_read import Evidence, Scope, Span, read
from daytwo.incidents.triage_suspects import Candidate, candidates, may_explain
from daytwo.ledger.store import LedgerStore

__all__ = ["Scope", "Span", "Suspect", "Triage", "rank", "triage"]

#: A cause must explain at least this share of a symptom to be named as its cause.
EXPLAINS_ENOUGH = 0.5
#: The weight of a change's own size (what ranks a change that moved no symptom).
OWN_WEIGHT = 0.2
#: The weight of the symptoms a cause explains besides its main one.
OTHER_WEIGHT = 0.25
#: A change after the symptom's onset: at most this alignment.
LATE = 0.25


@dataclass(frozen=True, slots=True)
class Suspect:
    """One ranked suspect. ``effect``: the shift that sizes it (a symptom's own, a cause's main
    explained symptom); ``explains``: symptom metric → share explained."""

    rank: int
    kind: str
    what: str
    before: str
    after: str
    when: float | None
    calls: int
    score: float
    why: str
    dig: tuple[str, ...]
    effect: Shift | None
    evidence: tuple[str, ...] = ()
    explains: dict[str, float] = field(default_factory=dict)
    cause_of: tuple[int, ...] = ()
    consequence_of: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "kind": self.kind,
            "what": self.what,
            "before": self.before,
            "after": self.after,
            "when": _iso(self.when),
            "calls": self.calls,
            "score": round(self.score, 4),
            "why": self.why,
            "dig": list(self.dig),
            "effect": None if self.effect is None else self.effect.to_json(),
            "evidence": list(self.evidence),
            "explains": {k: round(v, 3) for k, v in self.explains.items()},
            "cause_of": list(self.cause_of),
            "consequence_of": self.consequence_of,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Triage:
    window: Span
    baseline: Span
    scope: Scope
    window_calls: int
    baseline_calls: int
    suspects: tuple[Suspect, ...]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "triage",
            "window": {"start": _iso(self.window.start), "end": _iso(self.window.end)},
            "baseline": {"start": _iso(self.baseline.start), "end": _iso(self.baseline.end)},
            "scope": self.scope.to_json(),
            "calls": {"window": self.window_calls, "baseline": self.baseline_calls},
            "suspects": [s.to_json() for s in self.suspects],
            "notes": list(self.notes),
        }


def triage(
    store: LedgerStore,
    *,
    window: tuple[float, float],
    baseline: tuple[float, float],
    project: str | None = None,
    workflow: str | None = None,
    alias: str | None = None,
    since: str | None = None,
) -> Triage:
    """Rank what changed between ``baseline`` and ``window`` (``(start, end)`` Unix seconds,
    half-open) over the calls in scope. ``since``: how the window is named in the commands to
    dig further (``2h``; default: its length in minutes). Raises ValueError when a window is
    empty or the two overlap."""
    w, b = Span(*window), Span(*baseline)
    if w.start < b.end and b.start < w.end:
        raise ValueError("the baseline overlaps the incident window")
    scope = Scope(project=project, workflow=workflow, alias=alias)
    ev = read(store, w, b, scope)
    return rank(ev, since or f"{max(1, math.ceil(w.seconds / 60))}m")


def rank(ev: Evidence, since: str) -> Triage:
    """The ranking of :func:`triage`, over evidence already read."""
    notes = []
    if not ev.window_calls:
        notes.append("no calls in the incident window (in scope)")
    if not ev.baseline_calls:
        notes.append("no calls in the baseline: nothing to compare with, only changes listed")
    rows = [*ev.baseline_calls, *ev.window_calls]
    symptoms = [
        _Symptom(
            m,
            compare(
                m,
                ev.window_calls,
                ev.baseline_calls,
                after_s=ev.window.seconds,
                before_s=ev.baseline.seconds,
            ),
        )
        for m in metrics_for(rows)
    ]
    symptoms = [s for s in symptoms if s.shift.counts]
    for s in symptoms:
        s.onset = _onset(s.shift.metric, ev)
    causes = [_Cause(c) for c in candidates(ev, since)]
    for cause in causes:
        _credit(cause, symptoms, ev)
    for s in symptoms:
        best = max(causes, key=lambda c: c.explained.get(s.name, 0.0), default=None)
        share = 0.0 if best is None else best.explained.get(s.name, 0.0)
        s.score = s.shift.size * (1.0 - share)
        if best is not None and share >= EXPLAINS_ENOUGH:
            s.cause = best
    ordered: list[_Cause | _Symptom] = sorted([*causes, *symptoms], key=lambda x: -x.score)
    numbers = {id(x): i for i, x in enumerate(ordered, start=1)}
    suspects = tuple(
        x.suspect(numbers[id(x)], numbers, symptoms)
        if isinstance(x, _Cause)
        else x.suspect(numbers[id(x)], numbers)
        for x in ordered
    )
    return Triage(
        window=ev.window,
        baseline=ev.baseline,
        scope=ev.scope,
        window_calls=len(ev.window_calls),
        baseline_calls=len(ev.baseline_calls),
        suspects=suspects,
        notes=tuple(notes),
    )


class _Symptom:
    def __init__(self, metric: Metric, shift: Shift) -> None:
        self.shift = shift
        self.name = metric.name
        self.onset: float | None = None
        self.score = shift.size
        self.cause: _Cause | None = None

    def suspect(self, rank: int, numbers: dict[int, int]) -> Suspect:
        m = self.shift.metric
        direction = "up" if self.shift.delta > 0 else "down"
        text = self.shift.describe()
        consequence = None
        if self.cause is not None:
            consequence = numbers[id(self.cause)]
            share = self.cause.explained[self.name]
            why = f"{text}; a consequence of #{consequence} ({self.cause.c.what}), which"
            why += f" explains {share * 100:.0f}% of it"
        else:
            why = f"{text}; no change found that explains it"
        return Suspect(
            rank=rank,
            kind=m.suspect,
            what=f"{m.label} {direction}",
            before=fmt(m, self.shift.before),
            after=fmt(m, self.shift.after),
            when=self.onset,
            calls=self.shift.n_after,
            score=self.score,
            why=why,
            dig=_symptom_dig(m, since_hint=None),
            effect=self.shift,
            consequence_of=consequence,
            detail={"metric": m.name},
        )


class _Cause:
    def __init__(self, c: Candidate) -> None:
        self.c = c
        self.explained: dict[str, float] = {}
        self.contrib: dict[str, float] = {}
        self.shifts: dict[str, Shift] = {}
        self.score = 0.0

    def suspect(self, rank: int, numbers: dict[int, int], symptoms: list[_Symptom]) -> Suspect:
        c = self.c
        chain = sorted(
            (s for s in symptoms if self.explained.get(s.name, 0.0) >= EXPLAINS_ENOUGH),
            key=lambda s: -self.contrib[s.name],
        )
        if chain:
            parts = [
                f"{self.shifts[s.name].describe()} in its {len(c.members)} calls, "
                f"{self.explained[s.name] * 100:.0f}% of the window's move"
                for s in chain
            ]
            why = f"{c.what} (from {_iso(c.when)}): " + "; ".join(parts)
            if len(chain) > 1:
                why += " — " + " → ".join(s.shift.metric.label for s in _causal_order(chain))
        elif self.explained:
            why = f"{c.what} (from {_iso(c.when)}): explains part of the change only"
        else:
            why = f"{c.what} (from {_iso(c.when)}): no symptom moved with it"
        effect = self.shifts[chain[0].name] if chain else None
        return Suspect(
            rank=rank,
            kind=c.kind,
            what=c.what,
            before=c.before,
            after=c.after,
            when=c.when,
            calls=len(c.members),
            score=self.score,
            why=why,
            dig=tuple(c.dig),
            effect=effect,
            evidence=tuple(c.evidence),
            explains={k: v for k, v in self.explained.items() if v > 0},
            cause_of=tuple(sorted(numbers[id(s)] for s in symptoms if s.cause is self)),
            detail=c.detail,
        )


def _credit(cause: _Cause, symptoms: list[_Symptom], ev: Evidence) -> None:
    c = cause.c
    contributions = []
    for s in symptoms:
        if not may_explain(c.kind, s.shift.metric) or not c.members:
            continue
        share, shift = _explained(s, c, ev)
        if share <= 0.0:
            continue
        align = alignment(observed(c.when, ev), observed(s.onset, ev), ev.window.seconds)
        cause.explained[s.name] = share
        cause.shifts[s.name] = shift
        cause.contrib[s.name] = s.shift.size * share * align
        contributions.append(cause.contrib[s.name])
    contributions.sort(reverse=True)
    main = contributions[0] if contributions else 0.0
    touched = len(c.members) / len(ev.window_calls) if ev.window_calls else 0.0
    first_onset = min((s.onset for s in symptoms if s.onset is not None), default=None)
    own = c.own_size * (touched if c.members else 0.25)
    own *= alignment(observed(c.when, ev), observed(first_onset, ev), ev.window.seconds)
    cause.score = main + OTHER_WEIGHT * sum(contributions[1:]) + OWN_WEIGHT * own


def _explained(s: _Symptom, c: Candidate, ev: Evidence) -> tuple[float, Shift]:
    """The share of ``s``'s move that ``c``'s calls account for, and their own shift."""
    m = s.shift.metric
    if m.kind == "volume" and c.kind not in ("traffic", "loop"):
        # a change in what each call costs moves the spend per minute by as much per call
        per_call = s.shift
        mine, ref = values(m, c.members), values(m, c.reference)
        if not mine or not ref:
            return 0.0, per_call
        moved = len(mine) / ev.window.seconds * 60.0 * (sum(mine) / len(mine) - sum(ref) / len(ref))
        return _clamp(moved / s.shift.delta), per_call
    if m.kind == "volume":
        own = compare(
            m,
            c.members,
            c.baseline_members,
            after_s=ev.window.seconds,
            before_s=ev.baseline.seconds,
        )
        rise = sum(values(m, c.members)) / ev.window.seconds * 60.0
        rise -= sum(values(m, c.baseline_members)) / ev.baseline.seconds * 60.0
        if len(c.members) < 5:
            return 0.0, own
        return _clamp(rise / s.shift.delta), own
    own = compare(m, c.members, c.reference, after_s=1.0, before_s=1.0)
    if not own.counts or own.delta * s.shift.delta <= 0:
        return 0.0, own
    counted = len(values(m, ev.window_calls))
    mine = values(m, c.members)
    if not counted or own.before is None:
        return 0.0, own
    moved = len(mine) / counted * (sum(mine) / len(mine) - own.before)
    return _clamp(moved / s.shift.delta), own


def alignment(when: float | None, onset_at: float | None, window_s: float) -> float:
    """How well a change at ``when`` lines up with a symptom that began at ``onset_at``: 1 just
    before it (within a tenth of the window), less the longer before, at most ¼ after."""
    if when is None or onset_at is None:
        return 0.5
    slack = 0.1 * window_s
    lead = onset_at - when
    if lead >= -slack:
        return math.exp(-max(0.0, lead - slack) / window_s)
    return LATE * math.exp((lead + slack) / window_s)


def observed(at: float | None, ev: Evidence) -> float | None:
    """``at`` on the timeline triage observed: the time between a baseline that ends before the
    window and the window's start is left out (what happened then is at the seam). A symptom's
    onset is only known to a few calls; the last of the baseline and the first of the window
    are next to each other in its series, however far apart the two windows were taken."""
    gap = ev.window.start - ev.baseline.end
    if at is None or gap <= 0.0 or at < ev.baseline.end:
        return at
    return max(at - gap, ev.baseline.end)


def _onset(metric: Metric, ev: Evidence) -> float | None:
    if metric.kind == "volume":
        spans = [(ev.baseline.start, ev.baseline.end), (ev.window.start, ev.window.end)]
        return volume_onset(metric, [*ev.baseline_calls, *ev.window_calls], sorted(spans))
    points = []
    for r in sorted([*ev.baseline_calls, *ev.window_calls], key=lambda r: r.at):
        v = metric.value(r)
        if v is not None:
            points.append((r.at, v))
    return onset(points)


#: Which metric moves which (for the chain a cause's ``why`` spells out).
_ORDER = (
    "traffic",
    "refusals",
    "errors",
    "failover",
    "quality",
    "score",
    "cache",
    "tokens",
    "latency",
    "cost",
)


def _causal_order(chain: list[_Symptom]) -> list[_Symptom]:
    def key(s: _Symptom) -> tuple[int, str]:
        m = s.shift.metric
        return (_ORDER.index(m.suspect), "1" if m.kind == "volume" else m.name)

    return sorted(chain, key=key)


def _symptom_dig(metric: Metric, since_hint: str | None) -> tuple[str, ...]:
    if metric.name.startswith("score:"):
        return ("daytwo quality --by model", "daytwo quality --by prompt_version")
    return {
        "errors": ("daytwo providers status", "daytwo audit search --status error"),
        "rejected": ("daytwo audit search --status rejected",),
        "failover": ("daytwo providers status",),
        "latency_ms": ("daytwo providers status", "daytwo slo status"),
        "cache_hit": ("daytwo spend --by model",),
    }.get(metric.name, ("daytwo spend --by workflow", "daytwo spend --by model"))


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
