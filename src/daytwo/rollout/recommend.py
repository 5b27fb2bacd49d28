"""Cheaper models with evidence (``daytwo recommend``, docs/recommend.md): what each workflow
and prompt spends on its alias, what a cheaper configured alias would have cost for the same
tokens, and what the shadow pairs in the ledger say about its answers.

* **Groups**: the window's calls by (workflow, prompt name, alias asked for), the calls of
  projects that are daytwo's own (``experiment``: shadow calls; ``replay``; the judges'
  project) left out. Their cost and tokens count priced calls answered upstream (a cache hit
  costs nothing under either alias).
* **Candidates**: every other configured chat alias whose deployments re-price the group's
  own token usage (input, cached, cache writes, output) below what the group paid; an alias
  of several deployments is priced at its dearest one, so the saving is never overstated.
  Money is exact (integer nano-dollars); ``per week`` is the window scaled to 7 days.
* **Evidence**: shadow pairs -- a shadow row (``rollout_arm = shadow``) and the control call its
  ``source_call`` tag names -- whose shadow was served by the candidate alias with the same
  prompt version (only the model differs), and whose candidate answer was scored. A pair
  *matches* when neither side failed an online check (a score below 1), the pairwise judge
  (``rollouts.shadow.judge``), where it judged the pair, found the candidate's answer not
  worse (a tie or better), and, for each judge (``judge:*``) that scored both, the candidate
  is not lower than the control by more than ``tolerance``; a shadow call that failed is no
  match. The match share comes with its Wilson interval (:mod:`daytwo.stats`).
* **No evidence yet**: the pairs needed for a ±2.5 pt interval around 95 % matches
  (:func:`pairs_needed`) and the shadow share that collects them in 7 days at the group's
  traffic.

Replays leave no pairs here: a replay's calls (project ``replay``) do not name the call they
replay, and its pairwise verdicts stay in its report.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import orjson
import sqlalchemy as sa

from daytwo.config.quality import ALL_CHECKS
from daytwo.config.schema import Config, ModelAlias
from daytwo.core.money import format_usd, nanos_to_usd
from daytwo.core.types import Usage
from daytwo.ledger.schema import calls, scores
from daytwo.ledger.store import LedgerStore
from daytwo.pricing.catalog import PriceBook
from daytwo.pricing.cost import compute_cost
from daytwo.pricing.entry import PriceEntry
from daytwo.rollout import criteria
from daytwo.stats.interval import Interval
from daytwo.stats.proportions import wilson_interval

WEEK_S = 7 * 86_400
#: daytwo's own traffic: ``gateway.shadow.EXPERIMENT_PROJECT`` and
#: ``incidents.replay.REPLAY_PROJECT`` (spelled out: this room imports neither; a test checks
#: they agree). The judges' project comes from the config.
EXPERIMENT_PROJECT = "experiment"
REPLAY_PROJECT = "replay"
SHADOW_ARM = "shadow"
#: The pairwise judge's score on a shadow call: 1 the candidate's answer is better, 0.5 a
#: tie, 0 the control's.
PAIRWISE = criteria.PAIRWISE
#: A judge score of the candidate may be this much below the control's and still match.
DEFAULT_TOLERANCE = 0.1
#: The interval a recommendation should reach: ±2.5 pt around an expected 95 % match.
EXPECTED_MATCH = 0.95
HALF_WIDTH = 0.025
#: Pass/fail checks (``length`` is a measurement, never a failure).
_CHECKS = frozenset(c for c in ALL_CHECKS if c != "length")
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Group:
    """One workflow / prompt on one alias over the window."""

    workflow: str | None
    prompt: str | None
    alias: str
    calls: int
    #: Calls priced and answered upstream: what cost and tokens are summed over.
    priced_calls: int
    cost_nanousd: int
    usage: Usage

    @property
    def label(self) -> str:
        parts = [self.workflow or "(no workflow)"]
        if self.prompt is not None:
            parts.append(f"prompt:{self.prompt}")
        return " · ".join(parts)

    def to_json(self, window_s: int) -> dict[str, Any]:
        per_call = max(self.priced_calls, 1)
        return {
            "workflow": self.workflow,
            "prompt": self.prompt,
            "alias": self.alias,
            "calls": self.calls,
            "calls_per_week": round(self.calls * WEEK_S / window_s, 1),
            "cost_per_week": money(weekly(self.cost_nanousd, window_s)),
            "input_tokens_per_call": round(self.usage.input_tokens / per_call, 1),
            "output_tokens_per_call": round(self.usage.output_tokens / per_call, 1),
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    """Shadow pairs of one group served by one candidate."""

    #: Pairs with something to judge: the candidate's answer was scored, or its call failed.
    pairs: int
    matches: int
    #: Pairs whose candidate answer nobody scored (no evaluator matched the shadow call) and
    #: shadow calls daytwo refused or cancelled (a spent experiment budget): no evidence.
    unscored: int
    #: Cost of the pairs' control and candidate calls (priced ones, both sides).
    control_nanousd: int
    candidate_nanousd: int

    @property
    def interval(self) -> Interval | None:
        return wilson_interval(self.matches, self.pairs) if self.pairs else None

    def to_json(self) -> dict[str, Any]:
        ci = self.interval
        ratio = self.candidate_nanousd / self.control_nanousd if self.control_nanousd > 0 else None
        return {
            "pairs": self.pairs,
            "matches": self.matches,
            "match_share": None if ci is None else ci.estimate,
            "ci_low": None if ci is None else ci.low,
            "ci_high": None if ci is None else ci.high,
            "unscored": self.unscored,
            "paired_cost_ratio": ratio,
        }


NO_EVIDENCE = Evidence(0, 0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Proposal:
    """How to get enough pairs: ``missing`` more (of ``target``) by mirroring ``share`` percent
    of the alias's calls for 7 days, or (``share`` None: even 100 % is too few) for ``days``
    at 100 %."""

    target: int
    missing: int
    share: int | None
    days: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "pairs_target": self.target,
            "pairs_missing": self.missing,
            "shadow_percent": self.share,
            "days": self.days,
        }

    def __str__(self) -> str:
        more = f"{self.missing:,} more pairs"
        if self.share is not None:
            return f"shadow {self.share}% for 7 days ({more})"
        return f"shadow 100% for {self.days} days ({more})"


@dataclass(frozen=True, slots=True)
class Recommendation:
    group: Group
    candidate: str
    #: The candidate's deployments (``provider/model``) and the price it is costed at.
    deployments: tuple[str, ...]
    price_ref: str
    #: Over the window, exact: the group's cost, and its usage at the candidate's price.
    cost_nanousd: int
    candidate_nanousd: int
    window_s: int
    evidence: Evidence
    proposal: Proposal | None
    #: Other groups on the same alias: an alias rollout moves them too.
    shared_with: tuple[str, ...]

    @property
    def saving_per_week(self) -> int:
        return weekly(self.cost_nanousd - self.candidate_nanousd, self.window_s)

    @property
    def cost_ratio(self) -> float:
        return self.candidate_nanousd / self.cost_nanousd

    def sentence(self) -> str:
        """The recommendation in one line: the candidate, its match share with n and the
        interval, its share of the cost and the weekly saving."""
        head = f"{self.group.label}: {self.candidate}"
        cost = f"at {percent(self.cost_ratio)} of the cost: −{usd(self.saving_per_week)}/week"
        ci = self.evidence.interval
        if ci is None:
            tail = f"; no shadow pairs yet: {self.proposal}" if self.proposal else ""
            return f"{head} {cost}{tail}"
        shown = f"{percent(ci.low, False)}–{percent(ci.high)}"
        return (
            f"{head} matches {self.group.alias} on {percent(ci.estimate)} of judged pairs "
            f"(n = {self.evidence.pairs:,}, CI {shown}) {cost}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **self.group.to_json(self.window_s),
            "candidate": self.candidate,
            "candidate_deployments": list(self.deployments),
            "candidate_price": self.price_ref,
            "candidate_cost_per_week": money(weekly(self.candidate_nanousd, self.window_s)),
            "cost_ratio": self.cost_ratio,
            "saving_per_week": money(self.saving_per_week),
            "evidence": self.evidence.to_json(),
            "proposal": None if self.proposal is None else self.proposal.to_json(),
            "shared_with": list(self.shared_with),
            "summary": self.sentence(),
        }


@dataclass(frozen=True, slots=True)
class Report:
    start: float
    end: float
    window_s: int
    tolerance: float
    groups: int
    recommendations: tuple[Recommendation, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "window_s": self.window_s,
            "judge_tolerance": self.tolerance,
            "groups": self.groups,
            "target": {"match": EXPECTED_MATCH, "half_width": HALF_WIDTH},
            "recommendations": [
                {"n": i, **r.to_json()} for i, r in enumerate(self.recommendations, 1)
            ],
        }


# -- arithmetic -------------------------------------------------------------------------------


def weekly(nanos: int, window_s: int) -> int:
    """``nanos`` over a window of ``window_s`` seconds, per week (half-to-even)."""
    return round(Fraction(nanos * WEEK_S, window_s))


def money(nanos: int) -> dict[str, Any]:
    return {"nanousd": nanos, "usd": str(nanos_to_usd(nanos))}


def usd(nanos: int) -> str:
    """Dollars and cents (an amount below a cent keeps its digits)."""
    return format_usd(nanos, places=2)


def percent(share: float, sign: bool = True) -> str:
    """A whole percentage (one decimal below 1 %, so a tiny share does not read as 0)."""
    value = share * 100
    shown = f"{value:.1f}" if 0 < value < 1 else f"{value:.0f}"
    return shown + ("%" if sign else "")


def pairs_needed(
    expected: float = EXPECTED_MATCH, half_width: float = HALF_WIDTH, confidence: float = 0.95
) -> int:
    """The fewest pairs whose Wilson interval, at an observed share of ``expected`` (rounded
    down to whole pairs), is no wider than ``±half_width``: 312 for ±2.5 pt around 95 %."""
    if not 0.0 < expected < 1.0 or not 0.0 < half_width < 0.5:
        raise ValueError(
            f"expected in (0, 1) and half width in (0, 0.5), got {expected}, {half_width}"
        )
    for n in range(1, 10_000_001):
        ci = wilson_interval(math.floor(expected * n), n, confidence)
        if (ci.high - ci.low) / 2.0 <= half_width:
            return n
    raise ValueError(f"no sample below 10,000,000 pairs reaches ±{half_width}")


def propose(have: int, needed: int, calls: int, window_s: int) -> Proposal | None:
    """The shadow share that adds ``needed - have`` pairs in 7 days at ``calls`` per window of
    ``window_s`` seconds; None when there are enough."""
    missing = needed - have
    if missing <= 0:
        return None
    per_week = Fraction(calls * WEEK_S, window_s)
    if per_week >= missing:
        return Proposal(needed, missing, max(1, math.ceil(100 * missing / per_week)), None)
    days = math.ceil(missing / (per_week / 7)) if per_week else None
    return Proposal(needed, missing, None, days)


# -- the report -------------------------------------------------------------------------------


def recommend(
    store: LedgerStore,
    config: Config,
    prices: PriceBook,
    end: float,
    window_s: int,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Report:
    """Every cheaper configured chat alias for every group of the window ending at ``end``,
    the largest weekly saving first."""
    start = end - window_s
    excluded = (EXPERIMENT_PROJECT, REPLAY_PROJECT, config.quality.judge.project)
    chat = {name: a for name, a in config.models.items() if a.kind == "chat"}
    types = {name: p.type for name, p in config.providers.items()}
    groups = [g for g in read_groups(store, start, end, excluded) if g.alias in chat]
    evidence = read_evidence(store, start, end, tolerance)
    needed = pairs_needed()
    on_alias: dict[str, list[str]] = defaultdict(list)
    for g in groups:
        on_alias[g.alias].append(g.label)
    out: list[Recommendation] = []
    for g in groups:
        if g.cost_nanousd <= 0:
            continue
        own = _deployments(chat[g.alias])
        for name, alias in chat.items():
            if name == g.alias or _deployments(alias) == own:
                continue
            priced = _dearest(alias, g.usage, prices, types)
            if priced is None or priced[0] >= g.cost_nanousd:
                continue
            found = evidence.get((g.workflow, g.prompt, g.alias, name), NO_EVIDENCE)
            thin = found.pairs < needed
            out.append(
                Recommendation(
                    group=g,
                    candidate=name,
                    deployments=tuple(f"{d.provider}/{d.model}" for d in alias.deployments),
                    price_ref=priced[1].ref,
                    cost_nanousd=g.cost_nanousd,
                    candidate_nanousd=priced[0],
                    window_s=window_s,
                    evidence=found,
                    proposal=propose(found.pairs, needed, g.calls, window_s) if thin else None,
                    shared_with=tuple(x for x in on_alias[g.alias] if x != g.label),
                )
            )
    out.sort(key=lambda r: (-r.saving_per_week, r.group.label, r.group.alias, r.candidate))
    return Report(start, end, window_s, tolerance, len(groups), tuple(out))


def _deployments(alias: ModelAlias) -> frozenset[tuple[str, str]]:
    return frozenset((d.provider, d.model) for d in alias.deployments)


def _dearest(
    alias: ModelAlias, usage: Usage, prices: PriceBook, types: Mapping[str, str]
) -> tuple[int, PriceEntry] | None:
    """``usage`` at the alias's dearest deployment; None when one of them has no price."""
    worst: tuple[int, PriceEntry] | None = None
    for d in alias.deployments:
        entry = prices.lookup(d.model, provider=d.provider, provider_type=types.get(d.provider))
        if entry is None and prices.unpriced == "estimate":
            entry = prices.default
        if entry is None:
            return None
        cost = compute_cost(usage, entry)
        if worst is None or cost > worst[0]:
            worst = (cost, entry)
    return worst


# -- the ledger -------------------------------------------------------------------------------


def read_groups(
    store: LedgerStore, start: float, end: float, excluded: Sequence[str]
) -> list[Group]:
    """The window's calls by workflow, prompt name and alias (one query)."""
    c = calls.c
    priced = sa.and_(c.cost_nanousd.is_not(None), c.cache_status.is_(None))

    def total(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(sa.func.sum(sa.case((priced, column), else_=0)), 0)

    query = (
        sa.select(
            c.workflow,
            c.prompt_name,
            c.alias,
            sa.func.count().label("calls"),
            total(sa.literal(1)).label("priced"),
            total(c.cost_nanousd).label("cost"),
            total(c.input_tokens).label("input"),
            total(c.output_tokens).label("output"),
            total(c.cached_input_tokens).label("cached"),
            total(c.cache_write_tokens).label("written"),
        )
        .where(c.started_at >= start, c.started_at < end, c.project.not_in(excluded))
        .group_by(c.workflow, c.prompt_name, c.alias)
    )
    with store.connect() as conn:
        rows = list(conn.execute(query))
    return [
        Group(
            workflow=r.workflow,
            prompt=r.prompt_name,
            alias=r.alias,
            calls=int(r.calls),
            priced_calls=int(r.priced),
            cost_nanousd=int(r.cost),
            usage=Usage(
                input_tokens=int(r.input),
                output_tokens=int(r.output),
                cached_input_tokens=int(r.cached),
                cache_write_tokens=int(r.written),
            ),
        )
        for r in rows
    ]


_Key = tuple[str | None, str | None, str, str]


@dataclass(slots=True)
class _Tally:
    pairs: int = 0
    matches: int = 0
    unscored: int = 0
    control: int = 0
    candidate: int = 0


def read_evidence(
    store: LedgerStore, start: float, end: float, tolerance: float
) -> dict[_Key, Evidence]:
    """Shadow pairs of the window by (workflow, prompt, control alias, candidate alias)."""
    c = calls.c
    shadow_cols = (c.id, c.alias, c.status, c.tags, c.prompt_version, c.cost_nanousd)
    with store.connect() as conn:
        shadows = list(
            conn.execute(
                sa.select(*shadow_cols).where(
                    c.started_at >= start, c.started_at < end, c.rollout_arm == SHADOW_ARM
                )
            )
        )
        source = {s.id: _source(s.tags) for s in shadows}
        wanted = [x for x in source.values() if x is not None]
        controls = {
            r.id: r
            for ids in _chunks(wanted)
            for r in conn.execute(
                sa.select(
                    c.id, c.workflow, c.prompt_name, c.prompt_version, c.alias, c.cost_nanousd
                ).where(c.id.in_(ids))
            )
        }
        judged = _scores(conn, [s.id for s in shadows] + list(controls))
    tallies: dict[_Key, _Tally] = defaultdict(_Tally)
    for s in shadows:
        ctl = controls.get(source[s.id] or "")
        if ctl is None or ctl.alias == s.alias or ctl.prompt_version != s.prompt_version:
            continue
        t = tallies[(ctl.workflow, ctl.prompt_name, ctl.alias, s.alias)]
        verdict = pair_matches(s.status, judged.get(ctl.id, {}), judged.get(s.id, {}), tolerance)
        if verdict is None:
            t.unscored += 1
            continue
        t.pairs += 1
        t.matches += verdict
        if ctl.cost_nanousd is not None and s.cost_nanousd is not None:
            t.control += int(ctl.cost_nanousd)
            t.candidate += int(s.cost_nanousd)
    return {
        k: Evidence(t.pairs, t.matches, t.unscored, t.control, t.candidate)
        for k, t in tallies.items()
    }


def pair_matches(
    shadow_status: str,
    control: Mapping[str, float],
    candidate: Mapping[str, float],
    tolerance: float,
) -> bool | None:
    """Whether a pair matches; None when it says nothing: the candidate's answer has no score
    (no evaluator matched the shadow call), or daytwo refused or cancelled the shadow call.
    ``control`` / ``candidate``: evaluator → its lowest value on that call (the pairwise
    judge's is the candidate's: below 0.5, the control's answer was better)."""
    if shadow_status == "error":
        return False
    if shadow_status != "ok" or not candidate:
        return None
    for side in (control, candidate):
        if any(v < 1.0 for name, v in side.items() if name in _CHECKS):
            return False
    if candidate.get(PAIRWISE, 0.5) < 0.5:
        return False
    for name, theirs in control.items():
        ours = candidate.get(name)
        if name.startswith("judge:") and ours is not None and ours < theirs - tolerance:
            return False
    return True


def _source(tags: str | None) -> str | None:
    try:
        value = orjson.loads(tags or "{}").get("source_call")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _scores(conn: sa.Connection, ids: Iterable[str]) -> dict[str, dict[str, float]]:
    """Call id → evaluator → its lowest online score (checks, judges and the pairwise judge;
    no feedback)."""
    s = scores.c
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for chunk in _chunks(list(dict.fromkeys(ids))):
        rows = conn.execute(
            sa.select(s.call_id, s.evaluator, sa.func.min(s.value).label("value"))
            .where(s.call_id.in_(chunk), s.source == "online", s.value.is_not(None))
            .group_by(s.call_id, s.evaluator)
        )
        for r in rows:
            name = str(r.evaluator)
            if name in _CHECKS or name == PAIRWISE or name.startswith("judge:"):
                out[r.call_id][name] = float(r.value)
    return out
