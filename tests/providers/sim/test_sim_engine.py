"""The simulator's engine: determinism, lengths, stop sequences, tools, structured output,
embeddings, fault rates and scheduled outages -- pure logic, no sockets."""

from __future__ import annotations

import json
import math
from collections import Counter
from random import Random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fakeclock import FakeClock

from daytwo.config.schema import SimFaults, SimOutage, SimSettings
from daytwo.core.errors import InvalidRequest
from daytwo.providers.sim.engine import SimEngine, SimReply, Turn
from daytwo.providers.sim.fakedata import fake_value, split_pieces

USER = [{"role": "user", "content": "Tell me something."}]
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit"],
        },
    },
}
SEARCH: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "search_orders",
        "parameters": {
            "type": "object",
            "properties": {
                "customer": {"$ref": "#/$defs/Customer"},
                "statuses": {"type": "array", "items": {"enum": ["open", "shipped"]}},
                "limit": {"anyOf": [{"type": "integer", "maximum": 50}, {"type": "null"}]},
                "since": {"type": "string", "format": "date-time"},
                "min_total": {"type": "number", "exclusiveMinimum": 0},
                "urgent": {"type": "boolean"},
            },
            "required": ["customer", "statuses"],
            "$defs": {
                "Customer": {
                    "type": "object",
                    "properties": {"id": {"type": "string"}, "email": {"type": "string"}},
                    "required": ["id"],
                }
            },
        },
    },
}


def chat(engine: SimEngine, **body: Any) -> SimReply:
    turn = engine.chat({"model": "gpt-4o-mini", "messages": USER, **body})
    assert turn.reply is not None
    return turn.reply


def check(value: Any, schema: Any, root: Any) -> None:
    """A small JSON-schema validator for the keywords the tests use."""
    if "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return check(value, node, root)
    if "anyOf" in schema:
        errors = 0
        for option in schema["anyOf"]:
            try:
                check(value, option, root)
            except AssertionError:
                errors += 1
        assert errors < len(schema["anyOf"]), (value, schema)
        return None
    if "enum" in schema:
        assert value in schema["enum"]
    kind = schema.get("type")
    if kind == "object":
        assert isinstance(value, dict)
        for key in schema.get("required", ()):
            assert key in value, (key, value)
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                check(value[key], sub, root)
    elif kind == "array":
        assert isinstance(value, list)
        assert value
        for item in value:
            check(item, schema.get("items", {}), root)
    elif kind == "string":
        assert isinstance(value, str)
    elif kind == "integer":
        assert isinstance(value, int)
        assert not isinstance(value, bool)
        assert schema.get("minimum", -math.inf) <= value <= schema.get("maximum", math.inf)
    elif kind == "number":
        assert isinstance(value, int | float)
        assert not isinstance(value, bool)
        assert value > schema.get("exclusiveMinimum", -math.inf)
    elif kind == "boolean":
        assert isinstance(value, bool)
    elif kind == "null":
        assert value is None
    return None


# ---------------------------------------------------------------- determinism


def _script(engine: SimEngine) -> list[Turn]:
    turns = [
        engine.chat({"model": "gpt-4o-mini", "messages": USER}),
        engine.chat({"model": "gpt-4o-mini", "messages": USER, "tools": [WEATHER]}),
        engine.embeddings({"model": "text-embedding-3-small", "input": "hello"}),
        engine.chat({"model": "gpt-4o-mini", "messages": USER, "n": 2, "stream": True}),
    ]
    return turns + [engine.chat({"model": "m", "messages": USER}) for _ in range(40)]


def test_same_seed_gives_the_same_replies_and_faults() -> None:
    faults = SimFaults(rate_429=0.2, rate_malformed=0.2)
    a = _script(SimEngine(SimSettings(seed=3, faults=faults), wall_clock=lambda: 1.0))
    b = _script(SimEngine(SimSettings(seed=3, faults=faults), wall_clock=lambda: 1.0))
    assert a == b
    assert any(t.fault for t in a)
    assert any(t.fault is None for t in a)


def test_a_different_seed_gives_different_replies() -> None:
    a = _script(SimEngine(SimSettings(seed=3), wall_clock=lambda: 1.0))
    b = _script(SimEngine(SimSettings(seed=4), wall_clock=lambda: 1.0))
    texts_a = [t.reply.choices[0].text for t in a if t.reply]
    texts_b = [t.reply.choices[0].text for t in b if t.reply]
    assert texts_a != texts_b
    assert a[0].request_id != b[0].request_id


def test_invalid_requests_do_not_shift_the_sequence() -> None:
    a = SimEngine(SimSettings(seed=9))
    b = SimEngine(SimSettings(seed=9))
    with pytest.raises(InvalidRequest):
        a.chat({"model": "m"})
    assert chat(a).choices == chat(b).choices


# ---------------------------------------------------------------- lengths, stop


def test_output_length_stays_between_min_and_max() -> None:
    engine = SimEngine(SimSettings(min_output_tokens=5, max_output_tokens=9))
    lengths = set()
    for _ in range(200):
        reply = chat(engine)
        choice = reply.choices[0]
        assert choice.finish_reason == "stop"
        assert len(choice.pieces) == reply.output_tokens
        assert "".join(choice.pieces) == choice.text
        lengths.add(reply.output_tokens)
    assert lengths == set(range(5, 10))


@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens"])
def test_a_token_cap_cuts_the_answer_with_finish_reason_length(key: str) -> None:
    engine = SimEngine(SimSettings(min_output_tokens=20, max_output_tokens=30))
    reply = chat(engine, **{key: 7})
    assert reply.output_tokens == 7
    assert reply.choices[0].finish_reason == "length"


def test_a_stop_sequence_ends_the_text_before_it() -> None:
    settings_ = SimSettings(seed=11, min_output_tokens=30, max_output_tokens=30)
    full = chat(SimEngine(settings_)).choices[0]
    stop_word = full.pieces[10]  # e.g. " budget": cut at its first occurrence
    cut_at = full.text.index(stop_word)
    reply = chat(SimEngine(settings_), stop=["NEVER", stop_word])
    choice = reply.choices[0]
    assert choice.text == full.text[:cut_at]
    assert choice.finish_reason == "stop"
    assert reply.output_tokens == len(choice.pieces) <= 10


def test_n_choices_each_count_their_tokens() -> None:
    reply = chat(SimEngine(SimSettings(seed=2)), n=3)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert reply.output_tokens == sum(len(c.pieces) for c in reply.choices)
    assert reply.steps == max(len(c.pieces) for c in reply.choices)


def test_input_tokens_are_estimated_from_the_messages() -> None:
    short = chat(SimEngine(SimSettings()))
    long = chat(SimEngine(SimSettings()), messages=[{"role": "user", "content": "word " * 400}])
    assert short.input_tokens > 0
    assert long.input_tokens > short.input_tokens + 400


# ---------------------------------------------------------------- tools, JSON


@pytest.mark.parametrize("tool", [WEATHER, SEARCH])
def test_tool_call_arguments_validate_against_the_schema(tool: dict[str, Any]) -> None:
    engine = SimEngine(SimSettings(seed=5))
    for _ in range(30):
        choice = chat(engine, tools=[tool]).choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.pieces == ()
        (call,) = choice.tool_calls
        assert call.name == tool["function"]["name"]
        assert call.id.startswith("call_")
        params = tool["function"]["parameters"]
        check(json.loads(call.arguments), params, params)


def test_tool_choice_names_the_function_to_call() -> None:
    named = {"type": "function", "function": {"name": "search_orders"}}
    reply = chat(SimEngine(SimSettings()), tools=[WEATHER, SEARCH], tool_choice=named)
    assert reply.choices[0].tool_calls[0].name == "search_orders"


def test_after_a_tool_result_the_model_answers_in_text() -> None:
    messages = [
        *USER,
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    engine = SimEngine(SimSettings())
    assert chat(engine, tools=[WEATHER], messages=messages).choices[0].tool_calls == ()
    assert chat(engine, tools=[WEATHER], tool_choice="none").choices[0].tool_calls == ()
    forced = chat(engine, tools=[WEATHER], messages=messages, tool_choice="required")
    assert forced.choices[0].finish_reason == "tool_calls"


def test_json_object_mode_answers_a_json_object() -> None:
    engine = SimEngine(SimSettings())
    for _ in range(10):
        text = chat(engine, response_format={"type": "json_object"}).choices[0].text
        assert isinstance(json.loads(text), dict)


def test_json_schema_mode_answers_json_with_the_schema_properties() -> None:
    schema = SEARCH["function"]["parameters"]
    fmt = {"type": "json_schema", "json_schema": {"name": "orders", "schema": schema}}
    engine = SimEngine(SimSettings(seed=8))
    for _ in range(10):
        value = json.loads(chat(engine, response_format=fmt).choices[0].text)
        assert set(value) == set(schema["properties"])
        check(value, schema, schema)


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.sampled_from(
            [
                {"type": "string"},
                {"type": "integer", "minimum": -3, "maximum": 3},
                {"type": "number"},
                {"type": "boolean"},
                {"enum": ["a", "b"]},
                {"type": "null"},
            ]
        ),
        lambda inner: st.one_of(
            st.builds(lambda items: {"type": "array", "items": items}, inner),
            st.dictionaries(st.sampled_from(["a", "city", "name", "id"]), inner, max_size=3).map(
                lambda props: {"type": "object", "properties": props, "required": list(props)}
            ),
        ),
        max_leaves=8,
    ),
    st.integers(0, 1000),
)
def test_fake_values_fit_generated_schemas(schema: dict[str, Any], seed: int) -> None:
    check(fake_value(schema, Random(seed)), schema, schema)


def test_pieces_join_back_to_the_text() -> None:
    text = '{"a": "New  York", "b":[1, 2.5]}  tail '
    assert "".join(split_pieces(text)) == text


# ---------------------------------------------------------------- embeddings


def _vectors(engine: SimEngine, **body: Any) -> list[list[float]]:
    turn = engine.embeddings({"model": "text-embedding-3-small", **body})
    assert turn.embeddings is not None
    return [v.tolist() for v in turn.embeddings.vectors]


def test_embeddings_are_deterministic_unit_vectors_of_the_model_size() -> None:
    engine = SimEngine(SimSettings())
    a, b, a2 = _vectors(engine, input=["alpha", "beta", "alpha"])
    assert len(a) == 1536
    assert a == a2
    assert a != b
    assert math.isclose(math.fsum(x * x for x in a), 1.0, rel_tol=1e-5)
    turn = engine.embeddings({"model": "text-embedding-3-large", "input": "alpha"})
    assert turn.embeddings is not None
    assert len(turn.embeddings.vectors[0]) == 3072


def test_embedding_dimensions_shorten_and_renormalise() -> None:
    engine = SimEngine(SimSettings())
    (full,) = _vectors(engine, input="alpha")
    (short,) = _vectors(engine, input="alpha", dimensions=256)
    assert len(short) == 256
    scale = math.sqrt(math.fsum(x * x for x in full[:256]))
    assert all(
        math.isclose(s, f / scale, rel_tol=1e-4, abs_tol=1e-7)
        for s, f in zip(short, full, strict=False)
    )


def test_embeddings_accept_token_arrays() -> None:
    engine = SimEngine(SimSettings())
    assert len(_vectors(engine, input=[1, 2, 3])) == 1
    assert len(_vectors(engine, input=[[1, 2], [3]])) == 2
    turn = engine.embeddings({"model": "m", "input": [[1, 2], [3]]})
    assert turn.embeddings is not None
    assert turn.embeddings.input_tokens == 3


@pytest.mark.parametrize(
    ("op", "body", "param"),
    [
        ("chat", {"messages": USER}, "model"),
        ("chat", {"model": "m"}, "messages"),
        ("chat", {"model": "m", "messages": USER, "n": 0}, "n"),
        ("chat", {"model": "m", "messages": USER, "tool_choice": "auto"}, "tool_choice"),
        ("embeddings", {"model": "m"}, "input"),
        ("embeddings", {"model": "m", "input": [None]}, "input"),
        ("embeddings", {"model": "m", "input": "x", "encoding_format": "hex"}, "encoding_format"),
    ],
)
def test_invalid_requests_name_the_parameter(op: str, body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        getattr(SimEngine(SimSettings()), op)(body)
    assert info.value.param == param


# ---------------------------------------------------------------- faults, outages


def test_fault_counts_are_exact_for_a_seed_and_close_to_the_rates() -> None:
    faults = SimFaults(
        rate_429=0.1,
        rate_500=0.05,
        rate_503=0.05,
        rate_timeout=0.02,
        rate_malformed=0.03,
        rate_reset=0.05,
    )
    engine = SimEngine(SimSettings(seed=7, faults=faults))
    counts: Counter[str | None] = Counter(
        engine.chat({"model": "m", "messages": USER}).fault for _ in range(2000)
    )
    assert counts == {
        None: 1352,
        "429": 212,
        "500": 118,
        "503": 96,
        "timeout": 46,
        "malformed": 68,
        "reset": 108,
    }
    for fault, rate in [("429", 0.1), ("500", 0.05), ("503", 0.05), ("reset", 0.05)]:
        assert abs(counts[fault] / 2000 - rate) < 0.02


def test_status_faults_and_hangs_carry_no_answer_while_cut_ones_do() -> None:
    body = {"model": "m", "messages": USER}
    for rate, has_reply in [("rate_429", False), ("rate_timeout", False), ("rate_reset", True)]:
        turn = SimEngine(SimSettings(faults=SimFaults.model_validate({rate: 1.0}))).chat(body)
        assert turn.fault is not None
        assert (turn.reply is not None) is has_reply


def test_rates_above_one_in_total_are_refused() -> None:
    with pytest.raises(ValueError, match="add up to"):
        SimFaults(rate_429=0.6, rate_500=0.5)


def test_outages_follow_the_injected_clock() -> None:
    clock = FakeClock()
    outages = (
        SimOutage(start_s=10, duration_s=5),
        SimOutage(start_s=20, duration_s=1, mode="hang"),
    )
    engine = SimEngine(SimSettings(outages=outages), clock=clock)
    body = {"model": "m", "messages": USER}
    seen = []
    for t in (0, 9.99, 10, 14.99, 15, 20.5, 21):
        clock.now = 1000.0 + t
        seen.append(engine.chat(body).fault)
    assert seen == [None, None, "503", "503", None, "timeout", None]


def test_an_outage_does_not_shift_the_random_faults_after_it() -> None:
    clock = FakeClock()
    faults = SimFaults(rate_500=0.3)
    plain = SimEngine(SimSettings(seed=1, faults=faults))
    outage = (SimOutage(start_s=0, duration_s=1, mode="429"),)
    drilled = SimEngine(SimSettings(seed=1, faults=faults, outages=outage), clock=clock)
    body = {"model": "m", "messages": USER}
    first = [drilled.chat(body).fault for _ in range(5)]
    clock.now += 2
    rest = [drilled.chat(body).fault for _ in range(30)]
    expected = [plain.chat(body).fault for _ in range(35)][5:]
    assert first == ["429"] * 5
    assert rest == expected
