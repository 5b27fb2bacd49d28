"""Assertions on the answer's text alone: equality, substrings, patterns, length, edit
distance and n-gram recall. Pure: no call is made."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

import orjson
from rapidfuzz.distance import Levenshtein

from daytwo.evals.assertions.base import (
    Grader,
    Kind,
    Place,
    Verdict,
    binary,
    error,
    reference,
    scored,
    text_list,
    text_value,
    threshold_of,
)
from daytwo.evals.model import AssertionSpec, GradeContext

#: Edit distance allowed by ``levenshtein`` without a threshold (promptfoo's default).
LEVENSHTEIN_MAX_DISTANCE = 5.0
#: ``rouge-n`` recall needed without a threshold (promptfoo's default).
ROUGE_THRESHOLD = 0.75


async def _equals(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    text = ctx.output.text
    if spec.value is not None and not isinstance(spec.value, str):
        # An object or list compares as JSON (key order and spacing do not matter).
        try:
            got = orjson.loads(text)
        except orjson.JSONDecodeError:
            return binary(False, "the output is not JSON, expected a JSON value")
        return binary(
            got == spec.value, "the JSON is equal" if got == spec.value else "the JSON differs"
        )
    want = reference(spec, ctx)
    if want is None:
        return error("no value and no expected answer to compare with")
    return binary(text == want, "equal" if text == want else f"expected {_short(want)!r}")


def _contains(fold: bool) -> Grader:
    async def grade(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
        text, want = ctx.output.text, str(spec.parsed)
        hit = want.lower() in text.lower() if fold else want in text
        return binary(hit, f"{'contains' if hit else 'does not contain'} {_short(want)!r}")

    return grade


def _contains_many(fold: bool, need_all: bool) -> Grader:
    async def grade(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
        text = ctx.output.text.lower() if fold else ctx.output.text
        items: tuple[str, ...] = spec.parsed
        found = [i for i in items if (i.lower() if fold else i) in text]
        missing = [i for i in items if i not in found]
        if need_all:
            return binary(not missing, "contains all" if not missing else f"missing {missing}")
        return binary(
            bool(found), f"contains {found}" if found else f"contains none of {list(items)}"
        )

    return grade


async def _starts_with(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    hit = ctx.output.text.startswith(spec.parsed)
    return binary(hit, f"{'starts' if hit else 'does not start'} with {_short(spec.parsed)!r}")


def _parse_regex(value: Any, place: Place) -> re.Pattern[str]:
    source = text_value(value, place)
    try:
        return re.compile(source)
    except re.error as exc:
        raise place.error("value", f"invalid regular expression: {exc}") from None


async def _regex(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    pattern: re.Pattern[str] = spec.parsed
    hit = pattern.search(ctx.output.text) is not None
    return binary(hit, f"{'matches' if hit else 'does not match'} /{pattern.pattern}/")


def _parse_word_count(value: Any, place: Place) -> tuple[int | None, int | None]:
    def count(v: Any, key: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise place.error(key, "expected a whole number of words (0 or more)")
        return v

    if isinstance(value, dict):
        unknown = set(value) - {"min", "max"}
        if unknown:
            raise place.error(f"value.{sorted(unknown)[0]}", "unknown key (expected min, max)")
        lo = count(value["min"], "value.min") if "min" in value else None
        hi = count(value["max"], "value.max") if "max" in value else None
        if lo is None and hi is None:
            raise place.error("value", "expected `min`, `max` or both")
        if lo is not None and hi is not None and lo > hi:
            raise place.error("value", f"min {lo} is above max {hi}")
        return lo, hi
    n = count(value, "value")
    return n, n


async def _word_count(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    lo, hi = spec.parsed
    n = len(ctx.output.text.split())
    ok = (lo is None or n >= lo) and (hi is None or n <= hi)
    want = (
        f"exactly {lo}"
        if lo == hi
        else f"{lo if lo is not None else 0}..{hi if hi is not None else '∞'}"
    )
    return binary(ok, f"{n} words (expected {want})")


async def _levenshtein(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    want = reference(spec, ctx)
    if want is None:
        return error("no value and no expected answer to compare with")
    text = ctx.output.text
    distance = Levenshtein.distance(text, want)
    limit = threshold_of(spec, LEVENSHTEIN_MAX_DISTANCE)
    longest = max(len(text), len(want)) or 1
    return Verdict(
        distance <= limit,
        1.0 - distance / longest,
        f"edit distance {distance} (at most {limit:g})",
    )


_WORD = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (what ``rouge-n`` counts n-grams of)."""
    return _WORD.findall(text.lower())


def rouge_n(candidate: str, reference_text: str, n: int = 1) -> float:
    """ROUGE-N recall: the reference's n-grams found in the candidate (counts clipped) over
    the reference's n-grams. 0.0 when the reference has none."""

    def grams(words: list[str]) -> Counter[tuple[str, ...]]:
        return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))

    ref = grams(tokens(reference_text))
    total = sum(ref.values())
    if total == 0:
        return 0.0
    cand = grams(tokens(candidate))
    return sum(min(c, cand[g]) for g, c in ref.items()) / total


async def _rouge(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    want = reference(spec, ctx)
    if want is None:
        return error("no value and no expected answer to compare with")
    n = int(spec.config.get("n", 1))
    return scored(
        rouge_n(ctx.output.text, want, n), threshold_of(spec, ROUGE_THRESHOLD), f"ROUGE-{n} recall"
    )


def _check_n(config: Mapping[str, Any], place: Place) -> None:
    n = config.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise place.error("config.n", "expected a whole number of 1 or more")


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


KINDS = (
    Kind("equals", _equals, value="reference"),
    Kind("contains", _contains(False), parse=text_value),
    Kind("icontains", _contains(True), parse=text_value),
    Kind("contains-any", _contains_many(False, False), parse=text_list),
    Kind("icontains-any", _contains_many(True, False), parse=text_list),
    Kind("contains-all", _contains_many(False, True), parse=text_list),
    Kind("icontains-all", _contains_many(True, True), parse=text_list),
    Kind("starts-with", _starts_with, parse=text_value),
    Kind("regex", _regex, parse=_parse_regex),
    Kind("word-count", _word_count, parse=_parse_word_count),
    Kind("levenshtein", _levenshtein, value="reference", parse=text_value),
    Kind(
        "rouge-n",
        _rouge,
        value="reference",
        parse=text_value,
        default_threshold=ROUGE_THRESHOLD,
        config_keys=frozenset({"n"}),
        check_config=_check_n,
    ),
)
