"""The Ragas formulas on fixed verdicts (the worked example included) and judge families."""

from __future__ import annotations

import pytest

from daytwo.evals.assertions import model_family
from daytwo.evals.assertions.rag import answer_relevance, context_precision, fraction


def test_context_precision_ragas_worked_example() -> None:
    # Relevant at ranks 3 and 4: (precision@3 + precision@4) / 2 = (1/3 + 2/4) / 2.
    assert context_precision([0, 0, 1, 1, 0]) == pytest.approx(0.41667, abs=1e-5)
    assert round(context_precision([0, 0, 1, 1, 0]), 3) == 0.417


@pytest.mark.parametrize(
    ("verdicts", "score"),
    [
        ([1, 1, 1], 1.0),
        ([1, 0, 0], 1.0),  # one relevant chunk, ranked first
        ([0, 0, 1], 1 / 3),
        ([1, 0, 1], (1 + 2 / 3) / 2),
        ([0, 0, 0], 0.0),
        ([], 0.0),
    ],
)
def test_context_precision_rewards_relevant_chunks_ranked_early(
    verdicts: list[int], score: float
) -> None:
    assert context_precision(verdicts) == pytest.approx(score)


def test_faithfulness_and_recall_are_the_share_of_supported_items() -> None:
    assert fraction([1, 0, 1, 1]) == pytest.approx(0.75)
    assert fraction([]) == 0.0


def test_answer_relevance_is_the_mean_cosine_and_zero_when_noncommittal() -> None:
    q = [1.0, 0.0]
    assert answer_relevance(q, [[1.0, 0.0], [0.0, 1.0]], False) == pytest.approx(0.5)
    assert answer_relevance(q, [[2.0, 0.0]], False) == pytest.approx(1.0)
    assert answer_relevance(q, [[1.0, 0.0]], True) == 0.0


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("gpt-4o-mini", "openai"),
        ("openai/gpt-4.1", "openai"),
        ("o3-mini", "openai"),
        ("o1", "openai"),
        ("claude-haiku-4-5", "anthropic"),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic"),
        ("gemini-2.0-flash", "google"),
        ("models/gemini-1.5-pro", "google"),
        ("meta-llama/Llama-3.1-8B-Instruct", "meta"),
        ("meta.llama3-8b-instruct-v1:0", "meta"),
        ("mistral-large-latest", "mistral"),
        ("mixtral-8x7b", "mistral"),
        ("command-r-plus", "cohere"),
        ("deepseek-chat", "deepseek"),
        ("qwen2.5-72b", "alibaba"),
        ("judge", None),
        ("prompt:support-reply@v3", None),
        ("", None),
        (None, None),
        ("photo-model", None),
    ],
)
def test_model_family(name: str | None, family: str | None) -> None:
    assert model_family(name) == family
