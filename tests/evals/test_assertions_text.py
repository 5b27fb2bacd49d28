"""The text assertions against known outputs: each passes on an output that meets it and fails
on one that does not; negation inverts; scores, thresholds and weights."""

from __future__ import annotations

from typing import Any

import pytest
from tests.evals.grading import context, grades, one

from daytwo.evals.assertions.text import rouge_n

REFUND = "Go to Orders, pick the order, press Refund."


@pytest.mark.parametrize(
    ("raw", "good", "bad"),
    [
        ({"type": "equals", "value": "4"}, "4", "4 "),
        ({"type": "equals", "value": {"a": 1, "b": [2]}}, '{"b": [2], "a": 1}', '{"a": 1}'),
        ({"type": "contains", "value": "Refund"}, REFUND, REFUND.lower()),
        ({"type": "icontains", "value": "REFUND"}, REFUND, "Go to Orders."),
        ({"type": "contains-any", "value": ["Cart", "Orders"]}, REFUND, "Go to the shop"),
        ({"type": "contains-any", "value": "refund, Orders"}, "see Orders", "see orders"),
        ({"type": "icontains-any", "value": ["CART", "ORDERS"]}, REFUND, "nothing here"),
        ({"type": "contains-all", "value": ["Orders", "Refund"]}, REFUND, "Go to Orders."),
        ({"type": "icontains-all", "value": ["orders", "refund"]}, REFUND, "press refund"),
        ({"type": "starts-with", "value": "Go to"}, REFUND, " Go to Orders"),
        ({"type": "regex", "value": r"press \w+\.$"}, REFUND, "press Refund now"),
        ({"type": "word-count", "value": 8}, REFUND, "Go to Orders."),
        ({"type": "word-count", "value": {"min": 2, "max": 4}}, "Go to Orders.", REFUND),
        ({"type": "word-count", "value": {"max": 3}}, "Go to Orders.", REFUND),
        ({"type": "levenshtein", "value": "kitten", "threshold": 3}, "sitting", "sitting down"),
        ({"type": "rouge-n", "value": "the cat sat on the mat"}, "the cat sat on a mat", "a dog"),
    ],
)
def test_pass_and_fail_on_known_outputs(raw: dict[str, Any], good: str, bad: str) -> None:
    g = one(raw, good)
    assert g.passed and g.error is None, g.reason
    b = one(raw, bad)
    assert not b.passed and b.error is None, b.reason
    # Negation inverts both.
    neg = {**raw, "type": "not-" + raw["type"]}
    assert not one(neg, good).passed
    nb = one(neg, bad)
    assert nb.passed and nb.assertion == "not-" + raw["type"]


def test_reference_types_default_to_the_cases_expected_answer() -> None:
    ctx = context("the cat sat on the mat", expected="the cat sat on the mat")
    eq, lev, rouge = grades([{"type": "equals"}, {"type": "levenshtein"}, {"type": "rouge-n"}], ctx)
    assert eq.passed and lev.passed and rouge.passed
    # With neither a value nor an expected answer: an error, not a failure.
    (g,) = grades([{"type": "equals"}], context("x"))
    assert g.error is not None and "expected" in g.error and not g.passed


def test_levenshtein_threshold_is_the_largest_distance_allowed() -> None:
    # kitten → sitting: 3 edits.
    assert one({"type": "levenshtein", "value": "kitten", "threshold": 3}, "sitting").passed
    assert not one({"type": "levenshtein", "value": "kitten", "threshold": 2}, "sitting").passed
    # Without a threshold, promptfoo's 5.
    assert one({"type": "levenshtein", "value": "abcdefgh"}, "abcxyzgh").passed  # 3 edits
    assert not one({"type": "levenshtein", "value": "abcdefgh"}, "zzzzzzzz").passed
    g = one({"type": "levenshtein", "value": "kitten", "threshold": 3}, "sitting")
    assert g.score == pytest.approx(1 - 3 / 7)


def test_rouge_n_is_clipped_ngram_recall() -> None:
    # Reference unigrams: the (twice) cat sat on mat, 6; the candidate has one `the`: 5 of 6.
    assert rouge_n("the cat sat on a mat", "the cat sat on the mat") == pytest.approx(5 / 6)
    # Bigrams: the-cat cat-sat sat-on on-the the-mat; the candidate has the first three.
    assert rouge_n("the cat sat on a mat", "the cat sat on the mat", 2) == pytest.approx(3 / 5)
    assert rouge_n("anything", "") == 0.0
    g = one(
        {"type": "rouge-n", "value": "the cat sat on the mat", "config": {"n": 2}},
        "the cat sat on a mat",
    )
    assert g.score == pytest.approx(0.6) and not g.passed  # default threshold 0.75
    g = one(
        {
            "type": "rouge-n",
            "value": "the cat sat on the mat",
            "config": {"n": 2},
            "threshold": 0.6,
        },
        "the cat sat on a mat",
    )
    assert g.passed


def test_negated_score_is_its_complement_and_metric_and_weight_are_carried() -> None:
    raw = {
        "type": "not-rouge-n",
        "value": "a b c d",
        "threshold": 0.5,
        "weight": 3,
        "metric": "novelty",
    }
    g = one(raw, "a b x y")  # recall 0.5
    assert g.score == pytest.approx(0.5) and g.metric == "novelty" and g.weight == 3.0
    assert not g.passed  # recall 0.5 meets the threshold, so its negation fails
    g = one(raw, "x y z")
    assert g.passed and g.score == pytest.approx(1.0)


def test_the_metric_name_defaults_to_the_type_as_written() -> None:
    a, b = grades(
        [{"type": "contains", "value": "x"}, {"type": "not-contains", "value": "y"}], context("x")
    )
    assert (a.metric, b.metric) == ("contains", "not-contains")
    assert a.passed and b.passed
