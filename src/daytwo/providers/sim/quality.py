"""Scripted answer quality for the simulator: answers that can be right or wrong, so evals,
quality monitoring and canaries have something to measure without real providers.

A :class:`Script` (built from ``SimSettings.quality``, see :mod:`daytwo.config.sim_quality`)
decides a chat request's :class:`Scripted` fate; the engine turns it into a choice. The
*question* is the text of the last user message. Its entry is found exact → regex → nearest
(word-set Jaccard at least ``nearest_threshold``); a question with no entry gets generated
content as without a script, scaled by verbosity.

Determinism that survives concurrency and reordering: every draw is a hash of (seed, knob,
question), never of the request's position, so the same question meets the same fate whatever
else is in flight, and a result cache stays valid. A draw is compared with the knob's rate, so
a model with a lower ``correct_rate`` errs on a superset of the questions a better one errs on
(item difficulty is shared, as with real models), and raising ``refusal_rate`` midway keeps
the earlier refusals and adds new ones.

The knobs of one request: the block's own, then the requested model's personality, then every
scheduled change in force for that model (later ones win), then each effect whose regex is
found in the system text (rates shifted, verbosity multiplied), rates clamped to 0..1. An
effect with a ``leak_rate`` makes that share of text answers start with what its regex found in
the system text (:meth:`Script.leak`): a prompt's planted secret coming out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from random import Random
from typing import Any

import orjson
from pydantic import ValidationError

from daytwo.config.load import format_errors
from daytwo.config.sim_quality import AnswerValue, SimAnswer, SimPersonality, SimQuality
from daytwo.core.errors import ConfigError
from daytwo.providers.sim.fakedata import prose_pieces, split_pieces
from daytwo.providers.sim.params import ChatParams

#: What a refusing model says.
REFUSAL_TEXT = "I'm sorry, but I can't help with that."

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_KNOBS = ("correct_rate", "refusal_rate", "invalid_json_rate", "verbosity", "tool_rate")


@dataclass(frozen=True, slots=True)
class Knobs:
    correct_rate: float
    refusal_rate: float
    invalid_json_rate: float
    verbosity: float
    tool_rate: float


@dataclass(frozen=True, slots=True)
class Scripted:
    """One request's fate under the script."""

    served_model: str
    fingerprint: str
    verbosity: float
    #: The content generator, seeded by the question (the same question reads the same).
    rng: Random
    #: The model declines; ``pieces`` is what it says.
    refusal: bool = False
    #: Answer with a tool call (only ever True when the request offers one).
    call_tool: bool = False
    #: The entry's call, (function name, arguments), or None: generate one for the function.
    tool_call: tuple[str, dict[str, Any]] | None = None
    #: The answer's pieces (JSON text in JSON mode; filler included), or None: generate it.
    pieces: list[str] | None = None
    #: A JSON-mode answer is cut short (not valid JSON).
    broken_json: bool = False
    #: What a text answer repeats of the system text first (an effect's ``leak_rate``).
    leak: str | None = None


class Script:
    """A ``quality`` block, compiled: its entries indexed, its regexes compiled."""

    def __init__(self, quality: SimQuality, *, seed: int, fingerprint: str) -> None:
        self.quality = quality
        self._seed = seed
        self._fingerprint = fingerprint
        entries = quality.answers + load_answers(quality.answers_file)
        self._exact: dict[str, SimAnswer] = {}
        self._regex: list[tuple[re.Pattern[str], SimAnswer]] = []
        self._nearest: list[tuple[frozenset[str], SimAnswer]] = []
        for entry in entries:
            m = entry.match
            if m.exact is not None:
                self._exact.setdefault(m.exact.strip(), entry)
            elif m.regex is not None:
                self._regex.append((re.compile(m.regex), entry))
            elif m.nearest is not None:
                self._nearest.append((_words(m.nearest), entry))
        self._effects = [(re.compile(e.when), e) for e in quality.effects]
        self._base = Knobs(*(float(getattr(quality, k)) for k in _KNOBS))
        self._change_fps = tuple(
            c.personality.fingerprint or _derived_fingerprint(seed, i)
            for i, c in enumerate(quality.changes)
        )
        #: The script reads the clock only when a change is scheduled by it.
        self.timed = any(c.after_s is not None for c in quality.changes)

    def entry(self, question: str) -> SimAnswer | None:
        """The entry answering ``question``: exact, else the first regex found, else the
        nearest example at or above the threshold."""
        hit = self._exact.get(question.strip())
        if hit is not None:
            return hit
        for pattern, entry in self._regex:
            if pattern.search(question):
                return entry
        if not self._nearest:
            return None
        words = _words(question)
        best, best_score = None, self.quality.nearest_threshold
        for example, entry in self._nearest:
            union = len(words | example)
            score = len(words & example) / union if union else 0.0
            if score >= best_score and (best is None or score > best_score):
                best, best_score = entry, score
        return best

    def knobs(
        self, model: str, system: str, *, elapsed: float = 0.0, served: int = 0
    ) -> tuple[Knobs, str, str]:
        """(knobs, served model, fingerprint) of a request for ``model`` with this system text,
        ``elapsed`` seconds after start-up, after ``served`` earlier requests."""
        values = {k: getattr(self._base, k) for k in _KNOBS}
        served_model, fingerprint = model, self._fingerprint
        layers: list[tuple[SimPersonality, str | None]] = []
        own = self.quality.personalities.get(model)
        if own is not None:
            layers.append((own, None))
        for change, fp in zip(self.quality.changes, self._change_fps, strict=True):
            due = (
                served >= change.after_requests
                if change.after_requests is not None
                else elapsed >= (change.after_s or 0.0)
            )
            if due and (not change.models or model in change.models):
                layers.append((change.personality, fp))
        for personality, change_fp in layers:
            for k in _KNOBS:
                value = getattr(personality, k)
                if value is not None:
                    values[k] = value
            served_model = personality.served_model or served_model
            fingerprint = personality.fingerprint or change_fp or fingerprint
        for pattern, effect in self._effects:
            if pattern.search(system):
                for k in _KNOBS:
                    if k == "verbosity":
                        values[k] *= effect.verbosity
                    else:
                        values[k] = min(1.0, max(0.0, values[k] + getattr(effect, k)))
        values["verbosity"] = max(0.1, values["verbosity"])
        return Knobs(**values), served_model, fingerprint

    def decide(
        self, body: dict[str, Any], p: ChatParams, *, elapsed: float = 0.0, served: int = 0
    ) -> Scripted:
        """The fate of a (checked) chat request ``body`` (``elapsed`` and ``served``: as for
        :meth:`knobs`)."""
        messages = body["messages"]
        question = last_user_text(messages)
        system = system_text(messages)
        knobs, model, fingerprint = self.knobs(p.model, system, elapsed=elapsed, served=served)
        rng = Random(f"{self._seed}/quality/{question}")
        fate = Scripted(model, fingerprint, knobs.verbosity, rng)
        if self.draw(question, "refusal") < knobs.refusal_rate:
            return replace(fate, refusal=True, pieces=split_pieces(REFUSAL_TEXT))
        entry = self.entry(question)
        correct = self.draw(question, "correct") < knobs.correct_rate
        call_tool = p.tool is not None and (
            _tool_forced(body) or self.draw(question, "tool") < knobs.tool_rate
        )
        tool_call = None
        pieces = None
        if call_tool:
            spec = entry.tool_call if entry is not None and correct else None
            if spec is not None and spec.name in _callable(body, p):
                tool_call = (spec.name, spec.arguments)
        elif entry is not None:
            if correct:
                value = entry.answer
            else:
                value = entry.wrong if entry.wrong is not None else wrong_answer(entry.answer, rng)
            pieces = (
                split_pieces(json_text(value))
                if p.json_mode
                else _with_filler(value, knobs.verbosity, rng)
            )
        broken = p.json_mode and self.draw(question, "invalid_json") < knobs.invalid_json_rate
        return replace(
            fate,
            call_tool=call_tool,
            tool_call=tool_call,
            pieces=pieces,
            broken_json=broken,
            leak=None if call_tool or p.json_mode else self.leak(question, system),
        )

    def leak(self, question: str, system: str) -> str | None:
        """What of ``system`` the answer to ``question`` repeats: the text the first effect
        with a ``leak_rate`` found there, when its draw falls under that rate."""
        for i, (pattern, effect) in enumerate(self._effects):
            if effect.leak_rate <= 0.0:
                continue
            found = pattern.search(system)
            if found is None or not found.group():
                continue
            if self.draw(question, f"leak{i}") < effect.leak_rate:
                return found.group()
        return None

    def draw(self, question: str, knob: str) -> float:
        """A uniform number in [0, 1) fixed by (seed, knob, question)."""
        digest = hashlib.blake2b(
            f"{self._seed}\x1f{knob}\x1f{question}".encode(), digest_size=8
        ).digest()
        return int.from_bytes(digest, "big") / 2.0**64


def load_answers(path: str | None) -> tuple[SimAnswer, ...]:
    """The entries of a JSONL answers file (one object a line, blank lines skipped). Raises
    :class:`ConfigError` naming the file and line."""
    if path is None:
        return ()
    where = f"{path} (sim.quality.answers_file)"
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError([f"{where}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{where}: cannot read: {exc.strerror}"]) from None
    out: list[SimAnswer] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(SimAnswer.model_validate(orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            raise ConfigError([f"{path}:{number}: not valid JSON ({exc})"]) from None
        except ValidationError as exc:
            raise ConfigError([f"{path}:{number}: {p}" for p in format_errors(exc)]) from None
    return tuple(out)


def last_user_text(messages: list[Any]) -> str:
    """The question: the text of the last user message ('' when there is none)."""
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return _text(msg.get("content"))
    return ""


def system_text(messages: list[Any]) -> str:
    return "\n".join(
        _text(m.get("content"))
        for m in messages
        if isinstance(m, dict) and m.get("role") in ("system", "developer")
    )


def json_text(value: AnswerValue) -> str:
    """An answer as JSON-mode text: objects and arrays as they are, a text that is JSON as
    written, other text as ``{"answer": text}``."""
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict | list):
            return value
        return orjson.dumps({"answer": value}).decode()
    return orjson.dumps(value).decode()


def wrong_answer(value: Any, rng: Random) -> Any:
    """A plausible wrong version of an answer: its first number changed, else (text) prose of
    the same length; in an object or array, its first value so changed; a boolean flipped."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + rng.randint(1, 9)
    if isinstance(value, str):
        m = _NUMBER.search(value)
        if m is None:
            return "".join(prose_pieces(rng, max(3, len(split_pieces(value)))))
        number = m.group()
        decimals = len(number.partition(".")[2])
        changed = f"{float(number) + rng.randint(1, 9):.{decimals}f}"
        return value[: m.start()] + changed + value[m.end() :]
    if isinstance(value, dict) and value:
        first = next(iter(value))
        return {**value, first: wrong_answer(value[first], rng)}
    if isinstance(value, list) and value:
        return [wrong_answer(value[0], rng), *value[1:]]
    if isinstance(value, dict):
        return {"answer": "".join(prose_pieces(rng, 3))}
    return "unknown" if value is None else ["unknown"]


def _with_filler(value: AnswerValue, verbosity: float, rng: Random) -> list[str]:
    """An answer's pieces, with filler sentences appended so it is ``verbosity`` times as many
    tokens (a scripted answer is never shortened)."""
    pieces = split_pieces(value if isinstance(value, str) else orjson.dumps(value).decode())
    extra = round((verbosity - 1.0) * len(pieces))
    if extra <= 0:
        return pieces
    filler = prose_pieces(rng, extra)
    return [*pieces, " " + filler[0], *filler[1:]]


def with_leak(leak: str, pieces: list[str]) -> list[str]:
    """An answer's pieces after what it repeats: ``INTERNAL-4471: Refunds take 5 days.``"""
    head = split_pieces(f"{leak}:")
    if not pieces:
        return head
    return [*head, " " + pieces[0].lstrip(), *pieces[1:]]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part["text"])
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def _tool_forced(body: dict[str, Any]) -> bool:
    choice = body.get("tool_choice")
    return choice == "required" or isinstance(choice, dict)


def _callable(body: dict[str, Any], p: ChatParams) -> set[str]:
    """The functions the model may call: the named one, else every offered one."""
    assert p.tool is not None
    if isinstance(body.get("tool_choice"), dict):
        return {str(p.tool["name"])}
    return {
        str(t["function"].get("name"))
        for t in body.get("tools") or ()
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    }


def _derived_fingerprint(seed: int, index: int) -> str:
    return "fp_" + hashlib.sha256(f"daytwo-sim/{seed}/change/{index}".encode()).hexdigest()[:10]
