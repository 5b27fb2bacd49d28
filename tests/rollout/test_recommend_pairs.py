"""The rules of ``daytwo recommend`` on a ledger written row by row (the real store, on SQLite
and PostgreSQL): which calls make a group and what they cost, which aliases are candidates and
at what price, when a shadow pair matches (checks, judges within the tolerance, the pairwise
judge's verdict, a failed shadow call), which pairs say nothing, and the sample size a
proposal aims at."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from daytwo.config.load import validate_config
from daytwo.core.record import CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.gateway.shadow import EXPERIMENT_PROJECT
from daytwo.incidents.replay import REPLAY_PROJECT
from daytwo.ledger.store import LedgerStore, open_store
from daytwo.pricing.catalog import PriceBook
from daytwo.rollout import recommend as rec
from daytwo.stats import wilson_interval

NOW = 1_800_000_000.0
DAY = 86_400
#: gpt-4o at the catalog's price, nano-dollars per token.
IN, OUT, CACHED = 2_500, 10_000, 1_250


def call(n: int, **kw: Any) -> CallRecord:
    """A priced gpt-4o call of workflow ``triage`` on alias ``smart``: 1,000 in, 100 out."""
    fields: dict[str, Any] = {
        "id": f"c{n:04d}",
        "started_at": NOW - 3600 + n,
        "ended_at": NOW - 3600 + n + 1,
        "latency_ms": 1000.0,
        "status": "ok",
        "http_status": 200,
        "operation": "chat",
        "alias": "smart",
        "trace_id": "t",
        "project": "support",
        "workflow": "triage",
        "provider": "sim",
        "deployment": "sim/gpt-4o",
        "input_tokens": 1_000,
        "output_tokens": 100,
        "cost_nanousd": 1_000 * IN + 100 * OUT,
    }
    fields.update(kw)
    return CallRecord(**fields)


def shadow(n: int, source: str, **kw: Any) -> CallRecord:
    """The mirror of ``source`` on alias ``cheap`` (gpt-4o-mini's price)."""
    fields: dict[str, Any] = {
        "project": EXPERIMENT_PROJECT,
        "alias": "cheap",
        "deployment": "sim/gpt-4o-mini",
        "rollout_id": "ro_1",
        "rollout_arm": "shadow",
        "tags": {"rollout": "ro_1", "source_project": "support", "source_call": source},
        "cost_nanousd": 1_000 * 150 + 100 * 600,
    }
    fields.update(kw)
    return call(n, **fields)


def score(call_id: str, evaluator: str, value: float | None, source: str = "online") -> ScoreRecord:
    return ScoreRecord(
        id=f"s-{call_id}-{evaluator}-{value}-{source}",
        call_id=call_id,
        at=NOW - 60,
        evaluator=evaluator,
        evaluator_version="1",
        source=source,  # type: ignore[arg-type]
        value=value,
    )


CONFIG: dict[str, Any] = {
    "providers": {"sim": {"type": "sim"}},
    "models": {
        "smart": {"deployments": [{"provider": "sim", "model": "gpt-4o"}]},
        "cheap": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]},
        # the same deployment under another name: never a candidate of `cheap`'s groups
        "cheap-too": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]},
        # two deployments: priced at the dearer (gpt-3.5-turbo, not gpt-4o-mini)
        "pair": {
            "deployments": [
                {"provider": "sim", "model": "gpt-4o-mini"},
                {"provider": "sim", "model": "gpt-3.5-turbo"},
            ]
        },
        # one deployment without a price: cannot be costed, never recommended
        "local": {
            "deployments": [
                {"provider": "sim", "model": "gpt-4o-mini"},
                {"provider": "sim", "model": "my-own-llama"},
            ]
        },
        "embed": {"kind": "embeddings", "deployments": [{"provider": "sim", "model": "e5"}]},
    },
    "quality": {"judge": {"model": "smart", "project": "judging"}},
}


@pytest.fixture
def store(db_url: str) -> Iterator[LedgerStore]:
    """A real ledger: SQLite and PostgreSQL."""
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.close()


def report(store: LedgerStore, window_s: int = 7 * DAY, tolerance: float = 0.1) -> rec.Report:
    cfg = validate_config(CONFIG)
    return rec.recommend(
        store, cfg, PriceBook.from_config(cfg.pricing), NOW, window_s, tolerance=tolerance
    )


def test_daytwos_own_projects_are_spelled_as_their_rooms_spell_them() -> None:
    assert (rec.EXPERIMENT_PROJECT, rec.REPLAY_PROJECT) == (EXPERIMENT_PROJECT, REPLAY_PROJECT)


def test_groups_leave_out_daytwos_own_calls_and_cost_only_upstream_priced_calls(
    store: LedgerStore,
) -> None:
    store.insert_batch(
        [
            call(1, cached_input_tokens=400, cost_nanousd=600 * IN + 400 * CACHED + 100 * OUT),
            call(2),
            # a cache hit and an unpriced call count as calls, not in cost or tokens
            call(3, cache_status="hit", cost_nanousd=None, saved_nanousd=1),
            call(4, cost_nanousd=None),
            # daytwo's own: shadow, replay and judge calls; and one outside the window
            call(5, project=EXPERIMENT_PROJECT),
            call(6, project=REPLAY_PROJECT),
            call(7, project="judging"),
            call(8, started_at=NOW - 8 * DAY),
            # an embeddings alias is no group
            call(9, alias="embed", operation="embeddings"),
        ]
    )
    got = report(store)
    assert got.groups == 1
    by_candidate = {r.candidate: r for r in got.recommendations}
    assert set(by_candidate) == {"cheap", "cheap-too", "pair"}  # `local` has no price
    cheap = by_candidate["cheap"]
    assert (cheap.group.calls, cheap.group.priced_calls) == (4, 2)
    paid = 2_000 * IN + 200 * OUT - 400 * (IN - CACHED)
    assert cheap.cost_nanousd == paid
    # 1,600 uncached and 400 cached input tokens, 200 output, at gpt-4o-mini's prices
    assert cheap.candidate_nanousd == 1_600 * 150 + 400 * 75 + 200 * 600
    assert by_candidate["pair"].candidate_nanousd == 2_000 * 500 + 200 * 1_500
    assert by_candidate["pair"].price_ref.endswith("openai/gpt-3.5-turbo")
    assert [r.candidate for r in got.recommendations] == ["cheap", "cheap-too", "pair"]


def test_a_group_on_the_cheaper_alias_gets_no_same_deployment_candidate(
    store: LedgerStore,
) -> None:
    store.insert_batch([call(1, alias="pair", cost_nanousd=1_000 * 500 + 100 * 1_500)])
    got = report(store)
    assert {r.candidate for r in got.recommendations} == {"cheap", "cheap-too"}


@pytest.mark.parametrize(
    ("status", "control", "candidate", "expected"),
    [
        ("ok", {"refusal": 1.0}, {"refusal": 1.0}, True),
        ("ok", {"refusal": 1.0}, {"refusal": 0.0}, False),  # the candidate refused
        ("ok", {"format": 0.0}, {"format": 1.0}, False),  # the control failed: no match either
        ("ok", {"length": 12.0}, {"length": 900.0}, True),  # a measurement, not a check
        ("ok", {"judge:polite": 0.9}, {"judge:polite": 0.85}, True),  # within the tolerance
        ("ok", {"judge:polite": 0.9}, {"judge:polite": 0.7}, False),
        ("ok", {"judge:polite": 0.9}, {"refusal": 1.0}, True),  # one side judged: no comparison
        ("ok", {}, {"refusal": 1.0}, True),  # the control unscored: the candidate passed
        ("ok", {"refusal": 1.0}, {}, None),  # the candidate unscored: says nothing
        ("error", {"refusal": 1.0}, {}, False),  # the candidate failed
        ("error", {}, {}, False),
        ("rejected", {"refusal": 1.0}, {}, None),  # daytwo refused the mirror: says nothing
        ("ok", {}, {}, None),  # nobody scored either answer
        ("ok", {}, {"pairwise": 0.5}, True),  # the pairwise judge: a tie is a match
        ("ok", {}, {"pairwise": 1.0}, True),  # the candidate's answer was better
        ("ok", {"refusal": 1.0}, {"refusal": 1.0, "pairwise": 0.0}, False),  # the control's was
        ("ok", {"refusal": 0.0}, {"pairwise": 1.0}, False),  # a failed check still fails it
    ],
)
def test_when_a_pair_matches(
    status: str, control: dict[str, float], candidate: dict[str, float], expected: bool | None
) -> None:
    assert rec.pair_matches(status, control, candidate, 0.1) is expected


def plain(got: rec.Report) -> dict[str, rec.Recommendation]:
    """The recommendations of the group without a prompt, by candidate."""
    return {r.candidate: r for r in got.recommendations if r.group.prompt is None}


def test_shadow_pairs_from_the_ledger(store: LedgerStore) -> None:
    controls = [call(i) for i in range(1, 9)]
    mirrors = [shadow(100 + i, f"c{i:04d}") for i in range(1, 9)]
    # c0007's mirror ran another prompt version: a prompt rollout, not a model comparison
    controls[6] = call(7, prompt_name="reply", prompt_version=1)
    mirrors[6] = shadow(107, "c0007", prompt_name="reply", prompt_version=2)
    mirrors[4] = shadow(105, "c0005", status="error", cost_nanousd=None)
    mirrors[5] = shadow(106, "c0006", status="rejected", cost_nanousd=None)
    store.insert_batch([*controls, *mirrors])
    store.insert_scores(
        [
            *(score(f"c{i:04d}", "refusal", 1.0) for i in range(1, 9)),
            score("c0101", "refusal", 1.0),
            score("c0102", "refusal", 0.0),
            score("c0103", "judge:polite", 0.5),
            score("c0003", "judge:polite", 0.9),
            score("c0104", "refusal", 1.0),
            score("c0104", "feedback:thumbs", 0.0, source="feedback"),  # not the shadow's
            # c0008 and its mirror: a judge whose call was skipped (no value) is no score
            score("c0108", "judge:polite", None),
        ]
    )
    got = plain(report(store, tolerance=0.3))
    ev = got["cheap"].evidence
    # 1 (match), 2 (refused), 3 (judge 0.5 < 0.9 - 0.3), 4 (match), 5 (error); 6 (rejected)
    # and 8 (the mirror's only judge was skipped) say nothing
    assert (ev.pairs, ev.matches, ev.unscored) == (5, 2, 2)
    assert ev.interval == wilson_interval(2, 5)
    # the pairs priced on both sides: 1-4
    assert (ev.control_nanousd, ev.candidate_nanousd) == (4 * 3_500_000, 4 * 210_000)
    assert got["pair"].evidence == rec.NO_EVIDENCE  # nobody mirrored to `pair`
    assert plain(report(store, tolerance=0.5))["cheap"].evidence.matches == 3
    # the prompt's own group: its one pair compared prompt versions, so it is no evidence
    reply = [r for r in report(store).recommendations if r.group.prompt == "reply"]
    assert {r.evidence for r in reply} == {rec.NO_EVIDENCE}


def test_the_pairwise_judges_verdicts_from_the_ledger(store: LedgerStore) -> None:
    controls = [call(i) for i in range(1, 5)]
    mirrors = [shadow(100 + i, f"c{i:04d}") for i in range(1, 5)]
    store.insert_batch([*controls, *mirrors])
    store.insert_scores(
        [
            score("c0101", "pairwise", 1.0),
            score("c0102", "pairwise", 0.5),
            score("c0103", "pairwise", 0.0),
            score("c0104", "pairwise", None),  # the judge was skipped: no verdict
        ]
    )
    ev = plain(report(store))["cheap"].evidence
    assert (ev.pairs, ev.matches, ev.unscored) == (3, 2, 1)


def test_a_proposal_aims_at_plus_or_minus_2_5_points_around_95_percent() -> None:
    n = rec.pairs_needed()
    half = [
        (lambda ci: (ci.high - ci.low) / 2)(wilson_interval(math.floor(0.95 * m), m))
        for m in (n - 1, n)
    ]
    assert half[0] > 0.025 >= half[1]
    assert n == 312
    with pytest.raises(ValueError, match="half width"):
        rec.pairs_needed(half_width=0.0)


@pytest.mark.parametrize(
    ("have", "calls", "window_s", "expected"),
    [
        (0, 3_120, 7 * DAY, (312, 10, None)),  # 10 % of a week's calls
        (0, 3_121, 7 * DAY, (312, 10, None)),  # rounded up, never short
        (300, 100_000, 7 * DAY, (12, 1, None)),  # at least 1 %
        (0, 100, DAY, (312, 45, None)),  # 700 calls a week
        (0, 40, 7 * DAY, (312, None, 55)),  # too few calls for one week: 312 / (40 / 7) days
        (0, 0, 7 * DAY, (312, None, None)),  # no traffic: no amount of shadow
    ],
)
def test_the_shadow_share_collects_the_missing_pairs_in_a_week(
    have: int, calls: int, window_s: int, expected: tuple[int, int | None, int | None]
) -> None:
    got = rec.propose(have, 312, calls, window_s)
    assert got is not None and (got.missing, got.share, got.days) == expected
    assert rec.propose(312, 312, calls, window_s) is None
