"""A run as JUnit XML, the format CI systems read (GitHub Actions test reporters, GitLab's test
report, Jenkins' junit step).

One ``<testsuite>`` per target (classname: the target's label), one ``<testcase>`` per item
(name: the case id, plus ``[repeat N]`` when the case ran more than once): a ``<failure>`` carries
each failed assertion's ``metric: reason``, an ``<error>`` an item whose call or grading failed.
The suite's ``<properties>`` say which run, which target identity (the prompt version's hash,
the served models) and what the target's items cost. A gate verdict adds a ``deploy gate``
suite with one testcase per criterion.

The document follows the strictest schema in use (the Ant/Jenkins one: every suite has
``properties``, ``system-out``, ``system-err``, ``hostname``, ``timestamp``, ``id``, ``package``;
a testcase at most one outcome element). Text is stripped of characters XML 1.0 cannot carry
(control characters, lone surrogates); ElementTree escapes the rest.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from daytwo.evals.model import GateVerdict, ItemResult, RunResult, Target
from daytwo.evals.report.text import clean, shorten

GATE_SUITE = "deploy gate"
#: A failure's ``message`` attribute is a one-line summary; the element's text has it all.
MESSAGE_CHARS = 500


def render(run: RunResult, verdict: GateVerdict | None = None) -> bytes:
    """The JUnit XML document (UTF-8, with its declaration)."""
    # No attributes on <testsuites>: the Ant schema allows none; readers sum the suites.
    root = ET.Element("testsuites")
    suites = [_target_suite(run, target) for target in run.targets]
    if verdict is not None:
        suites.append(_gate_suite(run, verdict))
    for n, suite in enumerate(suites):
        suite.set("id", str(n))
        root.append(suite)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _suite(name: str, package: str, started_at: float) -> ET.Element:
    return ET.Element(
        "testsuite",
        name=clean(name),
        package=clean(package),
        hostname="localhost",
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started_at)),
    )


def _target_suite(run: RunResult, target: Target) -> ET.Element:
    items = run.for_target(target.label)
    suite = _suite(f"{run.suite}: {target.label}", run.suite, run.started_at)
    served = sorted({i.output.served_model for i in items if i.output and i.output.served_model})
    _properties(
        suite,
        [
            ("run_id", run.run_id),
            ("suite", run.suite),
            ("target", target.label),
            ("target.kind", target.kind),
            ("target.model", target.model),
            ("target.identity", target.identity),
            ("served_models", ", ".join(served)),
            ("cost_usd", f"{sum(i.cost_usd for i in items):.6f}"),
            ("run.calls", str(run.calls)),
            ("run.cache_hits", str(run.cache_hits)),
            ("run.spent_usd", f"{run.spent_usd:.6f}"),
        ],
    )
    repeated = _repeated_cases(items)
    failures = errors = 0
    total = 0.0
    for item in items:
        case = _testcase(target.label, item, repeated)
        suite.append(case)
        total += float(case.get("time", "0"))
        errors += item.is_error
        failures += not item.is_error and not item.passed
    _close(suite, len(items), failures, errors, total)
    return suite


def _repeated_cases(items: Sequence[ItemResult]) -> set[str]:
    seen: dict[str, int] = {}
    for item in items:
        seen[item.case_id] = seen.get(item.case_id, 0) + 1
    return {case for case, n in seen.items() if n > 1}


def _testcase(label: str, item: ItemResult, repeated: set[str]) -> ET.Element:
    name = f"{item.case_id} [repeat {item.repeat}]" if item.case_id in repeated else item.case_id
    latency = item.output.latency_ms / 1000 if item.output is not None else 0.0
    case = ET.Element("testcase", classname=clean(label), name=clean(name), time=_seconds(latency))
    if item.is_error:
        problems = [item.error] if item.error is not None else []
        problems += [f"{g.metric}: {g.error}" for g in item.grades if g.error is not None]
        kind = "call failed" if item.error is not None else "grading failed"
        _outcome(case, "error", kind, problems)
    elif not item.passed:
        failed = [g for g in item.grades if not g.passed]
        lines = [f"{g.metric}: {g.reason} (score {g.score:.3f})" for g in failed]
        _outcome(case, "failure", failed[0].assertion if failed else "assertion", lines)
    return case


def _outcome(case: ET.Element, tag: str, kind: str, lines: Sequence[str]) -> None:
    cleaned = [clean(line) for line in lines]
    message = " | ".join(" ".join(line.split()) for line in cleaned)
    element = ET.SubElement(case, tag, message=shorten(message, MESSAGE_CHARS), type=clean(kind))
    element.text = "\n".join(cleaned)


def _gate_suite(run: RunResult, verdict: GateVerdict) -> ET.Element:
    suite = _suite(GATE_SUITE, run.suite, run.started_at)
    _properties(
        suite,
        [
            ("status", verdict.status),
            ("candidate", verdict.candidate),
            ("baseline", verdict.baseline or ""),
            ("exit_code", str(verdict.exit_code)),
        ],
    )
    failures = errors = 0
    if verdict.status == "cannot run":
        case = ET.SubElement(suite, "testcase", classname=GATE_SUITE, name="gate", time="0")
        _outcome(case, "error", "cannot run", [verdict.reason])
        errors = 1
    for check in verdict.checks:
        case = ET.SubElement(
            suite, "testcase", classname=GATE_SUITE, name=clean(check.criterion), time="0"
        )
        if not check.passed:
            _outcome(case, "failure", "gate criterion", [check.line])
            failures += 1
    tests = len(verdict.checks) + (verdict.status == "cannot run")
    _close(suite, tests, failures, errors, 0.0)
    return suite


def _properties(suite: ET.Element, pairs: Sequence[tuple[str, str]]) -> None:
    props = ET.SubElement(suite, "properties")
    for name, value in pairs:
        ET.SubElement(props, "property", name=name, value=clean(value))


def _close(suite: ET.Element, tests: int, failures: int, errors: int, seconds: float) -> None:
    """Counts and time on the suite, then the (empty) output elements the schema requires."""
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    suite.set("time", _seconds(seconds))
    ET.SubElement(suite, "system-out")
    ET.SubElement(suite, "system-err")


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"
