"""The JUnit XML report: valid against the schema CI systems read (tests/evals/data/junit.xsd,
the strictest rules of the Ant/Jenkins schemas), failures and errors where CI shows them, the
run's identity in the properties, the gate's criteria as a suite, hostile text kept intact."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import xmlschema
from tests.evals import report_data as data

from daytwo.evals.model import GateVerdict, RunResult
from daytwo.evals.report import junit, write_reports
from daytwo.evals.report.text import clean

SCHEMA = Path(__file__).parent / "data" / "junit.xsd"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(SCHEMA)


def parse(document: bytes) -> ET.Element:
    return ET.fromstring(document)  # noqa: S314 -- the report this test just made


def suites(document: bytes) -> dict[str, ET.Element]:
    root = parse(document)
    assert root.tag == "testsuites"
    return {s.get("name", ""): s for s in root.findall("testsuite")}


def cases(suite: ET.Element) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in suite.findall("testcase")}


def properties(suite: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in suite.iter("property")}


def test_valid_with_failures_errors_properties_and_the_gate(
    schema: xmlschema.XMLSchema, tmp_path: Path
) -> None:
    path = tmp_path / "out" / "report.xml"
    write_reports(data.run(), None, junit=path, verdict=data.failing_verdict())
    document = path.read_bytes()
    schema.validate(document)
    got = suites(document)
    assert list(got) == [
        f"evals/support.yaml: {data.BASE}",
        f"evals/support.yaml: {data.CAND}",
        "deploy gate",
    ]
    base, cand, gate = got.values()
    assert [base.get(k) for k in ("tests", "failures", "errors")] == ["8", "0", "0"]
    assert [cand.get(k) for k in ("tests", "failures", "errors")] == ["8", "3", "2"]
    assert base.get("timestamp") == "2025-12-06T05:46:40"

    by_name = cases(cand)
    for i in data.REGRESSED:
        failure = by_name[f"case-{i}"].find("failure")
        assert failure is not None and failure.get("type") == "contains"
        assert failure.text == 'contains: missing <b>refund</b> & "policy" | link (score 0.000)'
    call_failed = by_name[f"case-{data.ERRORED}"].find("error")
    assert call_failed is not None and call_failed.get("type") == "call failed"
    assert call_failed.get("message") == "provider down: 503 <html>"
    judge_failed = by_name[f"case-{data.GRADE_ERROR}"].find("error")
    assert judge_failed is not None and judge_failed.get("type") == "grading failed"
    assert judge_failed.get("message") == "helpfulness: judge said <nothing>"
    assert list(by_name["case-2"]) == [] and by_name["case-2"].get("time") == "0.122"
    assert all(c.get("classname") == data.CAND for c in by_name.values())

    props = properties(cand)
    assert props["run_id"] == "01JRUNID"
    assert props["target.identity"] == f"sha256:{2:064d}"
    assert props["served_models"] == "gpt-4o-mini"
    assert props["cost_usd"] == f"{6 * 0.0002 + 0.0002:.6f}"  # 7 answers (one call failed)

    gate_cases = cases(gate)
    assert list(gate_cases) == ["max_latency_p95_ms", "min_pass_rate", "max_cost_ratio"]
    failed = gate_cases["max_cost_ratio"].find("failure")
    assert failed is not None and failed.get("message") == "cost per call 2.0× baseline > 1.5×"
    assert list(gate_cases["max_latency_p95_ms"]) == []
    assert [gate.get(k) for k in ("tests", "failures", "errors")] == ["3", "2", "0"]


def test_hostile_names_and_messages_stay_valid_and_read_back(schema: xmlschema.XMLSchema) -> None:
    run = data.run(regressed=frozenset({0}))
    nasty = "<&>\"'\x00\x1f\ud800\ufffe end"
    items = tuple(
        replace(i, grades=tuple(replace(g, reason=nasty) for g in i.grades))
        if i.target == data.CAND and i.case_index == 0
        else i
        for i in run.items
    )
    run = replace(run, items=items, description="desc <x> & \x01")
    document = junit.render(run, None)
    schema.validate(document)
    cand = suites(document)[f"evals/support.yaml: {data.CAND}"]
    hostile = cand.findall("testcase")[0]
    assert hostile.get("name") == clean(data.HOSTILE_ID)
    failure = hostile.find("failure")
    assert failure is not None
    assert failure.text == f"contains: {clean(nasty)} (score 0.000)"
    assert failure.get("message") == f"contains: {' '.join(clean(nasty).split())} (score 0.000)"


def test_repeats_are_named_apart_and_long_messages_shortened(schema: xmlschema.XMLSchema) -> None:
    run = data.run(2, regressed=frozenset({1}))
    long_reason = "x" * 5000
    second = tuple(
        replace(
            i,
            repeat=1,
            grades=tuple(replace(g, reason=long_reason) for g in i.grades),
        )
        for i in run.items
    )
    run = replace(run, items=run.items + second)
    document = junit.render(run, None)
    schema.validate(document)
    cand = suites(document)[f"evals/support.yaml: {data.CAND}"]
    names = [c.get("name") for c in cand.findall("testcase")]
    assert sorted(names) == sorted(
        clean(f"{data.case_id(i)} [repeat {r}]") for i in range(2) for r in range(2)
    )
    failure = cases(cand)["case-1 [repeat 1]"].find("failure")
    assert failure is not None and failure.text is not None
    assert long_reason in failure.text
    assert len(failure.get("message", "")) == junit.MESSAGE_CHARS


def test_a_gate_that_could_not_run_is_an_error(schema: xmlschema.XMLSchema) -> None:
    verdict = GateVerdict("cannot run", data.CAND, data.BASE, reason="budget <evals> exhausted")
    document = junit.render(data.run(), verdict)
    schema.validate(document)
    gate = suites(document)["deploy gate"]
    error = cases(gate)["gate"].find("error")
    assert error is not None and error.get("message") == "budget <evals> exhausted"
    assert [gate.get(k) for k in ("tests", "failures", "errors")] == ["1", "0", "1"]


def test_the_schema_rejects_what_ci_tools_reject(schema: xmlschema.XMLSchema) -> None:
    """The schema is strict enough to catch a report CI tools would misread."""
    good = junit.render(data.run(), None)
    root = parse(good)
    suite = root.find("testsuite")
    assert suite is not None
    del suite.attrib["timestamp"]
    assert not schema.is_valid(ET.tostring(root))
    root = parse(good)
    case = root.find("testsuite/testcase")
    assert case is not None
    ET.SubElement(case, "failure", type="a")
    ET.SubElement(case, "error", type="b")
    assert not schema.is_valid(ET.tostring(root))


def test_a_run_with_no_items_is_still_valid(schema: xmlschema.XMLSchema) -> None:
    empty = RunResult("01EMPTY", "evals/x.yaml", "", 0.0, 1.0, (data.target(data.BASE, 1),), ())
    document = junit.render(empty, None)
    schema.validate(document)
    assert suites(document)[f"evals/x.yaml: {data.BASE}"].get("tests") == "0"
