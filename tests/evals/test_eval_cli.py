"""``daytwo eval run``: exit codes (0 every item passes, 1 some fail, 2 bad suite or stopped
run, one line, no traceback), the summary, ``--json`` and ``--output``."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from tests.evals.cli import one_line_error
from tests.evals.harness import Project, basic_suite, eval_project, project_config

from daytwo.cli.main import cli
from daytwo.evals.model import RunResult

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("in_project")]


def eval_run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["eval", "run", *args], catch_exceptions=False)


def test_all_pass_exits_0_with_the_summary(tmp_path: Path) -> None:
    eval_project(tmp_path, basic_suite())
    got = eval_run("evals/support.yaml")  # ./daytwo.yaml is the embedded gateway's config
    assert got.exit_code == 0, got.output
    assert "prompt:support-reply@production" in got.stdout and "gpt-4o-mini" in got.stdout
    assert "100.0%" in got.stdout
    assert "4 calls" in got.stdout


def test_a_failing_item_exits_1_and_json_and_output_carry_the_run(tmp_path: Path) -> None:
    suite = basic_suite()
    suite["tests"][1]["assert"].append({"type": "equals", "value": "no simulator says this"})
    project: Project = eval_project(tmp_path, suite)
    got = eval_run(str(project.suite), "--json", "--output", "out/run.json", "-j", "2")
    assert got.exit_code == 1, got.output
    printed = RunResult.from_json(orjson.loads(got.stdout))
    saved = RunResult.from_json(orjson.loads((tmp_path / "out" / "run.json").read_bytes()))
    assert printed == saved
    assert [i.passed for i in printed.items] == [True, False, True, False]
    assert (tmp_path / ".daytwo" / "runs" / f"{printed.run_id}.json").is_file()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda s: s["tests"][0]["assert"].append({"type": "contains-everything"}),
            "evals/support.yaml: tests[0].assert[1].type",
        ),
        (lambda s: s.update(dataset="data/support.jsonl"), "evals/data/support.jsonl"),
        (
            lambda s: s["tests"][1]["vars"].update(mood="angry"),
            "evals/support.yaml: tests[1].vars.mood",
        ),
    ],
)
def test_bad_input_is_one_line_naming_file_and_key_path(
    tmp_path: Path, edit: object, expected: str
) -> None:
    suite = basic_suite()
    edit(suite)  # type: ignore[operator]
    eval_project(tmp_path, suite)
    line = one_line_error(eval_run("evals/support.yaml"))
    assert line.startswith(f"daytwo eval: {expected}: ")
    assert not (tmp_path / ".daytwo" / "runs").exists()


def test_a_spent_budget_exits_2_and_writes_no_run(tmp_path: Path) -> None:
    budget = {
        "name": "evals-daily",
        "scope": {"project": "evals"},
        "window": "day",
        "usd": 0.000001,
    }
    cfg = project_config(tmp_path, spend_control={"budgets": [budget]})
    eval_project(tmp_path, basic_suite(), config=cfg)
    line = one_line_error(eval_run("evals/support.yaml", "--html", "report.html"))
    assert "budget" in line and "project=evals" in line
    assert not (tmp_path / ".daytwo" / "runs").exists()
    assert not (tmp_path / "report.html").exists()


def test_no_gateway_is_a_usage_error(tmp_path: Path) -> None:
    eval_project(tmp_path, basic_suite())
    (tmp_path / "daytwo.yaml").unlink()
    (tmp_path / "evals" / "support.yaml").write_text(
        "targets: [gpt-4o-mini]\nmessages: [{role: user, content: hi}]\ntests: [{vars: {}}]\n"
    )
    line = one_line_error(eval_run("evals/support.yaml"))
    assert "pass --config daytwo.yaml" in line and "--gateway URL" in line


def test_the_group_lists_run_compare_and_import() -> None:
    got = CliRunner().invoke(cli, ["eval", "--help"])
    assert got.exit_code == 0
    for name in ("run", "compare", "import"):
        assert f"  {name} " in got.output
