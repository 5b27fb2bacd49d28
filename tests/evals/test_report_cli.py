"""``daytwo eval run SUITE --junit --html --markdown`` through the embedded gateway and the
simulator: the three reports are written and say what the run did. The reports package stays
light for the CLI that imports it."""

from __future__ import annotations

import html
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import xmlschema
from click.testing import CliRunner
from tests.evals.harness import basic_suite, eval_project

from daytwo.cli.main import cli
from daytwo.evals.model import RunResult

pytestmark = pytest.mark.usefixtures("in_project")

SCHEMA = Path(__file__).parent / "data" / "junit.xsd"


@pytest.mark.integration
def test_eval_run_writes_junit_html_and_markdown(tmp_path: Path) -> None:
    suite = basic_suite()
    suite["tests"][1]["assert"].append({"type": "equals", "value": "no simulator says <this>"})
    eval_project(tmp_path, suite)
    got = CliRunner().invoke(
        cli,
        [
            "eval", "run", "evals/support.yaml", "--output", "out/run.json",
            "--junit", "out/run.xml", "--html", "out/run.html", "--markdown", "out/run.md",
        ],
        catch_exceptions=False,
    )  # fmt: skip
    assert got.exit_code == 1, got.output
    run = RunResult.from_json(orjson.loads((tmp_path / "out" / "run.json").read_bytes()))
    assert [i.passed for i in run.items] == [True, False, True, False]

    junit = (tmp_path / "out" / "run.xml").read_bytes()
    xmlschema.XMLSchema(SCHEMA).validate(junit)
    assert junit.count(b"<failure ") == 2 and junit.count(b"<testcase ") == 4
    assert f'name="run_id" value="{run.run_id}"'.encode() in junit
    assert b"equals" in junit

    comment = (tmp_path / "out" / "run.md").read_text(encoding="utf-8")
    assert comment.startswith("## daytwo eval: support replies\n")
    assert "**2 of 4 items passed (50.0%).**" in comment
    assert f"run `{run.run_id}`" in comment and f"{run.calls} calls" in comment

    page = (tmp_path / "out" / "run.html").read_text(encoding="utf-8")
    assert page.count('<section class="case"') == 2
    shown = html.unescape(page)
    for item in run.items:
        assert item.output is not None and item.output.text in shown
    assert '"topic": "a login problem"' in shown  # the suite's vars, from the CLI's cases
    assert "no simulator says &lt;this&gt;" in page and "says <this>" not in page
    assert not list((tmp_path / "out").glob(".*.tmp"))  # written atomically, nothing left over


def test_the_reports_package_imports_neither_jinja2_nor_rich() -> None:
    code = (
        "import sys, daytwo.evals.report; "
        "print(sorted(m for m in ('jinja2', 'rich') if m in sys.modules))"
    )
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert got.stdout.strip() == "[]"
