"""The simulator as a judge: answers daytwo's own judge requests (rubric grading, RAG verdicts,
pairwise preference) deterministically from the texts in the request.

A judge request is recognised by its ``response_format.json_schema.name`` (``daytwo_<kind>``,
:mod:`daytwo.core.judging`); its texts are read from the tagged sections of its messages
(``<answer>``, ``<reference>``, ``<context>``, ...). Every verdict is a function of word
overlap -- lower-cased content words (stop words dropped) of one text found in another:

* rubric / g-eval / closedqa: the share of the reference's words (else the rubric's) that the
  answer contains -- a score, a 0-10 score, Y when at least :data:`PASS_SHARE`;
* factuality: recall (reference words in the answer) and precision (answer words in the
  reference) pick A (subset), B (superset), C (same), D (disagreement) or E;
* answer-relevance: three questions made of the answer's first content words; noncommittal
  when the answer hedges;
* faithfulness / recall: per sentence of the answer / reference, 1 when at least
  :data:`PASS_SHARE` of its words occur in the context;
* precision: per chunk, 1 when it holds at least :data:`CHUNK_SHARE` of the answer's words;
* pairwise: the answer covering more of the reference (else the question) wins -- and when the
  two are within :data:`POSITION_BIAS_MARGIN`, the one shown first wins: a deliberate position
  bias, like real judges', for daytwo's both-orders control to catch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from daytwo.core import judging

#: Share of words needed for a positive verdict.
PASS_SHARE = 0.5
#: Share of the answer's words a context chunk must hold to count as relevant.
CHUNK_SHARE = 0.3
#: Pairwise coverages closer than this are "close": the first answer shown wins.
POSITION_BIAS_MARGIN = 0.1
_STOP_WORDS = """a an the and or but if of to in on at by for with from as
    is are was were be been being
    it its this that these those there here i you he she we they me my your our their do does
    did not no so than then too very can will would should could may might must have has had
    what which who whom how when where why about into over under again also just only any all
    each some such own same other more most"""
_STOP = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_HEDGES = ("i don't know", "i do not know", "not sure", "i'm unsure", "cannot say", "can't say")


def judge_answer(body: dict[str, Any]) -> str | None:
    """The judge's answer (a JSON text) when ``body`` is one of daytwo's judge requests
    (``response_format.json_schema.name`` starting ``daytwo_``), else None."""
    fmt = body.get("response_format")
    spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
    name = spec.get("name") if isinstance(spec, dict) else None
    if not isinstance(name, str) or not name.startswith(judging.SCHEMA_PREFIX):
        return None
    answer = _ANSWERS.get(name)
    if answer is None:
        return None
    parts = judging.sections(_texts(body.get("messages")))
    return orjson.dumps(answer(parts)).decode()


def _texts(messages: Any) -> str:
    out: list[str] = []
    if isinstance(messages, list):
        for m in messages:
            # The judge reads the request's own texts, not an earlier answer of its own.
            if not isinstance(m, dict) or m.get("role") == "assistant":
                continue
            content = m.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out += [
                    p["text"]
                    for p in content
                    if isinstance(p, dict) and isinstance(p.get("text"), str)
                ]
    return "\n".join(out)


def words(text: str) -> set[str]:
    """Content words: lower-cased, stop words dropped."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def share(of: str, within: str) -> float:
    """The share of ``of``'s content words that occur in ``within`` (0.0 when it has none)."""
    want = words(of)
    return len(want & words(within)) / len(want) if want else 0.0


def _one(parts: dict[str, list[str]], tag: str) -> str:
    return parts.get(tag, [""])[0]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if words(s)]


def _rubric(parts: dict[str, list[str]]) -> dict[str, Any]:
    basis = _one(parts, "reference") or _one(parts, "criteria")
    score = round(share(basis, _one(parts, "answer")), 3)
    return {
        "reason": f"the answer covers {score:.0%} of what the rubric asks",
        "pass": score >= PASS_SHARE,
        "score": score,
    }


def _geval(parts: dict[str, list[str]]) -> dict[str, Any]:
    covered = share(_one(parts, "criteria"), _one(parts, "answer"))
    return {
        "steps": ["Read the criterion.", "Find it in the answer.", "Score the coverage."],
        "reason": f"the answer covers {covered:.0%} of the criterion",
        "score": round(10 * covered),
    }


def _factuality(parts: dict[str, list[str]]) -> dict[str, Any]:
    answer, ref = _one(parts, "answer"), _one(parts, "reference")
    recall, precision = share(ref, answer), share(answer, ref)
    if recall < PASS_SHARE and precision < PASS_SHARE:
        choice = "D"
    elif recall >= 0.8 and precision >= 0.8:
        choice = "C"
    elif recall >= 0.8:
        choice = "B"
    elif precision >= 0.8:
        choice = "A"
    else:
        choice = "E"
    return {"reason": f"recall {recall:.2f}, precision {precision:.2f}", "choice": choice}


def _closedqa(parts: dict[str, list[str]]) -> dict[str, Any]:
    covered = share(_one(parts, "criteria"), _one(parts, "answer"))
    return {
        "reason": f"the answer covers {covered:.0%} of the criterion",
        "verdict": "Y" if covered >= PASS_SHARE else "N",
    }


def _questions(parts: dict[str, list[str]]) -> dict[str, Any]:
    answer = _one(parts, "answer")
    ordered = list(dict.fromkeys(w for w in _WORD.findall(answer.lower()) if w not in _STOP))
    topic = " ".join(ordered[:6]) or "this"
    return {
        "questions": [f"What about {topic}?", f"Can you explain {topic}?", f"Tell me {topic}?"],
        "noncommittal": any(h in answer.lower() for h in _HEDGES),
    }


def _faithfulness(parts: dict[str, list[str]]) -> dict[str, Any]:
    context = "\n".join(parts.get("context", []))
    return {
        "statements": [
            {
                "statement": s,
                "reason": "word overlap with the context",
                "verdict": int(share(s, context) >= PASS_SHARE),
            }
            for s in _sentences(_one(parts, "answer"))
        ]
    }


def _recall(parts: dict[str, list[str]]) -> dict[str, Any]:
    context = "\n".join(parts.get("context", []))
    return {
        "sentences": [
            {
                "sentence": s,
                "reason": "word overlap with the context",
                "attributed": int(share(s, context) >= PASS_SHARE),
            }
            for s in _sentences(_one(parts, "reference"))
        ]
    }


def _precision(parts: dict[str, list[str]]) -> dict[str, Any]:
    answer = _one(parts, "answer")
    return {
        "verdicts": [
            {
                "index": i,
                "reason": "word overlap with the answer",
                "verdict": int(share(answer, chunk) >= CHUNK_SHARE),
            }
            for i, chunk in enumerate(parts.get("context", []), start=1)
        ]
    }


def _pairwise(parts: dict[str, list[str]]) -> dict[str, Any]:
    basis = _one(parts, "reference") or _one(parts, "question")
    a, b = share(basis, _one(parts, "answer_a")), share(basis, _one(parts, "answer_b"))
    if abs(a - b) < POSITION_BIAS_MARGIN:
        return {"reason": "close; the first answer reads better", "winner": "A"}
    return {"reason": f"coverage {a:.2f} against {b:.2f}", "winner": "A" if a > b else "B"}


_ANSWERS: dict[str, Callable[[dict[str, list[str]]], dict[str, Any]]] = {
    judging.RUBRIC: _rubric,
    judging.GEVAL: _geval,
    judging.FACTUALITY: _factuality,
    judging.CLOSEDQA: _closedqa,
    judging.QUESTIONS: _questions,
    judging.FAITHFULNESS: _faithfulness,
    judging.RECALL: _recall,
    judging.PRECISION: _precision,
    judging.PAIRWISE: _pairwise,
}
