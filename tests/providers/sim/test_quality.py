"""The simulator's scripted answer quality (``sim.quality``) over real loopback HTTP with the
official SDKs: scripted answers by exact / regex / nearest match, right and wrong by seed and
personality, refusals in each wire's own shape (also through the gateway's OpenAI and Anthropic
doors), broken JSON, verbosity and what it costs, tool calls, prompt effects, a silent model
change, and the answers file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from tests.fakeclock import FakeClock
from tests.gateway.harness import gateway_config, route, running_gateway

from daytwo.config.load import load_config
from daytwo.config.schema import SimSettings
from daytwo.core.errors import ConfigError
from daytwo.providers.sim.engine import SimEngine
from daytwo.providers.sim.quality import REFUSAL_TEXT
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

#: 200 scripted questions with known answers (an item bank, as an eval suite would have).
ITEMS = [(f"Item {i}: what is {i} plus {i + 3}?", str(2 * i + 3)) for i in range(200)]
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}
SEARCH: Any = {
    "type": "function",
    "function": {"name": "search", "parameters": {"type": "object", "properties": {}}},
}
CAPITAL = {"country": "France", "capital": "Paris", "population": 2102650}
QUALITY: dict[str, Any] = {
    "answers": [
        {"match": {"exact": "What is 2+2?"}, "answer": 4, "wrong": "5"},
        {"match": {"regex": r"(?i)\brefund"}, "answer": "Refunds take 5 business days."},
        {
            "match": {"nearest": "How do I reset my password?"},
            "answer": "Open Settings, then choose Reset password.",
        },
        {
            "match": {"exact": "Weather in Paris for 3 days?"},
            "answer": "Sunny.",
            "tool_call": {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}},
        },
        {"match": {"exact": "Capital of France?"}, "answer": CAPITAL},
        *({"match": {"exact": q}, "answer": a} for q, a in ITEMS),
    ],
    "correct_rate": 0.9,
    "personalities": {
        "cheap": {"correct_rate": 0.8},
        "perfect": {"correct_rate": 1.0},
        "refuser": {"correct_rate": 1.0, "refusal_rate": 1.0},
        "wordy": {"correct_rate": 1.0, "verbosity": 3.0},
        "sloppy-json": {"correct_rate": 1.0, "invalid_json_rate": 1.0},
        "no-tools": {"tool_rate": 0.0},
    },
    "effects": [
        {"when": "(?i)be thorough", "verbosity": 2.0},
        {"when": "INTERNAL-[0-9]+", "leak_rate": 0.5},
    ],
}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_sim_server(SimSettings.model_validate({"seed": 7, "quality": QUALITY})) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url, api_key="sk-anything", max_retries=0) as c:
        yield c


def ask(client: openai.OpenAI, model: str, question: str, **params: Any) -> Any:
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], **params
    )


def text(client: openai.OpenAI, model: str, question: str, **params: Any) -> str:
    content = ask(client, model, question, **params).choices[0].message.content
    assert isinstance(content, str)
    return content


# ------------------------------------------------------------------------ matching


def test_entries_answer_by_exact_regex_and_nearest_match(client: openai.OpenAI) -> None:
    assert text(client, "perfect", "What is 2+2?") == "4"
    assert text(client, "perfect", "  What is 2+2?\n") == "4"  # ends' whitespace ignored
    assert text(client, "perfect", "I want a REFUND now") == "Refunds take 5 business days."
    assert (
        text(client, "perfect", "how can I reset my password")
        == "Open Settings, then choose Reset password."
    )
    # Too far from every example, and no other match: generated prose, as without a script.
    other = text(client, "perfect", "Tell me about the ocean tides")
    assert other and "Reset" not in other and "Refunds" not in other


def test_the_question_is_the_last_user_message(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="perfect",
        messages=[
            {"role": "system", "content": "You answer support questions."},
            {"role": "user", "content": "I want a refund"},
            {"role": "assistant", "content": "Refunds take 5 business days."},
            {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
        ],
    )
    assert reply.choices[0].message.content == "4"


# ------------------------------------------------------------- right, wrong, and who errs


def correct_items(client: openai.OpenAI, model: str) -> set[int]:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda item: text(client, model, item[0]), ITEMS))
    return {i for i, (got, (_, want)) in enumerate(zip(answers, ITEMS, strict=True)) if got == want}


def test_a_cheaper_personality_scores_measurably_lower(client: openai.OpenAI) -> None:
    default = correct_items(client, "gpt-4o")  # no personality: the block's 0.9
    cheap = correct_items(client, "cheap")  # 0.8
    assert 170 <= len(default) <= 195, len(default)
    assert 145 <= len(cheap) <= 175, len(cheap)
    assert 10 <= len(default) - len(cheap) <= 30
    # Item difficulty is shared: the cheaper model errs on every item the better one errs on.
    assert cheap < default


def test_a_wrong_answer_is_plausible_and_the_entrys_own_when_given(client: openai.OpenAI) -> None:
    wrong = [
        (q, a, got) for q, a in ITEMS if (got := text(client, "cheap", q)) != a
    ]  # about 40 of them
    assert wrong
    for _, want, got in wrong:  # the number changed, nothing else
        assert got.isdigit() and got != want
    engine = SimEngine(
        SimSettings.model_validate({"seed": 7, "quality": {**QUALITY, "correct_rate": 0.0}})
    )
    turn = engine.chat({"model": "m", "messages": [{"role": "user", "content": "What is 2+2?"}]})
    assert turn.reply is not None and turn.reply.choices[0].text == "5"


def test_fates_follow_the_question_not_the_order_or_the_server(base_url: str) -> None:
    questions = [q for q, _ in ITEMS[:60]] + ["Tell me about the ocean tides", "What is 2+2?"]
    with openai.OpenAI(base_url=base_url, api_key="x", max_retries=0) as c:
        first = {q: text(c, "cheap", q) for q in questions}
        with ThreadPoolExecutor(16) as pool:  # reversed, concurrent, interleaved with others
            again = dict(
                zip(
                    reversed(questions),
                    pool.map(lambda q: text(c, "cheap", q), reversed(questions)),
                    strict=True,
                )
            )
    assert again == first
    for seed, same in ((7, True), (8, False)):  # a fresh server: the seed decides
        settings = SimSettings.model_validate({"seed": seed, "quality": QUALITY})
        with (
            running_sim_server(settings) as url,
            openai.OpenAI(base_url=url, api_key="x", max_retries=0) as fresh,
        ):
            assert ({q: text(fresh, "cheap", q) for q in reversed(questions)} == first) is same


# ------------------------------------------------------------------------- refusals


def test_a_refusal_is_content_on_the_openai_wire(client: openai.OpenAI) -> None:
    msg = ask(client, "refuser", "What is 2+2?").choices[0]
    assert msg.message.content == REFUSAL_TEXT
    assert msg.message.refusal is None
    assert msg.finish_reason == "stop"


def test_a_structured_outputs_refusal_is_message_refusal(client: openai.OpenAI) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    reply = ask(client, "refuser", "Capital of France?", response_format=fmt)
    assert reply.choices[0].message.content is None
    assert reply.choices[0].message.refusal == REFUSAL_TEXT
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    stream = ask(
        client,
        "refuser",
        "Capital of France?",
        response_format=fmt,
        stream=True,
        stream_options={"include_usage": True},
    )
    deltas = [ch.choices[0].delta for ch in stream if ch.choices]
    assert deltas[0].role == "assistant" and deltas[0].content is None
    assert "".join(d.refusal or "" for d in deltas) == REFUSAL_TEXT
    assert not any(d.content for d in deltas)
    # vLLM's running usage counts refusal tokens as it counts content tokens.
    running = ask(
        client,
        "refuser",
        "Capital of France?",
        response_format=fmt,
        stream=True,
        extra_body={"stream_options": {"include_usage": True, "continuous_usage_stats": True}},
    )
    counts = [ch.usage.completion_tokens for ch in running if ch.choices and ch.usage]
    assert counts[-1] == reply.usage.completion_tokens == sum(1 for d in deltas if d.refusal)


def test_a_refusal_is_stop_reason_refusal_on_the_anthropic_wire(base_url: str) -> None:
    with anthropic.Anthropic(
        base_url=base_url.removesuffix("/v1"), api_key="x", max_retries=0
    ) as claude:
        msg = claude.messages.create(
            model="refuser",
            max_tokens=200,
            messages=[{"role": "user", "content": "What is 2+2?"}],
        )
        assert msg.stop_reason == "refusal"
        assert msg.content[0].type == "text" and msg.content[0].text == REFUSAL_TEXT
        with claude.messages.stream(
            model="refuser", max_tokens=200, messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            final = stream.get_final_message()
        assert final.stop_reason == "refusal"
        answered = claude.messages.create(
            model="perfect", max_tokens=200, messages=[{"role": "user", "content": "What is 2+2?"}]
        )
        assert answered.stop_reason == "end_turn"
        assert answered.content[0].type == "text" and answered.content[0].text == "4"


# ------------------------------------------------------------ JSON, length, tools, effects


def test_json_mode_gives_the_entrys_object_and_invalid_json_breaks_it(
    client: openai.OpenAI,
) -> None:
    fmt = {"type": "json_object"}
    assert json.loads(text(client, "perfect", "Capital of France?", response_format=fmt)) == CAPITAL
    broken = text(client, "sloppy-json", "Capital of France?", response_format=fmt)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)
    assert json.dumps(CAPITAL, separators=(",", ":")).startswith(broken)
    unscripted = text(client, "sloppy-json", "Any JSON please", response_format=fmt)
    with pytest.raises(json.JSONDecodeError):
        json.loads(unscripted)


def test_verbosity_multiplies_output_tokens_and_respects_max_tokens(
    client: openai.OpenAI,
) -> None:
    questions = ["I want a refund", *(f"Unscripted question number {i}" for i in range(12))]

    def tokens(model: str, **params: Any) -> int:
        total = 0
        for q in questions:
            usage = ask(client, model, q, **params).usage
            assert usage is not None
            total += usage.completion_tokens
        return total

    plain, wordy = tokens("perfect"), tokens("wordy")
    assert wordy == pytest.approx(3 * plain, rel=0.05)
    verbose = text(client, "wordy", "I want a refund")
    assert verbose.startswith("Refunds take 5 business days. ") and len(verbose) > 60
    cut = ask(client, "wordy", "I want a refund", max_tokens=5)
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and cut.usage.completion_tokens == 5


def test_a_system_prompt_effect_changes_verbosity(client: openai.OpenAI) -> None:
    def usage(system: str) -> int:
        reply = client.chat.completions.create(
            model="perfect",
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": "I want a refund"},
            ],
        )
        assert reply.usage is not None
        return reply.usage.completion_tokens

    assert usage("Be thorough: explain every step.") == 2 * usage("Be brief.")


def test_a_marker_in_the_system_prompt_is_repeated_at_the_leak_rate(
    client: openai.OpenAI,
) -> None:
    def answer(system: str, question: str, **params: Any) -> str:
        reply = client.chat.completions.create(
            model="perfect",
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
            **params,
        )
        content = reply.choices[0].message.content
        assert isinstance(content, str)
        return content

    planted = "Escalate to tier 2 with code INTERNAL-4471; never tell the customer."
    leaked = [q for q, _ in ITEMS[:100] if answer(planted, q).startswith("INTERNAL-4471: ")]
    assert 30 <= len(leaked) <= 70  # half of them, drawn per question
    q = leaked[0]
    assert answer(planted, q) == "INTERNAL-4471: " + answer("Be brief.", q)  # the same answer
    assert answer(planted, q) == answer(planted, q)  # the same question, the same fate
    kept = next(q for q, _ in ITEMS[:100] if q not in leaked)
    assert "INTERNAL" not in answer(planted, kept)
    assert not any("INTERNAL" in answer("Be brief.", q) for q, _ in ITEMS[:20])
    as_json = answer(planted, q, response_format={"type": "json_object"})
    assert "INTERNAL" not in as_json  # JSON answers stay JSON


def test_tool_calls_use_the_entrys_call_and_tool_rate(client: openai.OpenAI) -> None:
    ask_weather = "Weather in Paris for 3 days?"
    # The entry's call, even when its function is not the first offered.
    call = ask(client, "perfect", ask_weather, tools=[SEARCH, WEATHER]).choices[0]
    assert call.finish_reason == "tool_calls" and call.message.tool_calls
    fn = call.message.tool_calls[0].function  # type: ignore[union-attr]
    assert (fn.name, json.loads(fn.arguments)) == ("get_weather", {"city": "Paris", "days": 3})
    # A question without a scripted call: a generated call, valid for the first function.
    generated = ask(client, "perfect", "What is 2+2?", tools=[WEATHER]).choices[0]
    args = json.loads(generated.message.tool_calls[0].function.arguments)  # type: ignore[index,union-attr]
    assert set(args) == {"city", "days"} and isinstance(args["days"], int)
    # tool_rate 0: the model answers in text, unless the request requires a call.
    declined = ask(client, "no-tools", "What is 2+2?", tools=[WEATHER]).choices[0]
    assert declined.finish_reason == "stop" and declined.message.tool_calls is None
    forced = ask(client, "no-tools", ask_weather, tools=[WEATHER], tool_choice="required")
    assert forced.choices[0].finish_reason == "tool_calls"


# ---------------------------------------------------------------- silent model change


CHANGE = {
    "refusal_rate": 0.03,
    "changes": [
        {
            "after_s": 600,
            "models": ["claude-haiku-4-5"],
            "personality": {"served_model": "claude-haiku-4-5-20260101", "refusal_rate": 0.08},
        }
    ],
}


def test_a_silent_model_change_switches_served_model_and_fingerprint() -> None:
    clock = FakeClock()
    settings = SimSettings.model_validate({"seed": 3, "quality": CHANGE})
    questions = [f"Customer question {i}" for i in range(20)]
    with (
        running_sim_server(settings, clock=clock) as url,
        openai.OpenAI(base_url=url, api_key="x", max_retries=0) as c,
    ):

        def served(model: str) -> tuple[set[str], set[str | None]]:
            replies = [ask(c, model, q, max_tokens=3) for q in questions]
            return {r.model for r in replies}, {r.system_fingerprint for r in replies}

        models, fps = served("claude-haiku-4-5")
        assert models == {"claude-haiku-4-5"} and len(fps) == 1
        clock.advance(599)
        assert served("claude-haiku-4-5") == (models, fps)
        clock.advance(1)
        new_models, new_fps = served("claude-haiku-4-5")
        assert new_models == {"claude-haiku-4-5-20260101"}
        assert len(new_fps) == 1 and new_fps != fps
        assert served("gpt-4o-mini") == ({"gpt-4o-mini"}, fps)  # a model the change names not


def test_a_silent_model_change_raises_the_refusal_rate_on_a_superset() -> None:
    clock = FakeClock()
    engine = SimEngine(SimSettings.model_validate({"seed": 3, "quality": CHANGE}), clock=clock)
    questions = [f"Customer question {i}" for i in range(2000)]

    def refused() -> set[int]:
        out = set()
        for i, q in enumerate(questions):
            body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": q}]}
            reply = engine.chat(body).reply
            assert reply is not None
            if reply.choices[0].refusal is not None:
                assert reply.choices[0].text == REFUSAL_TEXT
                out.add(i)
        return out

    before = refused()
    clock.advance(600)
    after = refused()
    assert 40 <= len(before) <= 80 and 130 <= len(after) <= 190, (len(before), len(after))
    assert before < after  # the earlier refusals stay, new ones join


# ------------------------------------------------------------------ the answers file


def test_answers_file_is_read_from_the_config_folder(tmp_path: Path) -> None:
    lines = [
        json.dumps({"match": {"exact": "Ping?"}, "answer": "Pong."}),
        "",
        json.dumps({"match": {"regex": "(?i)opening hours"}, "answer": {"open": 9, "close": 17}}),
    ]
    (tmp_path / "answers.jsonl").write_text("\n".join(lines) + "\n")
    config = tmp_path / "daytwo.yaml"
    config.write_text(
        "providers:\n  sim:\n    type: sim\n    sim:\n      quality:\n"
        "        answers_file: answers.jsonl\n"
        "models:\n  m: {deployments: [{provider: sim, model: m}]}\n"
    )
    provider = load_config(config).providers["sim"]
    assert provider.type == "sim"
    engine = SimEngine(provider.sim)

    def answer(question: str) -> str:
        turn = engine.chat({"model": "m", "messages": [{"role": "user", "content": question}]})
        assert turn.reply is not None
        return turn.reply.choices[0].text

    assert answer("Ping?") == "Pong."
    assert json.loads(answer("What are your opening hours?")) == {"open": 9, "close": 17}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"match": {"exact": "a"}, "answer": "b"', "not valid JSON"),
        ('{"match": {"exact": "a", "regex": "b"}, "answer": "c"}', "exactly one of"),
        ('{"match": {"regex": "("}, "answer": "c"}', "not a valid regular expression"),
        ('{"match": {"exact": "a"}}', "answer: required key is missing"),
    ],
)
def test_a_bad_answers_line_names_the_file_and_line(
    tmp_path: Path, line: str, problem: str
) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps({"match": {"exact": "ok"}, "answer": "ok"}) + "\n" + line + "\n")
    settings = SimSettings.model_validate({"quality": {"answers_file": str(path)}})
    with pytest.raises(ConfigError) as err:
        SimEngine(settings)
    (message,) = err.value.problems
    assert message.startswith(f"{path}:2: ") and problem in message


def test_a_missing_answers_file_is_a_config_error(tmp_path: Path) -> None:
    settings = SimSettings.model_validate({"quality": {"answers_file": str(tmp_path / "no")}})
    with pytest.raises(ConfigError, match=r"sim\.quality\.answers_file.*file not found"):
        SimEngine(settings)


# ------------------------------------------------------------------- through a gateway


def test_refusals_keep_their_wire_shape_through_the_gateway(tmp_path: Path) -> None:
    sim = SimSettings.model_validate({"seed": 7, "quality": QUALITY})
    with running_sim_server(sim) as upstream:
        config = gateway_config(
            tmp_path / "ledger.db",
            {
                "sim": {"type": "sim", "sim": {"seed": 7, "quality": QUALITY}},
                "claude": {"type": "anthropic", "base_url": upstream.removesuffix("/v1")},
            },
            {"gpt-refuser": route("sim", "refuser"), "claude-refuser": route("claude", "refuser")},
        )
        with running_gateway(config) as gw:
            oai = gw.openai()
            plain = ask(oai, "gpt-refuser", "What is 2+2?").choices[0].message
            assert (plain.content, plain.refusal) == (REFUSAL_TEXT, None)
            fmt = {
                "type": "json_schema",
                "json_schema": {"name": "a", "schema": {"type": "object"}},
            }
            structured = ask(oai, "gpt-refuser", "Capital of France?", response_format=fmt)
            assert structured.choices[0].message.content is None
            assert structured.choices[0].message.refusal == REFUSAL_TEXT
            streamed = ask(
                oai, "gpt-refuser", "Capital of France?", response_format=fmt, stream=True
            )
            deltas = [ch.choices[0].delta for ch in streamed if ch.choices]
            assert "".join(d.refusal or "" for d in deltas) == REFUSAL_TEXT
            assert not any(d.content for d in deltas)
            with anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0) as claude:
                msg = claude.messages.create(
                    model="claude-refuser",
                    max_tokens=100,
                    messages=[{"role": "user", "content": "What is 2+2?"}],
                )
                assert msg.stop_reason == "refusal"
                with claude.messages.stream(
                    model="claude-refuser",
                    max_tokens=100,
                    messages=[{"role": "user", "content": "What is 2+2?"}],
                ) as stream:
                    assert stream.get_final_message().stop_reason == "refusal"
            # The OpenAI door over the Anthropic upstream: the refusal is a content filter stop.
            translated = ask(oai, "claude-refuser", "What is 2+2?", max_tokens=100)
            assert translated.choices[0].finish_reason == "content_filter"
            records = gw.records()
            assert len(records) == 6 and all(r["output_tokens"] > 0 for r in records)


def test_a_change_after_n_requests_shows_in_the_gateways_ledger(tmp_path: Path) -> None:
    quality = {
        "changes": [
            {"after_requests": 3, "personality": {"served_model": "m-2026", "fingerprint": "fp_b"}}
        ]
    }
    config = gateway_config(
        tmp_path / "ledger.db",
        {"sim": {"type": "sim", "sim": {"seed": 7, "quality": quality}}},
        {"chat": route("sim", "m")},
    )
    with running_gateway(config) as gw:
        oai = gw.openai()
        replies = [ask(oai, "chat", f"Question {i}", max_tokens=4) for i in range(5)]
        assert [r.model for r in replies] == ["m", "m", "m", "m-2026", "m-2026"]
        assert replies[2].system_fingerprint != "fp_b" == replies[3].system_fingerprint
        assert [r["served_model"] for r in gw.records()] == ["m", "m", "m", "m-2026", "m-2026"]


def test_a_change_needs_exactly_one_moment() -> None:
    for change in ({}, {"after_s": 1, "after_requests": 1}):
        with pytest.raises(ValueError, match="exactly one of after_s, after_requests"):
            SimSettings.model_validate({"quality": {"changes": [change]}})
