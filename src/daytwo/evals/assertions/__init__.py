"""Assertions: how one output is graded (promptfoo's vocabulary and semantics where it has
them; docs/assertions.md is the reference).

* :func:`parse_assertion` -- one assertion as written in a suite, checked when the suite loads
  (unknown type, bad value, bad regex, inline Python: a :class:`SuiteError` naming the key);
* :func:`requirements` -- what it needs at run time (a judge, embeddings);
* :func:`grade` -- the grades of one output: pure checks, judge calls and embeddings through
  the run's :class:`~daytwo.evals.model.EvalClient` (the gateway's pipeline);
* :func:`pairwise` -- a two-answer judgment asked in both orders.

Modules: :mod:`.base` (a type's parts), :mod:`.text`, :mod:`.structured`, :mod:`.similar`,
:mod:`.graded`, :mod:`.rag`, :mod:`.python` (the types), :mod:`.judge` (rubric prompts and
judge calls), :mod:`.family`, :mod:`.pairwise`.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from daytwo.evals.assertions import graded, python, rag, similar, structured, text
from daytwo.evals.assertions.base import Kind, Place, Verdict, error
from daytwo.evals.assertions.family import model_family
from daytwo.evals.assertions.judge import JudgeError, JudgeRefused, JudgeUnusable
from daytwo.evals.assertions.pairwise import PairVerdict, pairwise
from daytwo.evals.model import AssertionSpec, CallFailed, Grade, GradeContext

__all__ = [
    "KINDS",
    "JudgeError",
    "JudgeRefused",
    "JudgeUnusable",
    "PairVerdict",
    "grade",
    "model_family",
    "pairwise",
    "parse_assertion",
    "requirements",
]

#: Every assertion type by name.
KINDS: Mapping[str, Kind] = {
    k.name: k
    for k in (
        *text.KINDS,
        *structured.KINDS,
        *similar.KINDS,
        *graded.KINDS,
        *rag.KINDS,
        *python.KINDS,
    )
}
_KEYS = ("type", "value", "threshold", "weight", "metric", "provider", "config")
NEGATION = "not-"


def parse_assertion(
    raw: Mapping[str, Any], where: str, *, base_dir: Path | None = None
) -> AssertionSpec:
    """One assertion as written (``{type, value, threshold, weight, metric, provider,
    config}``), checked. ``where`` names it (``evals/x.yaml: tests[3].assert[0]``); errors
    name the key under it. Relative paths (``file://``) resolve against ``base_dir``, by
    default the directory of the file ``where`` starts with."""
    if base_dir is None:
        base_dir = Path(where.split(": ", 1)[0]).parent if ": " in where else Path()
    place = Place(where, base_dir)
    if not isinstance(raw, Mapping):
        raise place.error("", "expected a mapping with `type` (and `value`, `threshold`, ...)")
    for key in raw:
        if key not in _KEYS:
            raise place.error(str(key), f"unknown key (expected one of {', '.join(_KEYS)})")
    written = raw.get("type")
    if not isinstance(written, str) or not written:
        raise place.error("type", "expected an assertion type, e.g. `contains`")
    negate = written.startswith(NEGATION)
    name = written.removeprefix(NEGATION)
    kind = KINDS.get(name)
    if kind is None:
        raise place.error("type", _unknown(written))
    value = raw.get("value")
    if value is None and kind.value == "required":
        raise place.error("value", f"`{written}` needs a value")
    if value is not None and kind.value == "none":
        raise place.error("value", f"`{written}` takes no value")
    threshold = _number(raw, "threshold", place)
    if threshold is None and kind.threshold_required:
        raise place.error("threshold", f"`{written}` needs a threshold")
    weight = _number(raw, "weight", place)
    metric = raw.get("metric", "")
    if not isinstance(metric, str):
        raise place.error("metric", "expected a metric name")
    config = _config(raw, kind, place)
    parsed = kind.parse(value, place) if kind.parse is not None and value is not None else None
    return AssertionSpec(
        type=name,
        negate=negate,
        value=value,
        threshold=threshold,
        weight=1.0 if weight is None else weight,
        metric=metric,
        config=config,
        parsed=parsed,
    )


def requirements(spec: AssertionSpec) -> set[str]:
    """What grading ``spec`` needs from the suite: ``judge`` (``judge.model``), ``embeddings``
    (``embedding_model``) -- unless the assertion names its own ``provider``."""
    kind = KINDS[spec.type]
    out: set[str] = set(kind.needs)
    if "judge" in out and spec.config.get("provider"):
        out.discard("judge")
    embedder = "embedding_provider" if "judge" in kind.needs else "provider"
    if "embeddings" in out and spec.config.get(embedder):
        out.discard("embeddings")
    return out


async def grade(specs: Sequence[AssertionSpec], ctx: GradeContext) -> tuple[Grade, ...]:
    """The grades of one output, in the order of ``specs`` (graded concurrently). A grading
    call that fails, a judge answer unusable after a retry or a judge of the wrong family make
    that grade an error; :class:`~daytwo.evals.model.RunAborted` propagates."""
    tasks = [asyncio.ensure_future(_grade_one(spec, ctx)) for spec in specs]
    try:
        return tuple(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


async def _grade_one(spec: AssertionSpec, ctx: GradeContext) -> Grade:
    try:
        verdict = await KINDS[spec.type].grade(spec, ctx)
    except CallFailed as exc:
        verdict = error(f"a grading call failed: {exc}")
    except JudgeError as exc:
        verdict = error(str(exc), exc.cost_usd)
    if spec.negate and verdict.error is None:
        verdict = Verdict(
            not verdict.passed, 1.0 - verdict.score, f"not: {verdict.reason}", verdict.cost_usd
        )
    return Grade(
        assertion=f"{NEGATION}{spec.type}" if spec.negate else spec.type,
        metric=spec.name,
        passed=verdict.passed,
        score=verdict.score,
        reason=verdict.reason,
        weight=spec.weight,
        cost_usd=verdict.cost_usd,
        error=verdict.error,
    )


def _unknown(written: str) -> str:
    names = [*KINDS, *(NEGATION + n for n in KINDS)]
    close = difflib.get_close_matches(written, names, n=1, cutoff=0.5)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"unknown assertion type `{written}`{hint}"


def _number(raw: Mapping[str, Any], key: str, place: Place) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise place.error(key, "expected a number, 0 or more")
    return float(value)


def _config(raw: Mapping[str, Any], kind: Kind, place: Place) -> dict[str, Any]:
    config = raw.get("config", {})
    if not isinstance(config, Mapping):
        raise place.error("config", "expected a mapping")
    out = dict(config)
    provider = raw.get("provider")
    if provider is not None:
        if "provider" not in kind.config_keys:
            raise place.error("provider", f"`{kind.name}` makes no model call")
        out.update(_provider(provider, kind, place))
    for key in out:
        if key not in kind.config_keys:
            known = ", ".join(sorted(kind.config_keys)) or "none"
            raise place.error(
                f"config.{key}", f"unknown option of `{kind.name}` (options: {known})"
            )
    if kind.check_config is not None:
        kind.check_config(out, place)
    return out


def _provider(value: Any, kind: Kind, place: Place) -> dict[str, str]:
    """``provider: ALIAS``, ``{id: ALIAS}``, or for answer-relevance ``{text: ALIAS,
    embedding: ALIAS}`` (promptfoo's shapes; daytwo calls the gateway's model aliases)."""
    if isinstance(value, str) and value:
        return {"provider": value}
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        if isinstance(value.get("id"), str):
            out["provider"] = value["id"]
        if isinstance(value.get("text"), str):
            out["provider"] = value["text"]
        if isinstance(value.get("embedding"), str):
            key = "embedding_provider" if "embedding_provider" in kind.config_keys else "provider"
            out[key] = value["embedding"]
        if out:
            return out
    raise place.error("provider", "expected a model alias (or {id: ALIAS})")
