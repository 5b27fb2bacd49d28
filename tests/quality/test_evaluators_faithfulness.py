"""The online ``faithfulness`` judge on the retrieved context applications report
(``daytwo_context``, sent with ``sdk.context``), through every door over real HTTP, with the
simulator as both the upstream (a recording one) and the judge (it decides by word overlap).

The answer is scripted by the simulator's quality block, so the test knows it: a context that
states it supports every statement (score 1.0, pass), an unrelated context supports none (0.0,
fail). The context never reaches the upstream, is not stored in the ledger, and a call without
it gets no faithfulness judge; a malformed ``daytwo_context`` is a 400 naming it at each door.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest
from pydantic import ValidationError
from tests.gateway.harness import gateway_config, http, route, running_gateway
from tests.gateway.recording_sim import RecordingSim, recording_sim
from tests.quality.harness import of_call, read_scores

from daytwo import sdk
from daytwo.config.quality import JudgeSpec
from daytwo.config.schema import SimSettings
from daytwo.core import judging
from daytwo.evals.assertions import rag
from daytwo.gateway import rag_context
from daytwo.sdk import retrieved as sdk_context

pytestmark = pytest.mark.integration

QUESTION = "How long does a refund take?"
ANSWER = "Refunds take five days to reach your card. Shipping labels are printed for free."
SUPPORTING = [
    "Refunds take five business days to reach the card used to pay.",
    "We print shipping labels for free: a free return label comes with every order.",
]
UNRELATED = ["Our office in Berlin opens at nine.", "The cafeteria serves soup on Mondays."]
MARKER = "cafeteria"  # a word only the unrelated context holds
SIM = SimSettings.model_validate(
    {
        "seed": 11,
        "quality": {"answers": [{"match": {"regex": "(?i)refund"}, "answer": ANSWER}]},
    }
)
GROUNDED = {"name": "grounded", "kind": "faithfulness", "sample": 1.0}
#: The same judge passing at half the statements: one context, two verdicts.
LENIENT = {"name": "lenient", "kind": "faithfulness", "sample": 1.0, "threshold": 0.5}
#: Per case: the context, then (value, label, explanation) for grounded and for lenient.
CASES: dict[str, tuple[list[str] | None, tuple[Any, ...] | None, tuple[Any, ...] | None]] = {
    "supported": (SUPPORTING, (1.0, "pass", 2), (1.0, "pass", 2)),
    "half": (SUPPORTING[:1], (0.5, "fail", 1), (0.5, "pass", 1)),
    "unrelated": (UNRELATED, (0.0, "fail", 0), (0.0, "fail", 0)),
    "none": (None, None, None),
}


def config(tmp_path: Path, root: str) -> dict[str, Any]:
    cfg = gateway_config(
        tmp_path / "ledger.db",
        {
            "up": {"type": "openai", "base_url": f"{root}/v1"},
            "claude": {"type": "anthropic", "base_url": root},
        },
        {
            "gpt-4o-mini": route("up", "gpt-4o-mini"),
            "claude": route("claude", "claude-sonnet-4-5"),
            "judge": route("up", "gpt-4o"),
        },
    )
    cfg["quality"] = {
        "evaluators": [{"name": "rag", "checks": ["refusal"], "judges": [GROUNDED, LENIENT]}],
        "judge": {"model": "judge"},
    }
    budget = {"name": "judges", "scope": {"project": "quality"}, "window": "day", "usd": "10"}
    cfg["spend_control"] = {"budgets": [budget]}
    return cfg


def _ask_openai(url: str, chunks: list[str] | None) -> str:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    extra = sdk.context(chunks) if chunks is not None else None
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": QUESTION}],
        extra_body=extra,
    )
    assert raw.parse().choices[0].message.content == ANSWER
    return raw.headers["x-daytwo-call-id"]


def _ask_responses(url: str, chunks: list[str] | None) -> str:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    extra = sdk.context(chunks) if chunks is not None else None
    raw = client.responses.with_raw_response.create(
        model="gpt-4o-mini", input=QUESTION, extra_body=extra
    )
    assert raw.parse().output_text == ANSWER
    return raw.headers["x-daytwo-call-id"]


def _ask_anthropic(url: str, chunks: list[str] | None) -> str:
    client = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0)
    extra = sdk.context(chunks) if chunks is not None else None
    raw = client.messages.with_raw_response.create(
        model="claude",
        max_tokens=200,
        messages=[{"role": "user", "content": QUESTION}],
        extra_body=extra,
    )
    block = raw.parse().content[0]
    assert block.type == "text" and block.text == ANSWER
    return raw.headers["x-daytwo-call-id"]


DOORS = {"openai": _ask_openai, "responses": _ask_responses, "anthropic": _ask_anthropic}


def _has_key(value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_has_key(v, key) for v in value.values())
    if isinstance(value, list):
        return any(_has_key(v, key) for v in value)
    return False


def _ledger_text(db: Path) -> str:
    """Every row of every ledger table, as one text."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [repr(r) for t in tables for r in conn.execute(f'SELECT * FROM "{t}"')]  # noqa: S608
    return "\n".join(rows)


def test_faithfulness_judge_at_every_door(tmp_path: Path) -> None:
    with recording_sim(SIM) as (root, sim), running_gateway(config(tmp_path, root)) as gw:
        ids = {
            (door, case): ask(gw.url, chunks)
            for door, ask in DOORS.items()
            for case, (chunks, _, _) in CASES.items()
        }
        db = gw.db
    assert db is not None  # the gateway stopped: every judge it started has finished
    got = read_scores(db)
    for (door, case), call_id in ids.items():
        scores = of_call(got, call_id)
        assert scores["refusal"]["value"] == 1.0, (door, case)
        for name, want in zip(("grounded", "lenient"), CASES[case][1:], strict=True):
            judged = scores.get(f"judge:{name}")
            if want is None:
                assert judged is None, f"{door}: a call without context was judged"
                continue
            assert judged is not None, (door, case, name)
            assert judged["evaluator_version"] == "judge-faithfulness@v1"
            assert judged["source"] == "online"
            value, label, supported = want
            assert (judged["value"], judged["label"]) == (value, label), (door, case, name)
            why = f"{supported} of 2 statements supported by the context"
            assert judged["explanation"] == why
    _assert_upstream_never_got_the_context(sim)
    _assert_ledger(db, ids)


def _assert_upstream_never_got_the_context(sim: RecordingSim) -> None:
    seen = sim.seen()
    assert seen and not any(_has_key(s.body, rag_context.CONTEXT_FIELD) for s in seen)
    judge_calls = [s for s in seen if s.body.get("model") == "gpt-4o"]
    user_calls = [s for s in seen if s.body.get("model") != "gpt-4o"]
    assert len(user_calls) == 12 and len(judge_calls) == 2 * 9
    assert {s.path for s in user_calls} == {"/v1/chat/completions", "/v1/messages"}
    for s in user_calls:  # the context's words reached only the judges
        assert MARKER not in orjson.dumps(s.body).decode()
    asked = [orjson.dumps(s.body).decode() for s in judge_calls]
    assert sum(MARKER in a for a in asked) == 2 * 3  # each unrelated context, to its judges
    assert all(judging.FAITHFULNESS in a for a in asked)


def _assert_ledger(db: Path, ids: dict[tuple[str, str], str]) -> None:
    assert MARKER not in _ledger_text(db)  # the context is not stored, not even the judge's
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = list(conn.execute("SELECT * FROM calls WHERE project = 'quality'"))
    assert len(rows) == 2 * 9
    for r in rows:
        assert r["workflow"] in ("judge:grounded", "judge:lenient")
        assert (r["prompt_name"], r["status"]) == ("judge-faithfulness", "ok")
    judged = {orjson.loads(r["tags"])["judged_call"] for r in rows}
    assert judged == {i for (_, case), i in ids.items() if case != "none"}


BAD = [
    ("a string", "daytwo_context", "expected an array of strings"),
    ([1], "daytwo_context[0]", "expected a string"),
    (["x"] * (rag_context.MAX_CHUNKS + 1), "daytwo_context", "maximum length"),
    (["x" * (rag_context.MAX_CHUNK_CHARS + 1)], "daytwo_context[0]", "string too long"),
    (["x" * 30_000] * 9, "daytwo_context", "characters in all"),
]
BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": QUESTION}],
    },
    "/v1/responses": {"model": "gpt-4o-mini", "input": QUESTION},
    "/v1/messages": {
        "model": "claude",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": QUESTION}],
    },
}


def test_bad_daytwo_context_is_a_400_naming_it_at_each_door(tmp_path: Path) -> None:
    with recording_sim(SIM) as (root, sim), running_gateway(config(tmp_path, root)) as gw:
        for path, body in BODIES.items():
            for value, param, words in BAD:
                raw = orjson.dumps({**body, "daytwo_context": value})
                status, _, answer = http("POST", f"{gw.url}{path}", raw)
                assert status == 400, (path, param)
                error = orjson.loads(answer)["error"]
                assert param in error["message"] and words in error["message"], (path, error)
                if path != "/v1/messages":  # OpenAI's error object names the field
                    assert error["param"] == param
                else:
                    assert error["type"] == "invalid_request_error"
        rows = gw.records()
    assert sim.seen() == []  # refused before any upstream call
    assert len(rows) == len(BODIES) * len(BAD)
    assert {r["http_status"] for r in rows} == {400}


def test_count_tokens_drops_the_context(tmp_path: Path) -> None:
    with recording_sim(SIM) as (root, sim), running_gateway(config(tmp_path, root)) as gw:
        body = {**BODIES["/v1/messages"], **sdk.context(UNRELATED)}
        body.pop("max_tokens")
        status, _, _ = http("POST", f"{gw.url}/v1/messages/count_tokens", orjson.dumps(body))
    assert status == 200
    counted = sim.seen("/v1/messages/count_tokens")
    assert counted and not any(_has_key(s.body, "daytwo_context") for s in counted)


# -- the parts ------------------------------------------------------------------------------


def test_sdk_context_checks_the_gateways_bounds() -> None:
    assert sdk.context(["a", "b"]) == {"daytwo_context": ["a", "b"]}
    assert sdk.context(c for c in ("a",)) == {"daytwo_context": ["a"]}
    assert (
        sdk_context.CONTEXT_FIELD,
        sdk_context.MAX_CHUNKS,
        sdk_context.MAX_CHUNK_CHARS,
        sdk_context.MAX_TOTAL_CHARS,
    ) == (
        rag_context.CONTEXT_FIELD,
        rag_context.MAX_CHUNKS,
        rag_context.MAX_CHUNK_CHARS,
        rag_context.MAX_TOTAL_CHARS,
    )
    with pytest.raises(TypeError, match="single string"):
        sdk.context("one chunk")
    with pytest.raises(TypeError, match=r"chunks\[1\]"):
        sdk.context(["a", 2])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="allowed"):
        sdk.context(["a"] * (sdk_context.MAX_CHUNKS + 1))
    with pytest.raises(ValueError, match=r"chunks\[0\]"):
        sdk.context(["x" * (sdk_context.MAX_CHUNK_CHARS + 1)])


def test_take_context_removes_the_field() -> None:
    body: dict[str, Any] = {"model": "m", "daytwo_context": ["a", "b"]}
    assert rag_context.take_context(body) == ("a", "b")
    assert body == {"model": "m"}
    for empty in (None, []):
        body = {"daytwo_context": empty}
        assert rag_context.take_context(body) is None and body == {}
    assert rag_context.take_context({"model": "m"}) is None


def test_one_scoring_offline_and_online() -> None:
    assert rag.fraction is judging.fraction and rag.RAG_THRESHOLD == judging.RAG_THRESHOLD
    assert judging.fraction([1, 0, 1, 1]) == 0.75 and judging.fraction([]) == 0.0
    data = {"statements": [{"statement": "s", "reason": "r", "verdict": v} for v in (1, 0, 1)]}
    verdicts = judging.item_verdicts(data, "statements", "verdict")
    assert verdicts == [1, 0, 1]
    reason = judging.share_reason(verdicts, "statements", "supported by the context")
    assert reason == "2 of 3 statements supported by the context"


def test_judge_kind_config() -> None:
    spec = JudgeSpec.model_validate(GROUNDED)
    assert (spec.kind, spec.rubric, spec.threshold) == ("faithfulness", None, None)
    assert JudgeSpec.model_validate({"name": "p", "rubric": "Polite."}).kind == "rubric"
    with pytest.raises(ValidationError, match="rubric: a judge of kind `rubric` needs one"):
        JudgeSpec.model_validate({"name": "p"})
    with pytest.raises(ValidationError, match="rubric: a `faithfulness` judge"):
        JudgeSpec.model_validate({**GROUNDED, "rubric": "x"})
    with pytest.raises(ValidationError, match="threshold: only a `faithfulness` judge"):
        JudgeSpec.model_validate({"name": "p", "rubric": "Polite.", "threshold": 0.5})
    with pytest.raises(ValidationError, match="threshold"):
        JudgeSpec.model_validate({**GROUNDED, "threshold": 1.5})
