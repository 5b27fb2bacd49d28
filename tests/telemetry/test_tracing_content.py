"""Opt-in content capture on the call span: the conventions' message shape, redaction of
secrets, keys, e-mails and configured patterns, truncation that keeps the JSON valid -- through
the real gateway (an upstream simulator served over loopback HTTP with a real API key) and on
the pure steps themselves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.harness import gateway_config, route, sim_config
from tests.telemetry.otlp_sink import Traced, attrs, traced

from daytwo.core.secrets import SecretRegistry
from daytwo.providers.sim.run import running_sim_server
from daytwo.telemetry import content
from daytwo.telemetry.content import MAX_ATTRIBUTE_BYTES
from daytwo.telemetry.redact import ContentRedactor

UPSTREAM_KEY = "upstream-secret-value-0042"
LEAKS = {
    "registered secret": UPSTREAM_KEY,
    "OpenAI key": "sk-proj-Abcdefghijklmnop12345678",
    "daytwo key": "dt2_sk_ABCDEFGHIJKLMNOP12345678",
    "AWS key id": "AKIAABCDEFGHIJKLMNOP",
    "e-mail": "bob.smith+ops@example.co.uk",
    "card number (configured pattern)": "4111111111111111",
}


def _config(tmp_path: Path, url: str) -> dict[str, Any]:
    return gateway_config(
        tmp_path / "ledger.db",
        {"up": {"type": "openai", "base_url": url, "api_key": "env:TRACE_TEST_UPSTREAM_KEY"}},
        {"chat": route("up", "gpt-4o-mini")},
    )


@contextmanager
def captured(tmp_path: Path, **traces: Any) -> Iterator[Traced]:
    """A traced gateway capturing content, in front of a simulator that wants an API key."""
    with (
        running_sim_server(require_key=UPSTREAM_KEY) as url,
        traced(_config(tmp_path, url), capture_content=True, **traces) as t,
    ):
        yield t


def _all_attribute_text(spans: list[Any]) -> str:
    return json.dumps([dict(s.attributes or {}) for s in spans], ensure_ascii=False)


def test_captured_messages_are_redacted_and_shaped_per_the_conventions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACE_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    secret_text = " ".join(f"{k}: {v}." for k, v in LEAKS.items())
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": f"Remember these: {secret_text}"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "lookup",
                        "arguments": json.dumps({"who": LEAKS["e-mail"], "n": 3}),
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "found 3"},
        {"role": "user", "content": [{"type": "text", "text": "And now?"}]},
    ]
    with captured(tmp_path, redact=[r"\b\d{16}\b"]) as t:
        status, _, raw = t.chat(model="chat", messages=messages)
        assert status == 200, raw
        answer = orjson.loads(raw)
        (call,) = t.calls(1)
        a = attrs(call)
        sent = json.loads(a["gen_ai.input.messages"])
        assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "user"]
        assert sent[0]["parts"] == [{"type": "text", "content": "You are terse."}]
        user_text = sent[1]["parts"][0]["content"]
        assert user_text.startswith("Remember these: registered secret: [REDACTED:secrets].")
        assert user_text.count("[REDACTED:") == len(LEAKS)
        (tool_call,) = sent[2]["parts"]
        assert tool_call == {
            "type": "tool_call",
            "id": "call_1",
            "name": "lookup",
            "arguments": {"who": "[REDACTED:email]", "n": 3},
        }
        assert sent[3]["parts"] == [
            {"type": "tool_call_response", "id": "call_1", "response": "found 3"}
        ]
        assert sent[4]["parts"] == [{"type": "text", "content": "And now?"}]

        got = json.loads(a["gen_ai.output.messages"])
        choice = answer["choices"][0]
        assert got == [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": choice["message"]["content"]}],
                "finish_reason": choice["finish_reason"],
            }
        ]
        assert "daytwo.content.truncated" not in a
        everything = _all_attribute_text(t.spans())
        for what, value in LEAKS.items():
            assert value not in everything, f"{what} leaked into a span"


def test_a_streamed_answer_is_captured_once_assembled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACE_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    with captured(tmp_path) as t:
        status, _, raw = t.chat(model="chat", stream=True, stream_options={"include_usage": True})
        assert status == 200
        text = ""
        for line in raw.split(b"\n"):
            if line.startswith(b"data: {"):
                for choice in orjson.loads(line[6:]).get("choices", []):
                    text += choice.get("delta", {}).get("content") or ""
        assert text
        (call,) = t.calls(1)
        (got,) = json.loads(attrs(call)["gen_ai.output.messages"])
        assert got["parts"] == [{"type": "text", "content": text}]
        assert got["finish_reason"] == attrs(call)["gen_ai.response.finish_reasons"][0]


def test_long_content_is_truncated_to_valid_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACE_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    long = "word " * 20_000
    with captured(tmp_path) as t:
        status, _, _ = t.chat(model="chat", messages=[{"role": "user", "content": long}])
        assert status == 200
        (call,) = t.calls(1)
        a = attrs(call)
        value = a["gen_ai.input.messages"]
        assert len(value.encode()) <= MAX_ATTRIBUTE_BYTES
        (msg,) = json.loads(value)
        assert msg["parts"][0]["content"].endswith("…[truncated]")
        assert msg["parts"][0]["content"].startswith("word word")
        assert a["daytwo.content.truncated"] is True


# -- the pure steps -------------------------------------------------------------------------


def test_the_redactor_scrubs_registered_secrets_key_shapes_pii_and_patterns() -> None:
    secrets = SecretRegistry()
    secrets.register("hunter2-but-longer")
    redact = ContentRedactor(secrets, [r"\b\d{16}\b", r"(order)-(\d+)-\2"])
    text = (
        "pw hunter2-but-longer key sk-ant-api03-abcdefghijklmnopqrstuv mail a.b@c.io "
        "card 4111111111111111 ref order-12-12 phone +1 415 555 0100 id 4111111111111112"
    )
    assert redact(text) == (
        "pw [REDACTED:secrets] key [REDACTED:key_shapes] mail [REDACTED:email] card "
        "[REDACTED:card] ref [REDACTED:trace_1] phone [REDACTED:phone] id [REDACTED:trace_0]"
    )


def test_redaction_happens_before_truncation() -> None:
    secrets = SecretRegistry()
    secret = "Zq" * 20  # 40 characters
    secrets.register(secret)
    # the secret straddles the first per-string cap (4096): cut first, half of it would leak
    text = "x" * 4080 + secret + "y" * 20_000
    out, cut = content.serialize(
        [{"role": "user", "parts": [{"type": "text", "content": text}]}],
        ContentRedactor(secrets),
    )
    assert cut
    assert "ZqZqZq" not in out
    assert "[REDACTED:secret" in out  # the marker itself may be cut


def test_too_many_messages_keep_the_newest_in_order() -> None:
    messages = [
        {"role": "user", "parts": [{"type": "text", "content": f"message {i} " + "z" * 80}]}
        for i in range(1000)
    ]
    out, cut = content.serialize(messages, ContentRedactor(SecretRegistry()))
    assert cut
    assert len(out.encode()) <= MAX_ATTRIBUTE_BYTES
    kept = json.loads(out)
    numbers = [int(m["parts"][0]["content"].split()[1]) for m in kept]
    assert numbers == list(range(1000 - len(kept), 1000))
    assert len(kept) > 10


def test_tool_arguments_that_are_not_json_stay_a_string() -> None:
    msgs = content.input_messages(
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}],
                },
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
            ]
        }
    )
    assert msgs == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c", "name": "f", "arguments": "{oops"}],
        },
        {"role": "user", "parts": [{"type": "image_url"}]},
    ]
    assert content.input_messages({"input": "embed me"}) is None
    assert content.output_messages({"object": "list", "data": []}) is None


def test_an_anthropic_messages_call_is_captured_in_its_normalized_form(tmp_path: Path) -> None:
    with traced(sim_config(tmp_path), capture_content=True) as t:
        body = {
            "model": "gpt-4o-mini",
            "max_tokens": 16,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Mail a@b.io about it."}],
        }
        status, _, raw = t.post("/v1/messages", body, **{"anthropic-version": "2023-06-01"})
        assert status == 200, raw
        (call,) = t.calls(1)
        a = attrs(call)
        assert call.name == "chat gpt-4o-mini"
        assert a["gen_ai.request.max_tokens"] == 16
        sent = json.loads(a["gen_ai.input.messages"])
        assert sent == [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {
                "role": "user",
                "parts": [{"type": "text", "content": "Mail [REDACTED:email] about it."}],
            },
        ]
        (got,) = json.loads(a["gen_ai.output.messages"])
        assert got["role"] == "assistant" and got["parts"][0]["content"]
