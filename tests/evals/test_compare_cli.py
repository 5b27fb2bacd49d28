"""``daytwo eval compare``: two labels run on the suite's items in one run, two saved runs,
the table and ``--json``; bad input is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from tests.evals.cli import one_line_error
from tests.evals.harness import basic_suite, eval_project

from daytwo.cli.main import cli

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("in_project")]

PROD, MINI = "prompt:support-reply@production", "gpt-4o-mini"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["eval", *args], catch_exceptions=False)


def test_two_labels_run_once_on_the_same_items_and_print_the_table(tmp_path: Path) -> None:
    project = eval_project(tmp_path, basic_suite())
    got = invoke(
        "compare", "--suite", "evals/support.yaml", "--baseline", PROD, "--candidate", MINI
    )
    assert got.exit_code == 0, got.output
    assert f"{MINI} (candidate) vs {PROD} (baseline), 2 paired items" in got.stdout
    for metric in ("pass", "score", "cost_per_call", "latency_p95_ms"):
        assert f"│ {metric} " in got.stdout
    (saved,) = project.runs()  # one run holding both sides
    run = orjson.loads(saved.read_bytes())
    assert [t["label"] for t in run["targets"]] == [PROD, MINI]
    assert len(run["items"]) == 4


def test_json_carries_the_comparison_and_the_run_id(tmp_path: Path) -> None:
    project = eval_project(tmp_path, basic_suite())
    got = invoke("compare", "--suite", "evals/support.yaml", "--json")  # the suite's two targets
    assert got.exit_code == 0, got.output
    data = orjson.loads(got.stdout)
    assert set(data) == {"comparison", "run_id"}
    assert project.runs()[0].stem == data["run_id"]
    comparison = data["comparison"]
    assert (comparison["baseline"], comparison["candidate"]) == (PROD, MINI)
    assert comparison["n_items"] == 2
    pass_ = next(m for m in comparison["metrics"] if m["metric"] == "pass")
    assert pass_["baseline"] == pass_["candidate"] == 1.0 and pass_["n"] == 2
    assert set(pass_) >= {"delta", "ci_low", "ci_high", "p_value", "verdict", "mde", "test"}


def test_two_saved_runs_compare_without_a_suite_or_a_call(tmp_path: Path) -> None:
    suite = basic_suite()
    suite["tests"][1]["assert"].append({"type": "contains", "value": "no simulator says this"})
    project = eval_project(tmp_path, suite)
    for target, out in ((PROD, "a.json"), (MINI, "b.json")):
        got = invoke("run", "evals/support.yaml", "--target", target, "--output", out)
        assert got.exit_code == 1, got.output
    (tmp_path / "daytwo.yaml").unlink()  # no gateway needed
    got = invoke("compare", "--baseline", "a.json", "--candidate", "run:b.json", "--json")
    assert got.exit_code == 0, got.output
    data = orjson.loads(got.stdout)
    assert data["run_id"] == orjson.loads((tmp_path / "b.json").read_bytes())["run_id"]
    comparison = data["comparison"]
    assert (comparison["baseline"], comparison["candidate"]) == (PROD, MINI)
    pass_ = next(m for m in comparison["metrics"] if m["metric"] == "pass")
    assert pass_["baseline"] == pass_["candidate"] == 0.5
    assert len(project.runs()) == 2  # nothing new was run


def test_a_saved_run_with_two_targets_needs_a_label(tmp_path: Path) -> None:
    eval_project(tmp_path, basic_suite())
    assert invoke("run", "evals/support.yaml", "--output", "both.json").exit_code == 0
    line = one_line_error(invoke("compare", "--baseline", "both.json", "--candidate", MINI))
    assert line.startswith("daytwo eval compare: both.json: the run has targets ")
    assert "both.json#LABEL" in line
    got = invoke("compare", "--baseline", f"both.json#{PROD}", "--candidate", f"both.json#{MINI}")
    assert got.exit_code == 0, got.output
    assert f"{MINI} (candidate) vs {PROD} (baseline)" in got.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--baseline", PROD, "--candidate", MINI), "a target label needs --suite"),
        (("--baseline", "run:missing.json", "--candidate", "run:b.json"), "missing.json: no such"),
        (("--suite", "evals/support.yaml", "--baseline", MINI, "--candidate", MINI), "the same"),
        (("--suite", "evals/support.yaml", "--candidate", "prompt:nope@v1"), "nope"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    project = eval_project(tmp_path, basic_suite())
    line = one_line_error(invoke("compare", *args))
    assert line.startswith("daytwo eval compare: ") and expected in line
    assert project.runs() == []
