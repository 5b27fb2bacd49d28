"""Pairwise judgments asked in both orders: a clear preference survives the swap; a preference
that only follows the position (the simulated judge's deliberate bias when two answers are
close) becomes a tie."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from tests.evals.gateway_client import GatewayEvalClient
from tests.evals.judged import JUDGE, judging_gateway
from tests.gateway.harness import RunningGateway

from daytwo.evals.assertions import JudgeRefused, PairVerdict, pairwise
from daytwo.evals.model import JudgeSettings

pytestmark = pytest.mark.integration

QUESTION = "How do I get a refund for my order?"
REFERENCE = "Press Refund on the Orders page; the refund reaches your card."
GOOD = "Open the Orders page and press Refund; the refund reaches your card."
BAD = "Our office is open on weekdays from nine to five."
# Two answers that cover the reference about equally.
CLOSE_A = "Press Refund on the Orders page."
CLOSE_B = "On the Orders page, press Refund."


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with judging_gateway(tmp_path_factory.mktemp("pairwise")) as running:
        yield running


def ask(gw: RunningGateway, a: str, b: str, judge: JudgeSettings = JUDGE) -> PairVerdict:
    client = GatewayEvalClient(gw.url)
    return asyncio.run(pairwise(QUESTION, a, b, client=client, judge=judge, reference=REFERENCE))


def test_a_clear_preference_holds_in_both_orders(gw: RunningGateway) -> None:
    before = len(gw.records())
    v = ask(gw, GOOD, BAD)
    assert v.winner == "a" and v.raw == ("a", "a") and v.consistent
    v = ask(gw, BAD, GOOD)
    assert v.winner == "b" and v.raw == ("b", "b")
    rows = gw.records()[before:]
    assert len(rows) == 4 and {r["prompt_name"] for r in rows} == {"judge-pairwise"}
    assert v.cost_usd > 0


def test_a_position_biased_verdict_becomes_a_tie(gw: RunningGateway) -> None:
    v = ask(gw, CLOSE_A, CLOSE_B)
    # Asked once, the judge would have said "a" (shown first); swapped, it says "b".
    assert v.raw == ("a", "b")
    assert v.winner == "tie" and not v.consistent
    assert all(r for r in v.reasons)


def test_pairwise_needs_a_judge(gw: RunningGateway) -> None:
    with pytest.raises(JudgeRefused):
        ask(gw, GOOD, BAD, JudgeSettings())
