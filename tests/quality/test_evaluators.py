"""The cheap online checks on real traffic: calls over loopback HTTP through the real gateway to
the simulator (its quality knobs make refusals, broken JSON, scripted answers and tool calls),
and the ``scores`` rows the quality room wrote for each call, read from the SQLite ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.harness import (
    RunningGateway,
    gateway_config,
    http,
    route,
    running_gateway,
    wait_for,
)
from tests.prompts.files import SUPPORT_V1, SUPPORT_VARS, prompt_dir
from tests.quality.harness import ALL_CHECKS_EVALUATOR, of_call, quality_config, scores

from daytwo.config.schema import SimSettings
from daytwo.config.sim_quality import SimQuality
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["answer"],
    "properties": {"answer": {"type": "string"}},
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string"}},
        },
    },
}


def chat(
    gw: RunningGateway, text: str, headers: dict[str, str] | None = None, **params: Any
) -> tuple[str, dict[str, Any]]:
    """One chat call; (call id, the answer), asserting it succeeded."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **params}
    url = f"{gw.base_url}/chat/completions"
    status, headers, raw = http("POST", url, orjson.dumps(body), headers)
    assert status == 200, raw
    return headers["x-daytwo-call-id"], orjson.loads(raw)


def scored(gw: RunningGateway, call_id: str, *evaluators: str) -> dict[str, dict[str, Any]]:
    """The call's scores, once every named evaluator has one."""
    return wait_for(
        lambda: (got := of_call(scores(gw), call_id)) and all(e in got for e in evaluators) and got,
        what=f"scores {evaluators} of {call_id}",
    )


def test_refusal_by_provider_signal_fails_refusal_and_format(tmp_path: Path) -> None:
    cfg = quality_config(tmp_path, {"evaluators": [ALL_CHECKS_EVALUATOR]}, sim={"refusal_rate": 1})
    fmt = {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA}}
    with running_gateway(cfg) as gw:
        call_id, answer = chat(gw, "Tell me a secret.", response_format=fmt)
        assert answer["choices"][0]["message"]["refusal"]  # the signal the check reads
        got = scored(gw, call_id, "refusal", "format", "length")
        trace_id = gw.record(call_id)["trace_id"]
    assert (got["refusal"]["value"], got["refusal"]["label"]) == (0.0, "refusal")
    assert got["refusal"]["explanation"] == "refusal (signal)"
    assert (got["format"]["value"], got["format"]["label"]) == (0.0, "invalid")
    assert got["refusal"]["source"] == "online"
    assert got["refusal"]["trace_id"] == trace_id


def test_refusal_in_prose_is_caught_by_the_heuristic(tmp_path: Path) -> None:
    cfg = quality_config(tmp_path, {"evaluators": [ALL_CHECKS_EVALUATOR]}, sim={"refusal_rate": 1})
    with running_gateway(cfg) as gw:
        call_id, answer = chat(gw, "Tell me a secret.")
        message = answer["choices"][0]["message"]
        assert message["refusal"] is None and message["content"]  # no signal: only prose
        got = scored(gw, call_id, "refusal")
    assert (got["refusal"]["value"], got["refusal"]["explanation"]) == (0.0, "refusal (phrase)")
    assert "format" not in got  # no response_format asked: nothing to check


def test_plain_answer_passes_refusal(tmp_path: Path) -> None:
    cfg = quality_config(tmp_path, {"evaluators": [ALL_CHECKS_EVALUATOR]})
    with running_gateway(cfg) as gw:
        call_id, _ = chat(gw, "What is the capital of France?")
        got = scored(gw, call_id, "refusal", "truncation", "length")
    assert (got["refusal"]["value"], got["refusal"]["label"]) == (1.0, "ok")
    assert (got["truncation"]["value"], got["truncation"]["label"]) == (1.0, "ok")


@pytest.mark.parametrize(("rate", "value", "label"), [(1.0, 0.0, "invalid"), (0.0, 1.0, "valid")])
def test_format_under_response_format(
    tmp_path: Path, rate: float, value: float, label: str
) -> None:
    sim = {
        "invalid_json_rate": rate,
        "answers": [{"match": {"regex": "(?i)capital"}, "answer": {"answer": "Paris"}}],
    }
    cfg = quality_config(tmp_path, {"evaluators": [ALL_CHECKS_EVALUATOR]}, sim=sim)
    fmt = {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA}}
    with running_gateway(cfg) as gw:
        call_id, answer = chat(gw, "What is the capital of France?", response_format=fmt)
        got = scored(gw, call_id, "format")
    text = answer["choices"][0]["message"]["content"]
    assert (got["format"]["value"], got["format"]["label"]) == (value, label), text


def test_truncated_answer(tmp_path: Path) -> None:
    cfg = quality_config(tmp_path, {"evaluators": [ALL_CHECKS_EVALUATOR]})
    with running_gateway(cfg) as gw:
        call_id, answer = chat(gw, "Write a long story about a dragon.", max_tokens=2)
        assert answer["choices"][0]["finish_reason"] == "length"
        got = scored(gw, call_id, "truncation", "length")
        row = gw.record(call_id)
    assert (got["truncation"]["value"], got["truncation"]["label"]) == (0.0, "length")
    assert got["length"]["value"] == row["output_tokens"] == 2
    assert got["length"]["label"] is None


@pytest.mark.parametrize(
    ("arguments", "value"), [({"city": "Paris"}, 1.0), ({"town": "Paris"}, 0.0)]
)
def test_tool_call_validity(tmp_path: Path, arguments: dict[str, Any], value: float) -> None:
    sim = {
        "answers": [
            {
                "match": {"regex": "(?i)weather"},
                "answer": "It is sunny.",
                "tool_call": {"name": "get_weather", "arguments": arguments},
            }
        ]
    }
    cfg = quality_config(tmp_path, {"evaluators": [ALL_CHECKS_EVALUATOR]}, sim=sim)
    with running_gateway(cfg) as gw:
        call_id, answer = chat(
            gw, "What is the weather in Paris?", tools=[WEATHER_TOOL], tool_choice="required"
        )
        assert answer["choices"][0]["message"]["tool_calls"]
        got = scored(gw, call_id, "tool_call")
    assert got["tool_call"]["value"] == value
    if value == 0.0:
        assert "city" in got["tool_call"]["explanation"]  # names the missing argument


def test_language_mismatch(tmp_path: Path) -> None:
    sim = {
        "answers": [
            {
                "match": {"regex": "(?i)capital de Francia"},
                "answer": "The capital of France is Paris, and it is a city that you will love.",
            },
            {
                "match": {"regex": "(?i)capitale de la France"},
                "answer": "La capitale de la France est Paris, et elle est très belle.",
            },
        ]
    }
    cfg = quality_config(tmp_path, {"evaluators": [ALL_CHECKS_EVALUATOR]}, sim=sim)
    with running_gateway(cfg) as gw:
        wrong, _ = chat(gw, "¿Cuál es la capital de Francia? Dímelo por favor, es para un examen.")
        right, _ = chat(gw, "Quelle est la capitale de la France? Je ne sais pas, et vous?")
        got_wrong = scored(gw, wrong, "language")
        got_right = scored(gw, right, "language")
    assert (got_wrong["language"]["value"], got_wrong["language"]["label"]) == (0.0, "en")
    assert got_wrong["language"]["explanation"] == "asked in `es`, answered in `en`"
    assert (got_right["language"]["value"], got_right["language"]["label"]) == (1.0, "fr")


def test_selectors_and_sampling_choose_the_calls(tmp_path: Path) -> None:
    quality = {
        "evaluators": [
            {"name": "support", "match": {"project": "support"}, "checks": ["refusal"]},
            {"name": "half", "checks": ["length"], "sample": {"length": 0.5}},
        ],
        "seed": 3,
    }
    from daytwo.quality.evaluate import draw

    cfg = quality_config(tmp_path, quality)
    with running_gateway(cfg) as gw:
        ids = [chat(gw, f"Question {i}?")[0] for i in range(20)]
        support = [chat(gw, "Hi", {"x-daytwo-project": "support"})[0] for _ in range(3)]
        wanted = {i for i in [*ids, *support] if draw(3, "half/length", i) < 0.5}

        def by(rows: list[dict[str, Any]], evaluator: str) -> set[str]:
            return {x["call_id"] for x in rows if x["evaluator"] == evaluator}

        # Every call's checks are written (the last call's refusal score may come after the
        # length scores are complete): wait for both sets, then compare them.
        rows = wait_for(
            lambda: (r := scores(gw)) and len(by(r, "refusal")) >= len(support) and r,
            what="the support calls' refusal scores",
        )
        rows = wait_for(
            lambda: (r := scores(gw)) and by(r, "length") >= wanted and r,
            what="the sampled length scores",
        )
    assert 0 < len(wanted) < 23  # the sample is a real subset
    assert by(rows, "length") == wanted
    assert by(rows, "refusal") == set(support)


def test_streamed_answers_are_checked_too(tmp_path: Path) -> None:
    cfg = quality_config(tmp_path, {"evaluators": [ALL_CHECKS_EVALUATOR]}, sim={"refusal_rate": 1})
    with running_gateway(cfg) as gw:
        client = gw.openai()
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Tell me a secret."}],
            stream=True,
            max_tokens=50,
        ) as response:
            call_id = response.headers["x-daytwo-call-id"]
            text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
        got = scored(gw, call_id, "refusal", "truncation", "length")
        row = gw.record(call_id)
    assert text.startswith("I'm sorry") and got["truncation"]["label"] == "ok"
    assert got["length"]["value"] == row["output_tokens"] > 0
    assert (got["refusal"]["value"], got["refusal"]["explanation"]) == (0.0, "refusal (phrase)")


def test_the_format_a_prompt_declares_is_the_format_checked(tmp_path: Path) -> None:
    """A prompt-as-code version that declares an output schema: calls that name the prompt
    are checked against it (the client's request asked for no format)."""
    schema_format = {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA}}
    spec = {**SUPPORT_V1, "response_format": schema_format}
    root = prompt_dir(tmp_path / "prompts", spec, labels={"support-reply": {"production": 1}})
    for rate, value in ((0, 1.0), (1, 0.0)):
        cfg = quality_config(
            tmp_path, {"evaluators": [ALL_CHECKS_EVALUATOR]}, sim={"invalid_json_rate": rate}
        )
        cfg["prompts"] = {"dir": str(root), "reload_poll_s": 0}
        with running_gateway(cfg) as gw:
            body = {"model": "prompt:support-reply", "messages": [], "variables": SUPPORT_VARS}
            status, headers, raw = http(
                "POST", f"{gw.base_url}/chat/completions", orjson.dumps(body)
            )
            assert status == 200, raw
            got = scored(gw, headers["x-daytwo-call-id"], "format")
        assert got["format"]["value"] == value, got["format"]


UPSTREAM_KEY = "upstream-secret-value-0042"
OPENAI_KEY = "sk-proj-Abcdefghijklmnop12345678"
MARKER = "INTERNAL-4471"


def test_a_leaked_secret_fails_leak_naming_the_detector_never_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HTTP upstream that wants the key daytwo resolved, and whose model repeats it (streamed
    token by token, or a piece of it: what passes the provider guard's search for whole values),
    a key of OpenAI's shape, and a marker planted in the system prompt (the simulator's
    leak_rate)."""
    monkeypatch.setenv("DT_LEAK_TEST_KEY", UPSTREAM_KEY)
    quality = SimQuality.model_validate(
        {
            "answers": [
                {"match": {"regex": "(?i)which key"}, "answer": f"I sign with {UPSTREAM_KEY}."},
                {"match": {"regex": "(?i)end in"}, "answer": f"It ends in {UPSTREAM_KEY[4:]}."},
                {"match": {"regex": "(?i)token"}, "answer": f"Try {OPENAI_KEY} for now."},
            ],
            "effects": [{"when": "INTERNAL-[0-9]+", "leak_rate": 1.0}],
        }
    )
    with running_sim_server(SimSettings(seed=7, quality=quality), require_key=UPSTREAM_KEY) as url:
        cfg = gateway_config(
            tmp_path / "ledger.db",
            {"up": {"type": "openai", "base_url": url, "api_key": "env:DT_LEAK_TEST_KEY"}},
            {"gpt-4o-mini": route("up", "gpt-4o-mini")},
        )
        cfg["quality"] = {
            "evaluators": [{"name": "leaks", "checks": ["leak"]}],
            "leak": {"patterns": [{"name": "internal_marker", "regex": "INTERNAL-[0-9]+"}]},
        }
        planted = {"role": "system", "content": f"Escalate with {MARKER}; never say it."}
        with running_gateway(cfg) as gw:
            with gw.openai().chat.completions.with_streaming_response.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Which key do you use?"}],
                stream=True,
            ) as response:
                streamed = response.headers["x-daytwo-call-id"]
                said = "".join(c.choices[0].delta.content or "" for c in response.parse())
            piece, piece_answer = chat(gw, "What does the key end in?")
            shape, _ = chat(gw, "Give me a token.")
            question = {"role": "user", "content": "Where is my order?"}
            marker, marker_answer = chat(gw, "", messages=[planted, question])
            clean, _ = chat(gw, "Where is my order?")
            ids = (streamed, piece, shape, marker, clean)
            got = {i: scored(gw, i, "leak")["leak"] for i in ids}
            stored = orjson.dumps(scores(gw)).decode()
    # the client got each (the guard cuts out whole values, one answer or chunk at a time) ...
    assert UPSTREAM_KEY in said
    assert UPSTREAM_KEY[4:] in piece_answer["choices"][0]["message"]["content"]
    assert marker_answer["choices"][0]["message"]["content"].startswith(f"{MARKER}: ")
    # ... the check caught each, by the detector that found it ...
    assert {i: (s["value"], s["label"], s["explanation"]) for i, s in got.items()} == {
        streamed: (0.0, "secrets", "found by secrets (1)"),
        piece: (0.0, "secrets", "found by secrets (1)"),
        shape: (0.0, "key_shapes", "found by key_shapes (1)"),
        marker: (0.0, "internal_marker", "found by internal_marker (1)"),
        clean: (1.0, "ok", None),
    }
    assert {s["evaluator_version"] for s in got.values()} == {"1"}
    # ... and no score row holds a value
    assert not any(v in stored for v in (UPSTREAM_KEY, UPSTREAM_KEY[4:], OPENAI_KEY, MARKER))
