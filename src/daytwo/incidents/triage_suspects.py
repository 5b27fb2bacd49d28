"""The changes triage suspects as causes, each with the window's calls it touches and the
baseline calls to compare them with:

* ``prompt``: a prompt version whose share of its prompt's calls rose (a rollout, a label moved),
  with the prompt reloads of the audit trail that moved it;
* ``model``: a deployment answering with another served model or fingerprint than it did in the
  baseline (and the ``model.changed`` entries of the model watch);
* ``config``: a config checkpoint the baseline never ran (and its load or reload entry);
* ``provider``: a provider whose attempts fail more (or answer slower) than they did; the calls
  of its aliases from then on (failed over, retried, rerouted by its breaker);
* ``traffic``: a key, user or workflow whose share of the calls jumped (a new heavy caller);
* ``loop``: a session or agent the loop breaker tripped;
* ``admin``: any other control-stream entry in the window (keys created or revoked, kill
  switches, budget thresholds and trips): listed, with little weight of its own.

Which symptoms each kind can explain is :func:`may_explain`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from daytwo.incidents.triage_measure import (
    ALPHA,
    MIN_EVENTS,
    PER_CALL,
    VOLUME,
    Metric,
    onset,
)
from daytwo.incidents.triage_read import (
    CONFIG_KINDS,
    LOOP,
    MODEL_CHANGED,
    PROMPT_KINDS,
    CallRow,
    ControlEntry,
    Evidence,
)
from daytwo.stats.proportions import two_proportion_test

#: The smallest rise in share (of a version, a served model, a caller) worth suspecting.
MIN_SHARE_RISE = 0.1

EXPLAINS: dict[str, frozenset[str]] = {
    "prompt": PER_CALL | {"spend_per_min"},
    "model": PER_CALL | {"spend_per_min"},
    "config": PER_CALL | {"spend_per_min"},
    "provider": frozenset({"errors", "failover", "latency_ms"}),
    "traffic": PER_CALL | VOLUME,
    "loop": frozenset({"rejected", "errors"}) | VOLUME,
    "admin": frozenset(),
}


def may_explain(kind: str, metric: Metric) -> bool:
    """Whether a change of ``kind`` can move ``metric`` (every evaluator's failure rate is a
    per-call metric)."""
    allowed = EXPLAINS[kind]
    if metric.name.startswith("score:"):
        return "errors" in allowed and allowed >= PER_CALL
    return metric.name in allowed


@dataclass(slots=True)
class Candidate:
    """A change that may have caused the incident."""

    kind: str
    what: str
    before: str
    after: str
    when: float
    #: The window's calls it touches.
    members: list[CallRow]
    #: Baseline calls to compare the members with (per-call metrics).
    reference: list[CallRow]
    #: The same group's calls in the baseline (volumes).
    baseline_members: list[CallRow]
    evidence: list[str] = field(default_factory=list)
    dig: list[str] = field(default_factory=list)
    #: The change itself, on the common effect scale (a share jump's Cohen's h, a provider's
    #: error-rate jump): what ranks it when it moved no symptom.
    own_size: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


def candidates(ev: Evidence, since: str) -> list[Candidate]:
    """Every suspected cause in ``ev``; ``since`` is the window as the CLI names it (for the
    commands to dig further)."""
    used: set[int] = set()
    out = [
        *_prompts(ev, used),
        *_models(ev, used),
        *_configs(ev, used),
        *_providers(ev, since),
        *_loops(ev, used),
    ]
    out += _traffic(ev, used, since)
    out += _admin(ev, used, since)
    return out


# -- shares ---------------------------------------------------------------------------------


def _share_rise(
    now: Sequence[CallRow], then: Sequence[CallRow], pick: Callable[[CallRow], bool]
) -> tuple[float, float, float] | None:
    """(share then, share now, Cohen's h) when ``pick``'s share of ``now`` rose beyond noise
    over its share of ``then``; None otherwise."""
    import math

    x_now = sum(1 for r in now if pick(r))
    x_then = sum(1 for r in then if pick(r))
    if not now or x_now == 0:
        return None
    share_now = x_now / len(now)
    share_then = x_then / len(then) if then else 0.0
    if share_now - share_then < MIN_SHARE_RISE:
        return None
    if then:
        test = two_proportion_test(x_now, len(now), x_then, len(then), alternative="larger")
        if test.p_value >= ALPHA:
            return None
    elif x_now < MIN_EVENTS // 2:
        return None
    h = abs(2 * math.asin(math.sqrt(share_now)) - 2 * math.asin(math.sqrt(share_then)))
    return share_then, share_now, h


def _change_time(rows: Sequence[CallRow], pick: Callable[[CallRow], bool]) -> float:
    """When ``pick`` began to take its new share: the change-point of its indicator series,
    never before its first call."""
    first = next(r.at for r in rows if pick(r))
    at = onset([(r.at, float(pick(r))) for r in rows])
    return first if at is None else max(at, first)


def pct(x: float) -> str:
    return f"{x * 100:.0f}%"


# -- prompts --------------------------------------------------------------------------------


def _prompts(ev: Evidence, used: set[int]) -> list[Candidate]:
    out = []
    names = sorted({r.prompt[0] for r in ev.window_calls if r.prompt is not None})
    for name in names:
        now = [r for r in ev.window_calls if r.prompt is not None and r.prompt[0] == name]
        then = [r for r in ev.baseline_calls if r.prompt is not None and r.prompt[0] == name]
        old = Counter(r.prompt[1] for r in then if r.prompt is not None).most_common(1)
        for version in sorted({r.prompt[1] for r in now if r.prompt is not None}):
            key = (name, version)
            rise = _share_rise(now, then, lambda r, k=key: r.prompt == k)  # type: ignore[misc]
            if rise is None:
                continue
            members = [r for r in now if r.prompt == key]
            reference = [r for r in then if r.prompt != key] or [r for r in now if r.prompt != key]
            before = f"v{old[0][0]}" if old else "no calls"
            cand = Candidate(
                kind="prompt",
                what=f"prompt {name}: {before} → v{version}",
                before=f"{before} ({pct(rise[0])} of its calls are v{version})",
                after=f"v{version} ({pct(rise[1])} of its calls)",
                when=_change_time([*then, *now], lambda r, k=key: r.prompt == k),  # type: ignore[misc]
                members=members,
                reference=reference or ev.baseline_calls,
                baseline_members=[r for r in then if r.prompt == key],
                own_size=rise[2],
                detail={"prompt": name, "version": version},
            )
            if old:
                cand.dig.append(f"daytwo prompts diff {name} {old[0][0]} {version}")
            cand.dig.append(f"daytwo quality --by prompt_version --since {_hours(ev)}")
            _prompt_events(ev, cand, name, version, used)
            out.append(cand)
    return out


def _prompt_events(ev: Evidence, cand: Candidate, name: str, version: int, used: set[int]) -> None:
    previous = ev.prompts_before
    for i, entry in enumerate(ev.control):
        if entry.kind not in PROMPT_KINDS:
            continue
        moved = _label_moves(previous, entry, name, version)
        added = str(version) in (entry.after.get("versions") or {}).get(name, {}) and (
            previous is None
            or str(version) not in (previous.after.get("versions") or {}).get(name, {})
        )
        previous = entry
        if not moved and not added:
            continue
        used.add(i)
        text = ", ".join(moved) if moved else f"v{version} added"
        cand.evidence.append(f"{entry.kind} at {_iso(entry.at)}: {text}")
        cand.when = min(cand.when, entry.at)


def _label_moves(
    previous: ControlEntry | None, entry: ControlEntry, name: str, version: int
) -> list[str]:
    labels = (entry.after.get("labels") or {}).get(name, {})
    old = {} if previous is None else (previous.after.get("labels") or {}).get(name, {})
    return [
        f"label {label} v{old.get(label, '?')} → v{v}"
        for label, v in sorted(labels.items())
        if v == version and old.get(label) != v
    ]


# -- served models --------------------------------------------------------------------------


def _served_text(served: tuple[str | None, str | None]) -> str:
    model, fp = served
    return f"{model or '?'}" + (f" ({fp})" if fp else "")


def _models(ev: Evidence, used: set[int]) -> list[Candidate]:
    out = []
    deployments = sorted({r.deployment for r in ev.window_calls if r.deployment is not None})
    for dep in deployments:
        then = [r for r in ev.baseline_calls if r.deployment == dep and r.status == "ok"]
        now = [r for r in ev.window_calls if r.deployment == dep and r.status == "ok"]
        if not then:  # a deployment new to the window was routed to, not changed
            continue
        old = Counter(r.served for r in then).most_common(1)[0][0]
        for served in sorted({r.served for r in now}, key=str):
            rise = _share_rise(now, then, lambda r, s=served: r.served == s)  # type: ignore[misc]
            if rise is None or served == old:
                continue
            members = [r for r in now if r.served == served]
            cand = Candidate(
                kind="model",
                what=f"deployment {dep}: {_served_text(old)} → {_served_text(served)}",
                before=f"{_served_text(old)} ({pct(1 - rise[0])} of its answers)",
                after=f"{_served_text(served)} ({pct(rise[1])} of its answers)",
                when=_change_time([*then, *now], lambda r, s=served: r.served == s),  # type: ignore[misc]
                members=members,
                reference=[r for r in then if r.served != served] or then,
                baseline_members=[r for r in then if r.served == served],
                own_size=rise[2],
                dig=[
                    "daytwo drift status",
                    f"daytwo quality --by model --since {_hours(ev)}",
                    f"daytwo audit show {members[0].id}",
                ],
                detail={"deployment": dep, "served_model": served[0], "fingerprint": served[1]},
            )
            for i, entry in enumerate(ev.control):
                reported = (entry.after.get("served_model"), entry.after.get("fingerprint"))
                if entry.kind == MODEL_CHANGED and entry.subject == dep and reported == served:
                    used.add(i)
                    seen = entry.after.get("first_seen_at")
                    at = float(seen) if isinstance(seen, int | float) else entry.at
                    cand.when = min(cand.when, at)
                    cand.evidence.append(f"model.changed reported at {_iso(entry.at)}")
            out.append(cand)
    return out


# -- config ---------------------------------------------------------------------------------


def _configs(ev: Evidence, used: set[int]) -> list[Candidate]:
    known = {r.config_hash for r in ev.baseline_calls}
    old = Counter(r.config_hash for r in ev.baseline_calls if r.config_hash).most_common(1)
    before = old[0][0] if old else "?"
    out = []
    for h in sorted({r.config_hash for r in ev.window_calls if r.config_hash} - known):
        members = [r for r in ev.window_calls if r.config_hash == h]
        if not ev.baseline_calls:
            continue
        cand = Candidate(
            kind="config",
            what=f"config {before} → {h}",
            before=f"config {before}",
            after=f"config {h} ({pct(len(members) / len(ev.window_calls))} of the calls)",
            when=members[0].at,
            members=members,
            reference=ev.baseline_calls,
            baseline_members=[],
            own_size=0.0,
            dig=[f"daytwo audit show {members[0].id}"],
            detail={"hash": h, "previous": before},
        )
        for i, entry in enumerate(ev.control):
            if entry.kind in CONFIG_KINDS and entry.after.get("hash") == h:
                used.add(i)
                cand.when = min(cand.when, entry.at)
                cand.evidence.append(f"{entry.kind} at {_iso(entry.at)}")
        out.append(cand)
    return out


# -- providers ------------------------------------------------------------------------------


def _providers(ev: Evidence, since: str) -> list[Candidate]:
    import math

    from daytwo.incidents.triage_measure import BASE_METRICS, compare

    out = []
    for provider in sorted({a.provider for a in ev.attempts}):
        tries = [a for a in ev.attempts if a.provider == provider]
        then = [a for a in tries if ev.baseline.holds(a.at)]
        now = [a for a in tries if ev.window.holds(a.at)]
        if not then or not now:
            continue
        fail_then = sum(1 for a in then if not a.ok)
        fail_now = sum(1 for a in now if not a.ok)
        test = two_proportion_test(fail_now, len(now), fail_then, len(then), alternative="larger")
        p_now, p_then = fail_now / len(now), fail_then / len(then)
        if test.p_value >= ALPHA or p_now - p_then < 0.05:
            continue
        at = onset([(a.at, float(not a.ok)) for a in tries])
        first_fail = next(a.at for a in now if not a.ok)
        when = first_fail if at is None else min(max(at, ev.window.start), first_fail)
        aliases = {r.alias for r in (*ev.baseline_calls, *ev.window_calls) if provider in r.tried}
        members = [r for r in ev.window_calls if r.alias in aliases and r.at >= when]
        served = sum(1 for r in ev.baseline_calls if r.provider == provider)
        served_now = sum(1 for r in members if r.provider == provider)
        h = abs(2 * math.asin(math.sqrt(p_now)) - 2 * math.asin(math.sqrt(p_then)))
        cand = Candidate(
            kind="provider",
            what=f"provider {provider}: attempts failing",
            before=f"{pct(p_then)} of {len(then)} attempts failed",
            after=f"{pct(p_now)} of {len(now)} attempts failed",
            when=when,
            members=members,
            reference=[r for r in ev.baseline_calls if r.alias in aliases],
            baseline_members=[],
            own_size=h,
            dig=["daytwo providers status", f"daytwo audit search --status error --since {since}"],
            detail={"provider": provider, "p_value": test.p_value},
        )
        cand.evidence.append(
            f"attempt failures {pct(p_then)} → {pct(p_now)} (p={test.p_value:.2g}, 95% CI of"
            f" the rise {test.difference.low * 100:+.1f}–{test.difference.high * 100:+.1f} pt)"
        )
        base_alias = [r for r in ev.baseline_calls if r.alias in aliases]
        if base_alias and members:
            cand.evidence.append(
                f"calls served by {provider}: {pct(served / len(base_alias))} →"
                f" {pct(served_now / len(members))} (failover, breaker)"
            )
        latency = next(m for m in BASE_METRICS if m.name == "latency_ms")
        shift = compare(latency, members, cand.reference, after_s=1.0, before_s=1.0)
        if shift.counts:
            cand.evidence.append(shift.describe())
        out.append(cand)
    return out


# -- loops ----------------------------------------------------------------------------------


def _scope_fields(subject: str) -> dict[str, str]:
    out = {}
    for part in subject.split(","):
        name, _, value = part.partition("=")
        if value:
            out[name] = unquote(value)
    return out


def _loops(ev: Evidence, used: set[int]) -> list[Candidate]:
    out = []
    for i, entry in enumerate(ev.control):
        if entry.kind != LOOP or not ev.window.holds(entry.at):
            continue
        used.add(i)
        for j, other in enumerate(ev.control):  # the loop's own kill switch
            if other.kind == "switch_on" and other.subject == entry.subject:
                used.add(j)
        fields = _scope_fields(entry.subject)

        def inside(r: CallRow, fields: dict[str, str] = fields) -> bool:
            return all(getattr(r, k, None) == v for k, v in fields.items() if k != "project")

        members = [r for r in ev.window_calls if inside(r)]
        if not members:
            continue
        refused = sum(1 for r in members if r.status == "rejected")
        detail = entry.after.get("detail") or ""
        out.append(
            Candidate(
                kind="loop",
                what=f"loop breaker tripped {entry.subject}",
                before="no loop",
                after=f"{len(members)} calls, {refused} refused after the trip",
                when=members[0].at,
                members=members,
                reference=ev.baseline_calls,
                baseline_members=[r for r in ev.baseline_calls if inside(r)],
                own_size=0.5,
                evidence=[f"loop at {_iso(entry.at)}" + (f": {detail}" if detail else "")],
                dig=[
                    f"daytwo audit show {members[0].id}",
                    "daytwo revive " + " ".join(f"--{k} {v}" for k, v in fields.items()),
                ],
                detail={"scope": entry.subject, "tripped_at": entry.at},
            )
        )
    return out


# -- traffic mix ----------------------------------------------------------------------------

_DIMS: tuple[tuple[str, str], ...] = (("key_id", "key"), ("workflow", "workflow"), ("user", "user"))


def _traffic(ev: Evidence, used: set[int], since: str) -> list[Candidate]:
    out: list[Candidate] = []
    seen: list[frozenset[str]] = []
    if not ev.baseline_calls:
        return out
    for attr, name in _DIMS:
        if name == "workflow" and ev.scope.workflow is not None:
            continue
        for value in sorted({getattr(r, attr) for r in ev.window_calls} - {None}):

            def pick(r: CallRow, attr: str = attr, value: str = value) -> bool:
                return bool(getattr(r, attr) == value)

            rise = _share_rise(ev.window_calls, ev.baseline_calls, pick)
            if rise is None:
                continue
            members = [r for r in ev.window_calls if pick(r)]
            ids = frozenset(r.id for r in members)
            if ids in seen:  # the same calls as a key already suspected
                continue
            seen.append(ids)
            cand = Candidate(
                kind="traffic",
                what=f"{name} {value}: share of calls {pct(rise[0])} → {pct(rise[1])}",
                before=f"{pct(rise[0])} of the calls",
                after=f"{pct(rise[1])} of the calls ({len(members)})",
                when=_change_time([*ev.baseline_calls, *ev.window_calls], pick),
                members=members,
                reference=ev.baseline_calls,
                baseline_members=[r for r in ev.baseline_calls if pick(r)],
                own_size=rise[2],
                detail={"dimension": name, "value": value},
            )
            if name == "key":
                cand.dig += [
                    f"daytwo keys blast-radius {value}",
                    f"daytwo audit search --key {value} --since {since}",
                ]
                for i, entry in enumerate(ev.control):
                    if entry.kind.startswith("key.") and entry.subject == value:
                        used.add(i)
                        cand.evidence.append(f"{entry.kind} at {_iso(entry.at)} by {entry.actor}")
            elif name == "user":
                cand.dig.append(f"daytwo audit search --user {value} --since {since}")
            else:
                cand.dig.append(f"daytwo spend --by workflow --since {since}")
            out.append(cand)
    return out


# -- other admin actions --------------------------------------------------------------------


def _admin(ev: Evidence, used: set[int], since: str) -> list[Candidate]:
    out = []
    for i, entry in enumerate(ev.control):
        if i in used or not ev.window.holds(entry.at):
            continue
        if entry.kind in (*PROMPT_KINDS, *CONFIG_KINDS, MODEL_CHANGED, LOOP):
            continue  # explained by no change in the calls: not a suspect on its own
        out.append(
            Candidate(
                kind="admin",
                what=f"{entry.kind} {entry.subject} by {entry.actor}",
                before=_side(entry.before),
                after=_side(entry.after),
                when=entry.at,
                members=[],
                reference=[],
                baseline_members=[],
                own_size=0.0,
                dig=[
                    f"daytwo audit export --from {_iso(ev.window.start)} --to "
                    f"{_iso(ev.window.end)} --format jsonl --out control.jsonl"
                ],
                detail={"action": entry.kind, "target": entry.subject, "actor": entry.actor},
            )
        )
    return out


def _side(value: dict[str, Any]) -> str:
    if not value:
        return "–"
    shown = [f"{k}={v}" for k, v in sorted(value.items()) if isinstance(v, str | int | float)]
    return ", ".join(shown[:4]) or "–"


def _iso(at: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hours(ev: Evidence) -> str:
    hours = max(1, round((ev.window.end - ev.baseline.start) / 3600))
    return f"{hours}h"
