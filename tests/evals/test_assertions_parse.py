"""Assertions as written: every bad input is a SuiteError naming the key path; what each type
needs at run time; weights and thresholds carried into the grades."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.evals.grading import context, grades, spec

from daytwo.evals.assertions import KINDS, parse_assertion, requirements
from daytwo.evals.model import ItemResult, JudgeSettings, SuiteError

WHERE = "evals/t.yaml: tests[0].assert[0]"


@pytest.mark.parametrize(
    ("raw", "key", "words"),
    [
        ({"type": "contians", "value": "x"}, "type", "did you mean `contains`"),
        ({"type": "not-icontain", "value": "x"}, "type", "did you mean `not-icontains`"),
        ({"type": "llm-rubrik", "value": "x"}, "type", "did you mean `llm-rubric`"),
        ({"value": "x"}, "type", "expected an assertion type"),
        ({"type": "regex", "value": "([a-z"}, "value", "invalid regular expression"),
        ({"type": "contains"}, "value", "needs a value"),
        ({"type": "llm-rubric"}, "value", "needs a value"),
        ({"type": "python"}, "value", "needs a value"),
        (
            {"type": "python", "value": "output.startswith('Go')"},
            "value",
            "inline Python code is not supported",
        ),
        (
            {"type": "python", "value": "return len(output) > 3"},
            "value",
            "file://checks.py:my_check",
        ),
        ({"type": "is-refusal", "value": "yes"}, "value", "takes no value"),
        ({"type": "latency"}, "threshold", "needs a threshold"),
        ({"type": "cost", "threshold": "cheap"}, "threshold", "expected a number"),
        ({"type": "contains", "value": "x", "weight": -1}, "weight", "expected a number"),
        ({"type": "contains", "value": "x", "treshold": 1}, "treshold", "unknown key"),
        ({"type": "contains", "value": ["x"]}, "value", "expected a string"),
        ({"type": "contains-any", "value": {"a": 1}}, "value", "list of strings"),
        ({"type": "word-count", "value": {"min": 5, "max": 2}}, "value", "above max"),
        ({"type": "word-count", "value": {"least": 2}}, "value.least", "unknown key"),
        ({"type": "is-json", "value": {"type": "objekt"}}, "value", "invalid JSON schema"),
        ({"type": "is-json", "value": "file://missing.json"}, "value", "cannot read"),
        ({"type": "rouge-n", "value": "x", "config": {"n": 0}}, "config.n", "1 or more"),
        ({"type": "rouge-n", "value": "x", "config": {"m": 2}}, "config.m", "unknown option"),
        (
            {"type": "contains", "value": "x", "provider": "judge"},
            "provider",
            "makes no model call",
        ),
        ({"type": "llm-rubric", "value": "x", "provider": 3}, "provider", "model alias"),
        ({"type": "tool-call", "value": {"nam": "f"}}, "value", "tool name"),
    ],
)
def test_bad_input_names_the_key(raw: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(SuiteError) as err:
        parse_assertion(raw, WHERE)
    assert err.value.where == f"{WHERE}.{key}"
    assert words in err.value.message
    assert str(err.value).startswith(f"{WHERE}.{key}: ")


def test_not_a_mapping() -> None:
    with pytest.raises(SuiteError) as err:
        parse_assertion("contains", WHERE)  # type: ignore[arg-type]
    assert err.value.where == WHERE


def test_requirements() -> None:
    def req(raw: dict[str, Any]) -> set[str]:
        return requirements(spec(raw))

    assert req({"type": "contains", "value": "x"}) == set()
    assert req({"type": "llm-rubric", "value": "x"}) == {"judge"}
    assert req({"type": "llm-rubric", "value": "x", "provider": "judge-b"}) == set()
    assert req({"type": "not-factuality"}) == {"judge"}
    assert req({"type": "similar", "value": "x"}) == {"embeddings"}
    assert req({"type": "similar", "value": "x", "provider": "embed"}) == set()
    assert req({"type": "answer-relevance"}) == {"judge", "embeddings"}
    assert req({"type": "answer-relevance", "provider": {"text": "j", "embedding": "e"}}) == set()
    assert req({"type": "answer-relevance", "provider": "j"}) == {"embeddings"}
    for name in ("context-faithfulness", "context-recall", "context-precision", "g-eval"):
        assert "judge" in req({"type": name, "value": "x"} if name == "g-eval" else {"type": name})


def test_every_type_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "assertions.md").read_text()
    missing = [name for name in KINDS if f"`{name}`" not in doc]
    assert not missing


def test_weights_and_thresholds_shape_the_items_score() -> None:
    ctx = context("Go to Orders, pick the order, press Refund.")
    gs = grades(
        [
            {"type": "icontains", "value": "refund", "weight": 3},
            {"type": "contains", "value": "Cart", "weight": 1},
            {"type": "word-count", "value": {"max": 3}, "weight": 0},  # reported, not counted
        ],
        ctx,
    )
    assert [g.passed for g in gs] == [True, False, False]
    assert [g.weight for g in gs] == [3.0, 1.0, 0.0]
    item = ItemResult(
        case_id="c0", case_index=0, target="t", repeat=0, output=ctx.output, grades=gs
    )
    assert item.score == pytest.approx(3 / 4)
    assert not item.passed and not item.is_error


def test_a_judge_prompt_past_the_sandboxs_bound_is_an_error_before_any_call() -> None:
    # NOWHERE (the default client) reaches nothing: the grade must not try a call.
    ctx = context("x", chunks=["word " * 50_000], judge=JudgeSettings(model="judge"))
    (g,) = grades([{"type": "context-faithfulness"}], ctx)
    assert g.error is not None and "could not be rendered" in g.error
