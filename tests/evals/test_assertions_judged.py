"""Model-graded and embedding assertions end to end: every judge and embedding call goes
through a real gateway (ledger rows attributed to project evals, tagged judge, naming the
rubric prompt's version), answered by the simulator playing the judge."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from tests.evals.gateway_client import GatewayEvalClient
from tests.evals.judged import judged, judging_gateway
from tests.gateway.harness import RunningGateway

from daytwo.evals.assertions.judge import rubric
from daytwo.evals.assertions.similar import cosine
from daytwo.evals.model import JudgeSettings

pytestmark = pytest.mark.integration

QUESTION = "How do I get a refund for my order?"
GOOD = "Open the Orders page, pick the order and press Refund; the refund reaches your card."
BAD = "Our office is open on weekdays from nine to five."


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with judging_gateway(tmp_path_factory.mktemp("judged")) as running:
        yield running


def judge_rows(gw: RunningGateway, since: int) -> list[dict[str, Any]]:
    rows = gw.records()[since:]
    return [r for r in rows if orjson.loads(r["tags"]).get("purpose") == "judge"]


def test_llm_rubric_calls_the_judge_through_the_gateway_with_the_rubric_version(
    gw: RunningGateway,
) -> None:
    before = len(gw.records())
    good, bad = judged(
        gw,
        [{"type": "llm-rubric", "value": "Says to press Refund on the Orders page"}] * 1
        + [{"type": "llm-rubric", "value": "Gives the office opening hours on weekdays"}],
        GOOD,
        question=QUESTION,
    )
    assert good.passed and good.score >= 0.5 and good.error is None
    assert not bad.passed and bad.score < 0.5
    rows = judge_rows(gw, before)
    assert len(rows) == 2
    version = rubric("judge-rubric")
    for row in rows:
        assert row["project"] == "evals"
        assert row["alias"] == "judge" and row["status"] == "ok"
        assert (row["prompt_name"], row["prompt_version"], row["prompt_hash"]) == (
            "judge-rubric",
            1,
            version.hash,
        )
    # What the grades say they cost is what the ledger charged.
    assert good.cost_usd + bad.cost_usd == pytest.approx(
        sum(int(r["cost_nanousd"]) for r in rows) / 1e9
    )
    assert good.cost_usd > 0


def test_llm_rubric_threshold_and_negation(gw: RunningGateway) -> None:
    rubric_text = "Says to press Refund on the Orders page, mentions the card fee"
    plain, strict, negated = judged(
        gw,
        [
            {"type": "llm-rubric", "value": rubric_text},
            {"type": "llm-rubric", "value": rubric_text, "threshold": 0.9},
            {"type": "not-llm-rubric", "value": rubric_text, "threshold": 0.9},
        ],
        GOOD,
    )
    assert plain.score == strict.score and 0.5 <= plain.score < 0.9
    assert plain.passed and not strict.passed and negated.passed
    assert negated.score == pytest.approx(1 - strict.score)


def test_g_eval_closedqa_and_factuality(gw: RunningGateway) -> None:
    ref = "Press Refund on the Orders page."
    geval, closed_yes, closed_no, same, superset, wrong = judged(
        gw,
        [
            {"type": "g-eval", "value": "Tells the customer to press Refund on the Orders page"},
            {"type": "model-graded-closedqa", "value": "mentions the Orders page"},
            {"type": "model-graded-closedqa", "value": "apologises for the weekday delay"},
            {"type": "factuality", "value": ref},
            {"type": "factuality", "value": "Press Refund."},
            {"type": "factuality", "value": "Phone the bank and cancel the card payment."},
        ],
        GOOD,
        question=QUESTION,
    )
    # The answer holds 4 of the criterion's 6 content words (not "tells", "customer"): 7/10.
    assert geval.passed and geval.score == pytest.approx(0.7)
    assert closed_yes.passed and closed_yes.score == 1.0
    assert not closed_no.passed and closed_no.score == 0.0
    assert same.passed and "(B)" in same.reason  # the answer says more than the reference
    assert superset.passed
    assert not wrong.passed and "(D)" in wrong.reason and wrong.score == 0.0
    (exact,) = judged(
        gw, [{"type": "factuality"}], "Press Refund on the Orders page.", expected=ref
    )
    assert exact.passed and "(C)" in exact.reason


def test_similar_uses_the_gateways_embeddings(gw: RunningGateway) -> None:
    same, other, best_of = judged(
        gw,
        [
            {"type": "similar", "value": GOOD},
            {"type": "similar", "value": BAD},
            {"type": "similar", "value": [BAD, GOOD], "threshold": 0.99},
        ],
        GOOD,
    )
    assert same.passed and same.score == pytest.approx(1.0)
    assert not other.passed and other.score < 0.75
    assert best_of.passed
    before = len(gw.records())
    (g,) = judged(
        gw, [{"type": "similar", "value": BAD, "provider": "embed"}], GOOD, judge=JudgeSettings()
    )
    (row,) = gw.records()[before:]
    assert row["alias"] == "embed" and row["project"] == "evals"
    assert g.cost_usd == pytest.approx(int(row["cost_nanousd"]) / 1e9)


def test_answer_relevance_is_the_mean_cosine_of_generated_questions(gw: RunningGateway) -> None:
    client = GatewayEvalClient(gw.url)
    (g,) = judged(
        gw, [{"type": "answer-relevance", "threshold": 0}], GOOD, question=QUESTION, client=client
    )
    asked = client.sent[-1]
    assert asked["response_format"]["json_schema"]["name"] == "daytwo_questions"
    # Recompute the score from the questions the simulated judge wrote (the same call again,
    # a deterministic answer) and the gateway's embeddings.
    out = asyncio.run(client.chat(asked, purpose="judge"))
    questions = orjson.loads(out.text)["questions"]
    vectors, _ = asyncio.run(client.embed([QUESTION, *questions], "embed"))
    want = sum(cosine(vectors[0], v) for v in vectors[1:]) / len(questions)
    assert g.score == pytest.approx(max(0.0, want), abs=1e-6)
    (hedge,) = judged(gw, [{"type": "answer-relevance"}], "I don't know, sorry.", question=QUESTION)
    assert hedge.score == 0.0 and not hedge.passed and "noncommittal" in hedge.reason


CONTEXT = [
    "Refunds are issued from the Orders page: pick the order and press Refund.",
    "Refunds reach the original card within five business days.",
]


def test_context_faithfulness_and_recall(gw: RunningGateway) -> None:
    answer = "Pick the order on the Orders page and press Refund. Refunds arrive by bank cheque."
    faithful, recall = judged(
        gw,
        [
            {"type": "context-faithfulness", "threshold": 0.5},
            {"type": "context-recall"},
        ],
        answer,
        question=QUESTION,
        chunks=CONTEXT,
        expected="Press Refund on the Orders page. Refunds reach the card in five business days. "
        "A gift card is sent too.",
    )
    assert faithful.score == pytest.approx(0.5) and faithful.passed  # 1 of 2 statements
    assert "1 of 2 statements" in faithful.reason
    assert recall.score == pytest.approx(2 / 3) and not recall.passed  # below 0.7
    (none,) = judged(gw, [{"type": "context-faithfulness"}], answer, question=QUESTION)
    assert none.error is not None and "no context" in none.error


#: The Ragas worked example: five chunks whose relevance is 0, 0, 1, 1, 0.
RANKED = [
    "Our office is open on weekdays from nine to five.",
    "The company was founded in a garage in 1999.",
    "Refunds are issued from the Orders page by pressing Refund.",
    "A refund reaches the original card within five business days.",
    "Gift cards cannot be exchanged for cash.",
]


def test_context_precision_ragas_worked_example_end_to_end(gw: RunningGateway) -> None:
    client = GatewayEvalClient(gw.url)
    (g,) = judged(
        gw,
        [{"type": "context-precision"}],
        "whatever the target said",
        question=QUESTION,
        chunks=RANKED,
        expected="Press Refund on the Orders page; the refund reaches the original card.",
        client=client,
    )
    verdict = orjson.loads(asyncio.run(client.chat(client.sent[-1], purpose="judge")).text)
    assert [v["verdict"] for v in verdict["verdicts"]] == [0, 0, 1, 1, 0]
    # (1/3 + 2/4) / 2
    assert g.score == pytest.approx(0.41667, abs=1e-4)
    assert f"{g.score:.3f}" == "0.417"
    assert not g.passed and "[0, 0, 1, 1, 0]" in g.reason
    (lenient,) = judged(
        gw,
        [{"type": "context-precision", "threshold": 0.4}],
        "x",
        question=QUESTION,
        chunks=RANKED,
        expected="Press Refund on the Orders page; the refund reaches the original card.",
    )
    assert lenient.passed


def test_a_judge_of_the_targets_family_is_refused_when_required(gw: RunningGateway) -> None:
    strict = JudgeSettings(model="judge-openai", require_other_family=True)
    before = len(gw.records())
    (g,) = judged(gw, [{"type": "llm-rubric", "value": "press Refund"}], GOOD, judge=strict)
    assert g.error is not None and not g.passed
    assert "gpt-4o" in g.error and "gpt-4o-mini" in g.error and "openai" in g.error
    # The alias says nothing of its family: one call was made, and its served model refused
    # (the call's cost stays on the grade).
    (row,) = judge_rows(gw, before)
    assert g.cost_usd == pytest.approx(int(row["cost_nanousd"]) / 1e9) and g.cost_usd > 0
    ok = JudgeSettings(model="judge", require_other_family=True)
    (g,) = judged(gw, [{"type": "llm-rubric", "value": "press Refund"}], GOOD, judge=ok)
    assert g.error is None and g.passed
    # Named by its model, a same-family judge is refused before any call.
    before = len(gw.records())
    (g,) = judged(
        gw,
        [{"type": "llm-rubric", "value": "press Refund", "provider": "gpt-4o"}],
        GOOD,
        judge=ok,
    )
    assert g.error is not None and len(gw.records()) == before


def test_an_unusable_judge_answer_is_retried_once_then_an_error(gw: RunningGateway) -> None:
    before = len(gw.records())
    (g,) = judged(
        gw, [{"type": "llm-rubric", "value": "press Refund", "provider": "judge-prose"}], GOOD
    )
    assert g.error is not None and "unusable after a retry" in g.error and not g.passed
    rows = judge_rows(gw, before)
    assert len(rows) == 2  # the first answer and the one retry
    assert g.cost_usd == pytest.approx(sum(int(r["cost_nanousd"]) for r in rows) / 1e9)


def test_no_judge_or_a_failing_judge_call_is_an_error(gw: RunningGateway) -> None:
    (g,) = judged(gw, [{"type": "llm-rubric", "value": "x"}], GOOD, judge=JudgeSettings())
    assert g.error is not None and "judge.model" in g.error
    (g,) = judged(gw, [{"type": "llm-rubric", "value": "x", "provider": "no-such-alias"}], GOOD)
    assert g.error is not None and "call failed" in g.error


def test_embedding_scores_rank_relevant_answers_above_unrelated_ones(gw: RunningGateway) -> None:
    # The simulator's embeddings are hashed bags of words: shared words, higher cosine.
    near, far = judged(
        gw,
        [
            {"type": "similar", "value": "Press Refund on the Orders page to get your refund."},
            {"type": "similar", "value": BAD},
        ],
        GOOD,
    )
    assert near.score > far.score
    relevant, unrelated = (
        judged(gw, [{"type": "answer-relevance", "threshold": 0}], answer, question=QUESTION)[0]
        for answer in (GOOD, BAD)
    )
    assert relevant.score > unrelated.score
