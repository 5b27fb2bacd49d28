"""The simulator playing daytwo's judge: deterministic verdicts from word overlap, only for
requests that are daytwo's judge requests."""

from __future__ import annotations

from typing import Any

import orjson

from daytwo.core import judging
from daytwo.providers.sim.judge import judge_answer, share, words


def body(kind: str, content: str) -> dict[str, Any]:
    return {
        "model": "judge",
        "messages": [
            {"role": "system", "content": "You grade."},
            {"role": "user", "content": content},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": kind, "strict": True, "schema": {}},
        },
    }


def answer(kind: str, content: str) -> dict[str, Any]:
    text = judge_answer(body(kind, content))
    assert text is not None
    out: dict[str, Any] = orjson.loads(text)
    return out


def test_other_requests_are_not_judged() -> None:
    assert judge_answer({"model": "m", "messages": [{"role": "user", "content": "hi"}]}) is None
    assert judge_answer(body("customer_schema", "<answer>x</answer>")) is None
    assert judge_answer(body("daytwo_unknown", "<answer>x</answer>")) is None


def test_words_and_share() -> None:
    assert words("The Refund is on the Orders page.") == {"refund", "orders", "page"}
    assert share("refund orders page", "Press Refund on Orders") == 2 / 3
    assert share("the a of", "anything") == 0.0


def test_rubric_scores_coverage_of_the_reference_else_the_rubric() -> None:
    got = answer(
        judging.RUBRIC, "<criteria>refund from orders</criteria><answer>refund via orders</answer>"
    )
    assert got["score"] == 1.0 and got["pass"] is True
    got = answer(
        judging.RUBRIC,
        "<criteria>mentions refund</criteria><reference>cancel card payment</reference>"
        "<answer>refund</answer>",
    )
    assert got["score"] == 0.0 and got["pass"] is False


def test_rag_verdicts_per_statement_sentence_and_chunk() -> None:
    ctx = (
        '<context index="1">Refunds come from the Orders page.</context>'
        '<context index="2">Cards take five days.</context>'
    )
    got = answer(
        judging.FAITHFULNESS,
        ctx + "<answer>Refunds come from the Orders page. Cash is mailed.</answer>",
    )
    assert [s["verdict"] for s in got["statements"]] == [1, 0]
    got = answer(
        judging.RECALL,
        ctx + "<reference>Cards take five days. Gift vouchers are mailed!</reference>",
    )
    assert [s["attributed"] for s in got["sentences"]] == [1, 0]
    got = answer(judging.PRECISION, "<answer>Cards take five days</answer>" + ctx)
    assert [(v["index"], v["verdict"]) for v in got["verdicts"]] == [(1, 0), (2, 1)]


def test_questions_come_from_the_answers_content_words() -> None:
    got = answer(judging.QUESTIONS, "<answer>Refunds come from the Orders page.</answer>")
    assert len(got["questions"]) == 3 and all(
        "refunds come orders page" in q for q in got["questions"]
    )
    assert got["noncommittal"] is False
    assert answer(judging.QUESTIONS, "<answer>I don't know.</answer>")["noncommittal"] is True


def test_pairwise_prefers_coverage_and_the_first_position_when_close() -> None:
    ref = "<question>q</question><reference>press refund orders page</reference>"
    clear = answer(
        judging.PAIRWISE,
        ref + "<answer_a>office hours</answer_a><answer_b>press refund on orders page</answer_b>",
    )
    assert clear["winner"] == "B"
    close = "<answer_a>press refund orders</answer_a><answer_b>orders press refund</answer_b>"
    assert answer(judging.PAIRWISE, ref + close)["winner"] == "A"


def test_the_judges_own_earlier_answer_is_not_read() -> None:
    b = body(judging.CLOSEDQA, "<criteria>refund</criteria><answer>refund</answer>")
    b["messages"].append({"role": "assistant", "content": "<answer>nothing</answer>"})
    text = judge_answer(b)
    assert text is not None and orjson.loads(text)["verdict"] == "Y"
