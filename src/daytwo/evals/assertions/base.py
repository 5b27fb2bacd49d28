"""What every assertion type is made of: how its value is parsed when the suite loads, what it
needs at run time (a judge, embeddings), and how it grades one output.

A type's grader returns a :class:`Verdict` for the assertion as written *without* ``not-``;
:func:`daytwo.evals.assertions.grade` applies negation, weight and the metric name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from daytwo.evals.model import AssertionSpec, GradeContext, SuiteError

#: How a type treats ``value``: required, optional, refused, or optional and defaulting to
#: the case's ``expected`` (types that compare with a reference).
ValueRule = Literal["required", "optional", "none", "reference"]
Need = Literal["judge", "embeddings"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One type's judgment of one output (before negation)."""

    passed: bool
    score: float
    reason: str
    #: What the judge / embedding calls of this grading cost.
    cost_usd: float = 0.0
    #: The grading itself failed: an error, not a failure.
    error: str | None = None


def error(reason: str, cost_usd: float = 0.0) -> Verdict:
    return Verdict(False, 0.0, reason, cost_usd, error=reason)


def binary(passed: bool, reason: str) -> Verdict:
    return Verdict(passed, 1.0 if passed else 0.0, reason)


Grader = Callable[[AssertionSpec, GradeContext], Awaitable[Verdict]]
Parser = Callable[[Any, "Place"], Any]


@dataclass(frozen=True, slots=True)
class Kind:
    """One assertion type."""

    name: str
    grade: Grader
    value: ValueRule = "required"
    #: Turns ``value`` into :attr:`AssertionSpec.parsed` (raises :class:`SuiteError`).
    parse: Parser | None = None
    needs: frozenset[Need] = frozenset()
    #: A score at or above it passes, when the assertion sets no ``threshold``.
    default_threshold: float | None = None
    #: ``threshold`` must be given (latency, cost).
    threshold_required: bool = False
    #: ``config`` keys the type reads (others are refused at load).
    config_keys: frozenset[str] = field(default_factory=frozenset)
    #: Checks the ``config`` keys the type reads (raises :class:`SuiteError`).
    check_config: Callable[[Mapping[str, Any], Place], None] | None = None


@dataclass(frozen=True, slots=True)
class Place:
    """Where an assertion is written: ``where`` (``evals/x.yaml: tests[3].assert[0]``) and the
    directory its relative paths resolve against."""

    where: str
    base_dir: Path

    def error(self, key: str, message: str) -> SuiteError:
        return SuiteError(f"{self.where}.{key}" if key else self.where, message)


def threshold_of(spec: AssertionSpec, default: float) -> float:
    return spec.threshold if spec.threshold is not None else default


def scored(score: float, threshold: float, reason: str, cost_usd: float = 0.0) -> Verdict:
    """A score against a threshold (at or above passes)."""
    score = min(1.0, max(0.0, score))
    passed = score >= threshold
    return Verdict(
        passed, score, f"{reason} (score {score:.3f}, threshold {threshold:g})", cost_usd
    )


def reference(spec: AssertionSpec, ctx: GradeContext) -> str | None:
    """The text a reference-comparing type compares with: its value, else the case's
    ``expected``."""
    if spec.value is not None:
        return spec.value if isinstance(spec.value, str) else str(spec.value)
    return ctx.case.expected


def text_list(value: Any, place: Place) -> tuple[str, ...]:
    """A list of strings, or one comma-separated string (promptfoo accepts both)."""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        items = [str(v) for v in value]
    else:
        raise place.error("value", "expected a list of strings (or one comma-separated string)")
    items = [v for v in items if v]
    if not items:
        raise place.error("value", "expected at least one string")
    return tuple(items)


def text_value(value: Any, place: Place) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise place.error("value", "expected a string")
    return str(value)


def mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None
