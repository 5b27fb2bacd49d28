"""``daytwo eval import promptfoo``: a real promptfoo example imported, then run for real with
``daytwo eval run`` through the embedded gateway and the simulator; bad input is one line,
exit 2."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.evals.cli import daytwo
from tests.evals.harness import project_config
from tests.gateway.harness import route

from daytwo.evals.model import RunResult

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("in_project")]
DATA = Path(__file__).parent / "data" / "promptfoo"


def project(tmp_path: Path, example: str, *aliases: str) -> Path:
    """The example copied into ``promptfoo/``, and a daytwo.yaml whose ``aliases`` are served
    by the simulator."""
    shutil.copytree(DATA / example, tmp_path / "promptfoo")
    cfg = project_config(tmp_path)
    (tmp_path / "prompts").mkdir()  # the config's prompt directory (no prompt targets here)
    for alias in aliases:
        cfg["models"][alias] = route("sim", "gpt-4o-mini")
    (tmp_path / "daytwo.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return tmp_path / "promptfoo" / "promptfooconfig.yaml"


def project_rows(root: Path) -> list[dict[str, Any]]:
    """The ledger's rows (the embedded gateway flushed them when it stopped)."""
    conn = sqlite3.connect(root / "ledger.db")
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM calls")]
    finally:
        conn.close()


def run_json(suite: str) -> tuple[int, RunResult]:
    got = daytwo("eval", "run", suite, "--json")
    assert got.exit_code in (0, 1), got.output
    return got.exit_code, RunResult.from_json(orjson.loads(got.stdout))


def test_getting_started_imports_and_runs_through_the_gateway(tmp_path: Path) -> None:
    config = project(tmp_path, "getting-started", "gpt-4.1", "o4-mini")
    got = daytwo("eval", "import", "promptfoo", str(config))
    assert got.exit_code == 0, got.output
    assert got.stdout == "wrote evals/promptfoo.yaml: 4 targets, 2 tests\n"
    _, result = run_json("evals/promptfoo.yaml")
    assert len(result.items) == 8  # 2 prompts x 2 providers x 2 tests
    assert {i.target for i in result.items} == {
        "openai:gpt-4.1 / prompt1",
        "openai:gpt-4.1 / prompt2",
        "openai:o4-mini / prompt1",
        "openai:o4-mini / prompt2",
    }
    assert all(i.error is None for i in result.items)
    assert all(i.grades[0].assertion in ("contains", "icontains") for i in result.items)


def test_prompts_dir_targets_run_as_prompt_references(tmp_path: Path) -> None:
    config = project(tmp_path, "getting-started", "gpt-4.1", "o4-mini")
    got = daytwo("eval", "import", "promptfoo", str(config), "--prompts-dir", "prompts")
    assert got.exit_code == 0, got.output
    assert "wrote prompts/openai-o4-mini-prompt2/v1.yaml" in got.stdout.splitlines()
    _, result = run_json("evals/promptfoo.yaml")
    assert len(result.items) == 8 and all(i.error is None for i in result.items)
    assert {t.model for t in result.targets} == {
        "prompt:openai-gpt-4-1-prompt1@v1",
        "prompt:openai-gpt-4-1-prompt2@v1",
        "prompt:openai-o4-mini-prompt1@v1",
        "prompt:openai-o4-mini-prompt2@v1",
    }
    # the gateway rendered the prompt and recorded its name and version on every call
    rows = project_rows(tmp_path)
    assert sorted({(r["prompt_name"], r["prompt_version"]) for r in rows}) == [
        ("openai-gpt-4-1-prompt1", 1),
        ("openai-gpt-4-1-prompt2", 1),
        ("openai-o4-mini-prompt1", 1),
        ("openai-o4-mini-prompt2", 1),
    ]
    # a second import into the same folder refuses to overwrite, and writes nothing
    again = daytwo(
        "eval", "import", "promptfoo", str(config), "--prompts-dir", "prompts", "-o", "x.yaml"
    )
    assert again.exit_code == 2
    assert again.stderr.strip().endswith("exists: the import does not overwrite prompts")
    assert not (tmp_path / "x.yaml").exists()


def test_rubric_example_runs_its_judged_metrics(tmp_path: Path) -> None:
    config = project(tmp_path, "eval-customer-support-rubric", "gpt-4.1-mini")
    got = daytwo(
        "eval", "import", "promptfoo", str(config), "-o", "evals/support.yaml",
        "--model", "gpt-4o-mini",
    )  # fmt: skip
    assert got.exit_code == 0, got.output
    out = got.stdout.splitlines()
    assert out[0] == "wrote evals/support.yaml: 1 targets, 8 tests"
    assert out[1] == "not carried (12):"
    assert "  tests.csv[3].threshold: a test-level score threshold is not carried" in got.stdout
    _, result = run_json("evals/support.yaml")
    assert len(result.items) == 8
    metrics = {g.metric for i in result.items for g in i.grades}
    assert metrics == {"correct", "resolved", "honest", "handoff", "language_fit"}
    assert all(i.error is None for i in result.items), [i.error for i in result.items]
    assert result.calls == 8 + 8 * 5  # the answers, then one judge call per rubric
    assert all(g.cost_usd > 0 for i in result.items for g in i.grades)


def test_json_lists_what_was_not_carried(tmp_path: Path) -> None:
    config = project(tmp_path, "simple-test")
    got = daytwo("eval", "import", "promptfoo", str(config), "--json", "-o", "evals/pirate.yaml")
    assert got.exit_code == 0, got.output
    data = orjson.loads(got.stdout)
    assert (data["suite"], data["targets"], data["tests"]) == ("evals/pirate.yaml", 2, 5)
    assert {
        "where": "tests[3].assert[0]",
        "reason": "type javascript: inline code is not run by daytwo",
    } in data["not_carried"]
    assert (tmp_path / "evals" / "pirate.yaml").is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nope.yaml"], "daytwo eval: nope.yaml: file not found"),
        (
            ["bad.yaml"],
            "daytwo eval: bad.yaml: a promptfoo config is a mapping (prompts, providers, tests)",
        ),
        (["ok.yaml", "--alias", "openai"], "daytwo eval: --alias: expected ID=ALIAS, got `openai`"),
        (
            ["echo.yaml"],
            "daytwo eval: echo.yaml: providers: no provider maps to a daytwo model alias (echo): "
            "pass --model ALIAS or --alias ID=ALIAS",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "bad.yaml").write_text("- 1\n")
    (tmp_path / "ok.yaml").write_text("prompts: [hi]\nproviders: [openai:x]\n")
    (tmp_path / "echo.yaml").write_text("prompts: [hi]\nproviders: [echo]\ntests: [{}]\n")
    got = daytwo("eval", "import", "promptfoo", *args)
    assert got.exit_code == 2, got.output
    assert got.stdout == ""
    assert got.stderr.splitlines() == [expected]
    assert not (tmp_path / "evals").exists()
