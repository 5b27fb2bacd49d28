"""End to end: a candidate the simulator makes 10 points worse (correct 80 % vs 90 %, same
items) is flagged worse with n=200 and not with n=10, where the comparison says "no detectable
difference" and how large a difference it could have seen (the MDE). Every answer goes through
the embedded gateway; the statistics are daytwo.evals.compare's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.evals.harness import project_config

from daytwo.config.load import load_config
from daytwo.evals.compare import compare
from daytwo.evals.runner import RunOptions, execute, load_suite

pytestmark = pytest.mark.integration

QUESTIONS = 200


def scripted_project(tmp_path: Path, n: int) -> tuple[Path, Path]:
    """The simulator's script: one answer per question, 90 % right by default, 80 % for the
    model behind ``weak``; a suite of the first ``n`` questions, graded on the right answer."""
    rows = [
        {"match": {"exact": f"Question {i}: what is the code?"}, "answer": f"code-{i:03d}-ok"}
        for i in range(QUESTIONS)
    ]
    (tmp_path / "answers.jsonl").write_text("\n".join(orjson.dumps(r).decode() for r in rows))
    cfg: dict[str, Any] = project_config(tmp_path)
    cfg.pop("prompts")
    cfg["providers"]["sim"]["sim"]["quality"] = {
        "answers_file": "answers.jsonl",
        "correct_rate": 0.9,
        "refusal_rate": 0.0,
        "personalities": {"gpt-4o-mini": {"correct_rate": 0.8}},
    }
    cfg["models"]["strong"] = {"deployments": [{"provider": "sim", "model": "gpt-4o"}]}
    cfg["models"]["weak"] = {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}
    config = tmp_path / "daytwo.yaml"
    config.write_text(yaml.safe_dump(cfg))
    data = [
        {
            "vars": {"q": f"Question {i}: what is the code?"},
            "assert": [{"type": "contains", "value": f"code-{i:03d}-ok"}],
        }
        for i in range(n)
    ]
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "codes.jsonl").write_text(
        "\n".join(orjson.dumps(r).decode() for r in data)
    )
    suite = tmp_path / "evals" / "codes.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "targets": ["strong", "weak"],
                "messages": [{"role": "user", "content": "{{ q }}"}],
                "params": {"max_tokens": 50},
                "dataset": "codes.jsonl",
            }
        )
    )
    return config, suite


@pytest.mark.parametrize(("n", "verdict"), [(200, "worse"), (10, "no detectable difference")])
def test_ten_points_worse_is_flagged_at_200_items_not_at_10(
    tmp_path: Path, n: int, verdict: str
) -> None:
    config, suite_path = scripted_project(tmp_path, n)
    suite = load_suite(suite_path, load_config(config), config_dir=tmp_path)
    run = execute(suite, RunOptions(config=config, cache_dir=tmp_path / ".daytwo", concurrency=16))
    strong, weak = run.for_target("strong"), run.for_target("weak")
    assert len(strong) == len(weak) == n and not any(i.is_error for i in run.items)
    pass_rate = sum(i.passed for i in strong) / n, sum(i.passed for i in weak) / n
    assert pass_rate[0] >= 0.8  # the scripted answers are what is graded
    got = compare(strong, weak, baseline_label="strong", candidate_label="weak")
    passed = got.metric("pass")
    assert passed is not None and passed.n == n
    assert (passed.baseline, passed.candidate) == pytest.approx(pass_rate)
    assert passed.verdict == verdict
    if n == 200:
        assert passed.delta == pytest.approx(-0.1, abs=0.04)
        assert passed.p_value is not None and passed.p_value < 0.01
    else:
        assert passed.mde is not None and passed.mde > abs(passed.delta)
