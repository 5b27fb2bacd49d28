"""The offline embedding model (``embedding_model: local:all-MiniLM-L6-v2``): real vectors from
the model the ``local-embeddings`` extra ships, ``similar`` graded with it in a real run through
the embedded gateway (no embeddings call in the ledger), and a clear error at load time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from click.testing import Result
from tests.evals.cli import daytwo
from tests.evals.harness import Project, eval_project, project_config

from daytwo.evals import local_embeddings
from daytwo.evals.model import RunResult

MODEL = "local:all-MiniLM-L6-v2"


def run_in(project: Project, *args: str) -> Result:
    """``daytwo eval run`` of the project's suite, its config and cache."""
    return daytwo(
        "eval", "run", str(project.suite), "--config", str(project.config),
        "--cache-dir", str(project.cache_dir), *args,
    )  # fmt: skip


def test_vectors_are_the_models_unit_vectors_and_rank_by_meaning() -> None:
    texts = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The new movie is awesome.",
        "How do I get a refund?",
        "Open Orders, pick the order and press Refund to get your money back.",
    ]
    v = np.array(local_embeddings.embed(texts, MODEL))
    assert v.shape == (5, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    # sentence-transformers' fp32 model gives 0.755 for the first pair; the int8 file is close.
    assert 0.70 < sims[0, 1] < 0.80
    assert sims[0, 2] < 0.2 and sims[3, 2] < 0.2
    assert sims[3, 4] > sims[3, 0] + 0.3  # the refund answer is about the refund question
    # Deterministic, and a batch gives what one text alone gives (padding is masked out).
    again = np.array(local_embeddings.embed([texts[1]], MODEL))
    assert np.allclose(again[0], v[1], atol=1e-5)


def test_an_unknown_local_model_is_named() -> None:
    problem = local_embeddings.check_model("local:bert-huge")
    assert problem is not None and "bert-huge" in problem and "all-MiniLM-L6-v2" in problem


RIGHT = "Open Orders, choose the order and press Refund; the money is back within 5 days."


@pytest.mark.integration
def test_similar_with_the_local_model_grades_a_real_run_without_an_embeddings_call(
    tmp_path: Path,
) -> None:
    cfg: dict[str, Any] = project_config(tmp_path)
    cfg["providers"]["sim"]["sim"]["quality"] = {
        "answers": [{"match": {"exact": "How do I get a refund?"}, "answer": RIGHT}],
        "correct_rate": 1.0,
    }
    suite = {
        "targets": ["gpt-4o-mini"],
        "messages": [{"role": "user", "content": "{{ q }}"}],
        "params": {"max_tokens": 60},
        "embedding_model": MODEL,
        "tests": [
            {
                "id": "close",
                "vars": {"q": "How do I get a refund?"},
                "assert": [
                    {
                        "type": "similar",
                        "value": "Press Refund on the order in Orders; you are paid back in days.",
                    }
                ],
            },
            {
                "id": "far",
                "vars": {"q": "How do I get a refund?"},
                "assert": [{"type": "similar", "value": "Our stores open at nine on Sundays."}],
            },
        ],
    }
    project = eval_project(tmp_path, suite, config=cfg)
    got = run_in(project, "--json")
    assert got.exit_code == 1, got.output  # "far" fails
    run = RunResult.from_json(orjson.loads(got.stdout))
    by_id = {item.case_id: item for item in run.items}
    close, far = by_id["close"].grades[0], by_id["far"].grades[0]
    assert close.passed and close.score > 0.75, close
    assert not far.passed and far.score < 0.3, far
    assert close.cost_usd == 0.0
    rows = project.rows()
    assert rows and all(r["operation"] != "embeddings" for r in rows)


def test_a_suite_naming_an_unknown_local_model_is_refused_at_load(tmp_path: Path) -> None:
    suite = {
        "targets": ["gpt-4o-mini"],
        "messages": [{"role": "user", "content": "hi"}],
        "embedding_model": "local:bert-huge",
        "tests": [{"assert": [{"type": "similar", "value": "hello"}]}],
    }
    project = eval_project(tmp_path, suite)
    got = run_in(project)
    assert got.exit_code == 2, got.output
    line = got.stderr.strip()
    assert "\n" not in line and "embedding_model" in line and "bert-huge" in line
