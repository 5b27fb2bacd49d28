"""``python`` assertions: a named function in the user's module, imported (never eval'd),
called with the output and the test's context; what it returns becomes the grade."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tests.evals.grading import context, one

from daytwo.evals.assertions import parse_assertion
from daytwo.evals.model import SuiteError

CHECKS = """
import json

def mentions_refund(output, context):
    return "refund" in output.lower()

def length_score(output, context):
    return min(1.0, len(output.split()) / 10)

def graded(output, context):
    ok = context["vars"]["customer"] in output and context["expected"] in output
    why = "named the customer" if ok else "did not"
    return {"pass": ok, "score": 0.9 if ok else 0.1, "reason": why}

def sees_the_test(output, context):
    return context["test"]["id"] == "c0" and context["context"] == ["chunk one"]

async def slow_check(output, context):
    return True

def explodes(output, context):
    raise KeyError("customer")

def says_nothing(output, context):
    return None
"""


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "support.py").write_text(CHECKS)
    (tmp_path / "mychecks").mkdir()
    (tmp_path / "mychecks" / "__init__.py").write_text("")
    (tmp_path / "mychecks" / "tone.py").write_text(
        textwrap.dedent(
            """
            def polite(output, context):
                return "please" in output.lower()
            """
        )
    )
    return tmp_path


def test_bool_number_and_mapping_results(suite_dir: Path) -> None:
    ref = "file://checks/support.py:"
    assert one(
        {"type": "python", "value": ref + "mentions_refund"}, "Press Refund.", suite_dir
    ).passed
    assert not one(
        {"type": "python", "value": ref + "mentions_refund"}, "Press Cancel.", suite_dir
    ).passed
    # A number is a score: above 0 passes without a threshold, at or above it with one.
    g = one({"type": "python", "value": ref + "length_score"}, "one two three", suite_dir)
    assert g.passed and g.score == pytest.approx(0.3)
    g = one(
        {"type": "python", "value": ref + "length_score", "threshold": 0.5},
        "one two three",
        suite_dir,
    )
    assert not g.passed
    ctx = context("Hi Ann, press Refund.", expected="press Refund", vars={"customer": "Ann"})
    g = one({"type": "python", "value": ref + "graded"}, ctx, suite_dir)
    assert g.passed and g.score == pytest.approx(0.9) and g.reason == "named the customer"
    ctx = context("x", chunks=["chunk one"])
    assert one({"type": "python", "value": ref + "sees_the_test"}, ctx, suite_dir).passed
    assert one({"type": "python", "value": ref + "slow_check"}, "x", suite_dir).passed
    assert not one({"type": "not-python", "value": ref + "slow_check"}, "x", suite_dir).passed


def test_a_module_under_the_suite_directory(suite_dir: Path) -> None:
    assert one(
        {"type": "python", "value": "mychecks.tone:polite"}, "Please wait.", suite_dir
    ).passed
    # The default base directory is the suite file's own (named by `where`).
    spec = parse_assertion(
        {"type": "python", "value": "mychecks.tone:polite"},
        f"{suite_dir}/support.yaml: tests[0].assert[0]",
    )
    assert spec.parsed("please", {}) is True


def test_a_check_that_raises_or_returns_nonsense_is_an_error_not_a_failure(suite_dir: Path) -> None:
    g = one({"type": "python", "value": "file://checks/support.py:explodes"}, "x", suite_dir)
    assert g.error is not None and "KeyError" in g.error
    g = one({"type": "python", "value": "file://checks/support.py:says_nothing"}, "x", suite_dir)
    assert g.error is not None and "NoneType" in g.error


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("file://checks/support.py:nope", "has no function `nope`"),
        ("file://checks/missing.py:f", "no such file"),
        ("no_such_module_xyz.sub:f", "cannot import"),
        ("lambda output: True", "inline Python code is not supported"),
        ("file://checks/broken.py:f", "cannot import"),
        ("file://checks/raises.py:f", "raised RuntimeError"),
    ],
)
def test_bad_references_are_refused_at_load(suite_dir: Path, value: str, words: str) -> None:
    (suite_dir / "checks" / "broken.py").write_text("def f(:\n")
    (suite_dir / "checks" / "raises.py").write_text("raise RuntimeError('not at import, please')\n")
    with pytest.raises(SuiteError) as err:
        parse_assertion(
            {"type": "python", "value": value},
            "evals/t.yaml: tests[2].assert[1]",
            base_dir=suite_dir,
        )
    assert err.value.where == "evals/t.yaml: tests[2].assert[1].value"
    assert words in err.value.message


def test_inline_code_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('x')"
    with pytest.raises(SuiteError):
        parse_assertion(
            {"type": "python", "value": code}, "evals/t.yaml: tests[0].assert[0]", base_dir=tmp_path
        )
    assert not marker.exists()
