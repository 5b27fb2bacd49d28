"""Translation between OpenAI Chat Completions / Embeddings and Google's Gemini API, both ways,
on wire fixtures taken from Google's SDK test suites and documentation (each cites its source)."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
import pytest

from daytwo.core.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError
from daytwo.core.secrets import SecretRegistry
from daytwo.core.types import Usage
from daytwo.providers.gemini_embed import to_gemini_embed, to_openai_embeddings
from daytwo.providers.gemini_inbound import (
    openai_embeddings_from_gemini,
    openai_request_from_gemini,
)
from daytwo.providers.gemini_stream import StreamTranslator
from daytwo.providers.gemini_wire import (
    SIGNATURE_SEP,
    error_from_event,
    error_from_gemini,
    to_gemini_request,
    to_openai_completion,
    usage_from_gemini,
)

# google-gemini/generative-ai-js packages/main/test-utils/mock-responses/streaming-success-utf8.txt
# (every event repeats finishReason STOP, as older models did)
UTF8_STREAM = """data: { "candidates": [ { "content": { "parts": [ { "text": "秋风瑟瑟，叶落纷纷，\\n西风残照，寒" } ], "role": "model" }, "finishReason": "STOP", "index": 0, "safetyRatings": [ { "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE" }, { "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE" }, { "category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE" }, { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE" } ] } ], "promptFeedback": { "safetyRatings": [ { "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE" }, { "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE" }, { "category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE" }, { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE" } ] } }

data: { "candidates": [ { "content": { "parts": [ { "text": "霜渐浓。\\n枫叶红了，菊花黄了，\\n秋雨绵绵，秋意浓浓。\\n\\n秋夜漫漫，思" } ], "role": "model" }, "finishReason": "STOP", "index": 0, "safetyRatings": [ { "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE" }, { "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE" }, { "category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE" }, { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE" } ] } ] }

data: { "candidates": [ { "content": { "parts": [ { "text": "绪万千，\\n明月当空，星星眨眼。\\n思念远方的亲人，\\n祝愿他们幸福安康。\\n\\n秋天是收获的季节，\\n人们忙着收割庄稼，\\n为一年的辛劳画上圆满的句号。\\n秋天也是团圆的季节" } ], "role": "model" }, "finishReason": "STOP", "index": 0, "safetyRatings": [ { "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE" }, { "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE" }, { "category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE" }, { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE" } ] } ] }

""".encode()  # noqa: E501 -- the first three events of the SDK's fixture, verbatim

# google-gemini/generative-ai-js .../mock-responses/streaming-unknown-enum.txt, last event
# (text shortened): a finishReason this code has never heard of
UNKNOWN_ENUM_EVENT = b"""data: {"candidates": [{"content": {"parts": [{"text": " devotion to their owners."}]},"finishReason": "FAKE_ENUM","index": 0,"safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT_NEW_ENUM","probability": "NEGLIGIBLE_UNKNOWN_ENUM"}]}]}

"""  # noqa: E501

# Firebase AI Logic docs (firebase.google.com/docs/ai-logic/server-prompt-templates, "example
# test response", Gemini Developer API); text shortened. totalTokenCount 890 = 34 + 418 + 438:
# candidatesTokenCount excludes the thoughts.
THINKING_RESPONSE: dict[str, Any] = {
    "candidates": [
        {
            "content": {"parts": [{"text": "**INVOICE**"}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 34,
        "candidatesTokenCount": 418,
        "totalTokenCount": 890,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 34}],
        "thoughtsTokenCount": 438,
    },
    "modelVersion": "gemini-3-flash-preview",
    "responseId": "3w4Vad6yF-y1vdIP_q_zgAw",
}

# googleapis/js-genai test/unit/models_test.ts, mockGenerateContentResponseWithFunctionCall
FUNCTION_CALL_RESPONSE: dict[str, Any] = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {
                        "functionCall": {
                            "name": "print",
                            "args": {"text": "Hello World", "color": "red"},
                        }
                    },
                    {"functionCall": {"name": "beep"}},
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 1, "totalTokenCount": 9},
}

# google-gemini/generative-ai-js src/requests/response-helpers.test.ts, badFakeResponse
BLOCKED_PROMPT: dict[str, Any] = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []}}

# An invalid key, as the Gemini API answers it (continuedev/continue issue #8516: Google wraps
# the error object in a one-element array there).
KEY_INVALID = b"""[{
  "error": {
    "code": 400,
    "message": "API key not valid. Please pass a valid API key.",
    "status": "INVALID_ARGUMENT",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {
          "service": "generativelanguage.googleapis.com"
        }
      },
      {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": "API key not valid. Please pass a valid API key."
      }
    ]
  }
}
]"""

# A quota 429: message and Help detail as in gke-labs/gemini-for-kubernetes-development issue
# #1215, plus the RetryInfo detail (google/rpc/error_details.proto; a Duration is "37s" in JSON).
QUOTA_429 = orjson.dumps(
    {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan and billing "
            "details. For more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "36.5s"},
            ],
        }
    }
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def keep(text: str) -> str:
    return text


def translate(
    raw: bytes, *, split: int | None = None, include_usage: bool = True
) -> tuple[StreamTranslator, list[dict[str, Any]]]:
    tr = StreamTranslator(include_usage=include_usage, redact=keep, model="gemini-x", created=1)
    step = split or len(raw) or 1
    chunks: list[dict[str, Any]] = []
    for i in range(0, len(raw), step):
        chunks.extend(tr.feed_bytes(raw[i : i + step]))
    chunks.extend(tr.end())
    return tr, chunks


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


# ------------------------------------------------------------------ streams


def test_text_stream_from_the_sdk_fixture() -> None:
    tr, chunks = translate(UTF8_STREAM)
    ds = deltas(chunks)
    assert ds[0] == {"role": "assistant", "content": ""}
    text = "".join(d.get("content", "") for d in ds)
    assert text.startswith("秋风瑟瑟，叶落纷纷，\n西风残照，寒霜渐浓。") and text.endswith(
        "团圆的季节"
    )
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    # STOP on every event: one finish chunk, at the end, not one per event
    assert finishes.count("stop") == 1 and finishes[-1] == "stop"
    assert tr.usage is None and all(c["choices"] for c in chunks)  # none reported: no usage chunk
    assert {c["id"] for c in chunks} == {chunks[0]["id"]} and chunks[0]["id"].startswith(
        "chatcmpl-"
    )


@pytest.mark.parametrize("split", [1, 7, 4096])
def test_events_split_anywhere_give_the_same_chunks(split: int) -> None:
    _, whole = translate(UTF8_STREAM)
    _, pieces = translate(UTF8_STREAM, split=split)
    assert deltas(pieces) == deltas(whole)


def test_unknown_finish_reason_reads_as_stop() -> None:
    _, chunks = translate(UNKNOWN_ENUM_EVENT)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_crlf_framing_thoughts_and_final_usage() -> None:
    # Framed as Google frames alt=sse; usage is cumulative and complete on the last event.
    events = [
        {"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}, "index": 0}],
         "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
         "modelVersion": "gemini-2.5-flash", "responseId": "abc123"},
        {"candidates": [{"content": {"parts": [{"text": "thinking...", "thought": True},
                                               {"text": "lo"}], "role": "model"},
                         "finishReason": "STOP", "index": 0}],
         "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2,
                           "cachedContentTokenCount": 3, "thoughtsTokenCount": 7,
                           "totalTokenCount": 14},
         "modelVersion": "gemini-2.5-flash", "responseId": "abc123"},
    ]  # fmt: skip
    raw = b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)
    tr, chunks = translate(raw, split=5)
    assert "".join(d.get("content", "") for d in deltas(chunks)) == "Hello"  # no thought text
    assert tr.served_model == "gemini-2.5-flash" and tr.response_id == "abc123"
    assert chunks[0]["id"] == "abc123" and chunks[0]["model"] == "gemini-2.5-flash"
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (5, 9, 14)
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 7
    assert usage["prompt_tokens_details"]["cached_tokens"] == 3


def test_streamed_function_call_is_one_whole_tool_call_delta() -> None:
    raw = b"data: " + orjson.dumps(FUNCTION_CALL_RESPONSE) + b"\r\n\r\n"
    _, chunks = translate(raw, include_usage=False)
    calls = [tc for d in deltas(chunks) for tc in d.get("tool_calls", [])]
    assert [c["index"] for c in calls] == [0, 1]
    assert [c["function"]["name"] for c in calls] == ["print", "beep"]
    assert orjson.loads(calls[0]["function"]["arguments"]) == {
        "text": "Hello World",
        "color": "red",
    }
    assert calls[1]["function"]["arguments"] == "{}" and calls[0]["id"] != calls[1]["id"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_stream_without_finish_reason_was_cut_and_keeps_its_usage() -> None:
    event = {
        "candidates": [{"content": {"parts": [{"text": "x" * 400}], "role": "model"}}],
        "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 2},
    }
    tr = StreamTranslator(include_usage=True, redact=keep, model="m")
    assert list(tr.feed_bytes(b"data: " + orjson.dumps(event) + b"\r\n\r\n"))
    with pytest.raises(UpstreamProtocolError):
        list(tr.end())
    usage = tr.usage_so_far()
    # the reported input, and output counted from the 400 characters relayed (more than 2)
    assert usage is not None and usage.input_tokens == 11
    assert usage.output_tokens == 100 and usage.estimated


def test_an_error_event_inside_the_stream_keeps_its_class() -> None:
    registry = SecretRegistry()
    registry.register("sekrit-value-123")
    err = {
        "error": {"code": 503, "message": "overloaded sekrit-value-123", "status": "UNAVAILABLE"}
    }
    tr = StreamTranslator(include_usage=False, redact=registry.redact, model="m")
    with pytest.raises(UpstreamStatusError) as info:
        list(tr.feed_bytes(b"data: " + orjson.dumps(err) + b"\r\n\r\n"))
    assert info.value.status_code() == 503 and info.value.is_retryable
    assert info.value.code == "UNAVAILABLE" and "sekrit" not in info.value.message


def test_a_blocked_prompt_in_a_stream_finishes_with_content_filter() -> None:
    _, chunks = translate(b"data: " + orjson.dumps(BLOCKED_PROMPT) + b"\r\n\r\n")
    assert chunks[-1]["choices"][0]["finish_reason"] == "content_filter"


# ------------------------------------------------------------------ answers and usage


def test_thinking_tokens_count_as_output_and_reasoning() -> None:
    out = to_openai_completion(THINKING_RESPONSE, model="asked-for", created=1)
    assert out["id"] == "3w4Vad6yF-y1vdIP_q_zgAw" and out["model"] == "gemini-3-flash-preview"
    assert out["choices"][0]["message"]["content"] == "**INVOICE**"
    assert out["choices"][0]["finish_reason"] == "stop"
    usage = out["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        34,
        418 + 438,
        890,  # Gemini's own total agrees once thoughts are output
    )
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 438


def test_usage_fields() -> None:
    meta = {
        "promptTokenCount": 100,
        "cachedContentTokenCount": 40,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
        "toolUsePromptTokenCount": 5,
        "totalTokenCount": 155,
    }
    assert usage_from_gemini(meta) == Usage(
        input_tokens=105, output_tokens=50, cached_input_tokens=40, reasoning_tokens=30
    )
    assert usage_from_gemini(None) is None and usage_from_gemini({"foo": 1}) is None
    # zero counts are omitted on the wire
    assert usage_from_gemini({"promptTokenCount": 4}) == Usage(input_tokens=4)


def test_function_calls_become_tool_calls() -> None:
    out = to_openai_completion(FUNCTION_CALL_RESPONSE, model="gemini-2.5-flash")
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    print_call, beep = choice["message"]["tool_calls"]
    assert print_call["id"].startswith("call_") and print_call["id"] != beep["id"]
    assert print_call["type"] == "function" and print_call["function"]["name"] == "print"
    assert orjson.loads(print_call["function"]["arguments"]) == {
        "text": "Hello World",
        "color": "red",
    }
    assert beep["function"] == {"name": "beep", "arguments": "{}"}
    assert out["model"] == "gemini-2.5-flash"  # no modelVersion: the model asked for


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
     ("PROHIBITED_CONTENT", "content_filter"), ("OTHER", "stop")],
)  # fmt: skip
def test_finish_reasons(reason: str, expected: str) -> None:
    resp = {"candidates": [{"finishReason": reason, "index": 0}]}  # a blocked candidate: no content
    choice = to_openai_completion(resp, model="m")["choices"][0]
    assert choice["finish_reason"] == expected and choice["message"]["content"] == ""


def test_a_blocked_prompt_is_a_content_filter_answer() -> None:
    choice = to_openai_completion(BLOCKED_PROMPT, model="m")["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] is None


def test_several_candidates_become_choices_in_order() -> None:
    resp = {
        "candidates": [
            {"content": {"parts": [{"text": "b"}], "role": "model"}, "finishReason": "STOP",
             "index": 1},
            # proto3 JSON omits a field at its default: no `index` is index 0
            {"content": {"parts": [{"text": "a"}], "role": "model"}, "finishReason": "MAX_TOKENS"},
        ]
    }  # fmt: skip
    choices = to_openai_completion(resp, model="m")["choices"]
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in choices] == [
        (0, "a", "length"),
        (1, "b", "stop"),
    ]


@pytest.mark.parametrize(
    "resp",
    [{"candidates": "nope"}, {"candidates": [{"content": {"parts": "x"}}]},
     {"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}}]}, {}],
)  # fmt: skip
def test_malformed_answers_are_protocol_errors(resp: dict[str, Any]) -> None:
    with pytest.raises(UpstreamProtocolError):
        to_openai_completion(resp, model="m")


# ------------------------------------------------------------------ requests


def test_request_translation() -> None:
    png = "iVBORw0KGgo="
    body = {
        "model": "alias",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather where this was taken?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "15C and sunny"},
            {"role": "user", "content": "Thanks. And tomorrow?"},
        ],
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "temperature": 0.2,
        "top_p": 0.9,
        "max_completion_tokens": 256,
        "stop": "END",
        "n": 2,
        "seed": 7,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "w",
                "schema": {"type": "object", "additionalProperties": False},
            },
        },
        "stream_options": {"include_usage": True},
        "user": "u-1",
    }
    assert to_gemini_request(body) == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Weather where this was taken?"},
                    {"inlineData": {"mimeType": "image/png", "data": png}},
                ],
            },
            {
                "role": "model",
                "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "name": "get_weather",
                            "response": {"output": "15C and sunny"},
                        }
                    },
                    {"text": "Thanks. And tomorrow?"},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Weather for a city",
                        "parametersJsonSchema": WEATHER["function"]["parameters"],  # type: ignore[index]
                    }
                ]
            }
        ],
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
        },
        "generationConfig": {
            "maxOutputTokens": 256,
            "stopSequences": ["END"],
            "temperature": 0.2,
            "topP": 0.9,
            "seed": 7,
            "candidateCount": 2,
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object", "additionalProperties": False},
        },
    }


@pytest.mark.parametrize(
    ("choice", "config"),
    [("auto", {"mode": "AUTO"}), ("none", {"mode": "NONE"}), ("required", {"mode": "ANY"})],
)
def test_tool_choice_modes(choice: str, config: dict[str, Any]) -> None:
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [WEATHER],
        "tool_choice": choice,
    }
    assert to_gemini_request(body)["toolConfig"] == {"functionCallingConfig": config}


def test_json_object_mode_and_object_tool_results() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "b", "content": '{"temp": 15}'},
            {"role": "tool", "tool_call_id": "a", "content": [{"type": "text", "text": "[1, 2]"}]},
        ],
        "response_format": {"type": "json_object"},
    }  # fmt: skip
    out = to_gemini_request(body)
    assert out["generationConfig"] == {"responseMimeType": "application/json"}
    # parallel results become one turn; a JSON object passes as the response itself
    assert out["contents"][-1] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "g", "response": {"temp": 15}}},
            {"functionResponse": {"name": "f", "response": {"output": "[1, 2]"}}},
        ],
    }


def test_thought_signatures_travel_in_the_tool_call_id() -> None:
    resp = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln+/=="}
                    ],
                    "role": "model",
                },
                "finishReason": "STOP",
            }
        ]
    }
    (call,) = to_openai_completion(resp, model="m")["choices"][0]["message"]["tool_calls"]
    assert call["id"].endswith(SIGNATURE_SEP + "c2ln+/==")
    body = {
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "done"},
        ]
    }
    model_turn = to_gemini_request(body)["contents"][1]
    assert model_turn["parts"] == [
        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln+/=="}
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]},
         "messages[0].content[0].image_url"),
        ({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]},
         "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": "x"}], "logprobs": True}, "logprobs"),
        ({"messages": [{"role": "user", "content": "x"}],
          "tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}],
          "response_format": {"type": "yaml"}}, "response_format.type"),
        ({"messages": [{"role": "assistant", "content": None, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]},
         "messages[0].tool_calls[0].function.arguments"),
    ],
)  # fmt: skip
def test_untranslatable_requests_are_400s_naming_the_parameter(
    body: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        to_gemini_request(body)
    assert info.value.param == param and info.value.status == 400


# ------------------------------------------------------------------ errors


def test_quota_429_takes_its_retry_after_from_retry_info() -> None:
    err = error_from_gemini(429, QUOTA_429, {}, keep)
    assert err.status_code() == 429 and err.is_retryable and err.wire_type == "rate_limit_error"
    assert err.code == "RESOURCE_EXHAUSTED"
    assert err.message.startswith("You exceeded your current quota")
    assert err.headers == {"retry-after": "37"}  # 36.5s, rounded up
    # a retry-after header, when a front end sends one, wins
    assert error_from_gemini(429, QUOTA_429, {"retry-after": "5"}, keep).headers == {
        "retry-after": "5"
    }


def test_invalid_key_error_wrapped_in_an_array_is_a_400() -> None:
    err = error_from_gemini(400, KEY_INVALID, {}, keep)
    assert err.status_code() == 400 and not err.is_retryable
    assert err.code == "INVALID_ARGUMENT" and err.wire_type == "invalid_request_error"
    assert err.message == "API key not valid. Please pass a valid API key."


def test_upstream_messages_are_redacted() -> None:
    registry = SecretRegistry()
    registry.register("my-gemini-key-123")
    body = orjson.dumps(
        {
            "error": {
                "code": 400,
                "message": "bad key my-gemini-key-123 and AIzaSyA1234567890abcdefghijklmnopqrstu",
                "status": "X",
            }
        }
    )
    err = error_from_gemini(400, body, {}, registry.redact)
    assert err.message == "bad key [REDACTED] and [REDACTED]"


@pytest.mark.parametrize(("status", "name"), [(500, "INTERNAL"), (503, "UNAVAILABLE")])
def test_server_errors_are_retryable(status: int, name: str) -> None:
    body = orjson.dumps({"error": {"code": status, "message": "try later", "status": name}})
    err = error_from_gemini(status, body, {}, keep)
    assert err.is_retryable and err.code == name and err.message == "try later"
    assert err.headers == {}


def test_an_error_body_that_is_not_json_is_quoted() -> None:
    err = error_from_gemini(502, b"<html>Bad Gateway</html>", {}, keep)
    assert err.message == "upstream returned HTTP 502: <html>Bad Gateway</html>"
    event = error_from_event({"error": {"status": "RESOURCE_EXHAUSTED"}}, keep)
    assert event.status_code() == 429 and event.code == "RESOURCE_EXHAUSTED"


# ------------------------------------------------------------------ embeddings


def test_one_text_embeds_with_embed_content_and_several_in_a_batch() -> None:
    one = to_gemini_embed({"input": "hello", "dimensions": 8}, model="gemini-embedding-001")
    assert (one.method, one.count, one.base64) == ("embedContent", 1, False)
    # the shape of ai.google.dev's embedContent REST example, plus outputDimensionality
    assert one.body == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "hello"}]},
        "outputDimensionality": 8,
    }
    batch = to_gemini_embed(
        {"input": ["a", "b"], "encoding_format": "base64"}, model="text-embedding-004"
    )
    assert batch.method == "batchEmbedContents" and batch.base64
    assert batch.body == {
        "requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": t}]}}
            for t in ("a", "b")
        ]
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [({"input": [[1, 2, 3]]}, "input"), ({"input": []}, "input"),
     ({"input": "x", "dimensions": 0}, "dimensions"),
     ({"input": "x", "encoding_format": "int8"}, "encoding_format")],
)  # fmt: skip
def test_embeddings_that_cannot_be_translated(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        to_gemini_embed(body, model="m")
    assert info.value.param == param


def test_embedding_answers_become_openai_lists_float_or_base64() -> None:
    call = to_gemini_embed({"input": ["a", "b"]}, model="m")
    data = {"embeddings": [{"values": [0.5, -0.25]}, {"values": [1, 0]}]}
    out = to_openai_embeddings(data, call, model="m", input_tokens=2)
    assert out["object"] == "list" and out["model"] == "m"
    assert [d["embedding"] for d in out["data"]] == [[0.5, -0.25], [1.0, 0.0]]
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    b64 = to_gemini_embed({"input": "a", "encoding_format": "base64"}, model="m")
    (item,) = to_openai_embeddings({"embedding": {"values": [0.5, -0.25]}}, b64, model="m",
                                   input_tokens=1)["data"]  # fmt: skip
    assert struct.unpack("<2f", base64.b64decode(item["embedding"])) == (0.5, -0.25)
    with pytest.raises(UpstreamProtocolError):
        to_openai_embeddings({"embeddings": [{"values": [1]}]}, call, model="m", input_tokens=1)


# ------------------------------------------------------------------ Gemini → OpenAI requests


def test_gemini_request_to_openai() -> None:
    body = {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather",
                                                          "args": {"city": "Paris"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                             "response": {"temp": 15}}}]},
        ],
        "tools": [{"functionDeclarations": [{
            "name": "get_weather",
            "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}},
                           "required": ["city"]}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {"maxOutputTokens": 50, "stopSequences": ["x"],
                             "responseMimeType": "application/json",
                             "responseSchema": {"type": "OBJECT", "nullable": True}},
    }  # fmt: skip
    out = openai_request_from_gemini(body, model="gemini-2.5-flash", stream=True)
    assert out["messages"][0] == {"role": "system", "content": "Be brief."}
    call = out["messages"][2]["tool_calls"][0]
    assert out["messages"][3] == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": '{"temp":15}',
    }
    assert out["tools"][0]["function"]["parameters"] == {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }
    assert out["tool_choice"] == "required" and out["max_tokens"] == 50 and out["stop"] == ["x"]
    assert out["response_format"]["json_schema"]["schema"] == {"type": ["object", "null"]}
    assert out["stream"] and out["stream_options"] == {"include_usage": True}
    with pytest.raises(InvalidRequest):
        openai_request_from_gemini({"contents": []}, model="m", stream=False)


def test_gemini_embedding_requests_to_openai() -> None:
    single = {"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 16}
    assert openai_embeddings_from_gemini(single, model="text-embedding-004", batch=False) == {
        "model": "text-embedding-004",
        "input": ["hi"],
        "dimensions": 16,
    }
    batch = {"requests": [{"model": "models/gemini-embedding-001",
                           "content": {"parts": [{"text": t}]}} for t in ("a", "b")]}  # fmt: skip
    out = openai_embeddings_from_gemini(batch, model="gemini-embedding-001", batch=True)
    assert out["input"] == ["a", "b"] and out["dimensions"] == 3072
    batch["requests"][1]["model"] = "models/other"
    with pytest.raises(InvalidRequest):
        openai_embeddings_from_gemini(batch, model="gemini-embedding-001", batch=True)
