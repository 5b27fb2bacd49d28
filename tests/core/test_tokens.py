"""The input estimate: every content part counted on its own terms, and total over any JSON."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.media_samples import data_url, png

from daytwo.core.media import UNKNOWN_DOCUMENT_TOKENS, UNKNOWN_IMAGE_TOKENS
from daytwo.core.tokens import estimate_input_tokens

BLOB = base64.b64encode(b"\x00\x01" * 200_000).decode()  # 400 KB of binary, as base64


def chat(*parts: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": list(parts)}]}


def text_of_same_size() -> int:
    return estimate_input_tokens(chat({"type": "text", "text": BLOB}))


def test_audio_and_files_count_like_text_of_the_same_size_in_every_doors_shape() -> None:
    floor = text_of_same_size()
    assert floor > 100_000
    shapes: list[dict[str, Any]] = [
        {"type": "input_audio", "input_audio": {"data": BLOB, "format": "wav"}},
        {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{BLOB}"}},
        {"type": "input_file", "file_data": f"data:application/pdf;base64,{BLOB}"},
        {"type": "document", "source": {"type": "base64", "media_type": "x", "data": BLOB}},
    ]
    for part in shapes:
        assert estimate_input_tokens(chat(part)) >= floor, part["type"]


def test_images_count_by_their_size_in_every_doors_shape() -> None:
    url = data_url(png(2048, 2048))
    raw = url.split(",", 1)[1]
    expected = 1600 + 3 + 3  # Anthropic's cap wins; plus the message and priming overhead
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
        {"type": "image_url", "image_url": url},
        {"type": "input_image", "image_url": url, "detail": "auto"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": raw}},
    ]
    for part in parts:
        assert estimate_input_tokens(chat(part)) == expected, part["type"]
    remote = {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}
    assert estimate_input_tokens(chat(remote)) == UNKNOWN_IMAGE_TOKENS + 6
    small = {"type": "image_url", "image_url": {"url": data_url(png(64, 64))}}
    assert estimate_input_tokens(chat(small)) == 85 + 170 + 6


def test_an_extra_text_field_does_not_hide_an_image() -> None:
    part = {"type": "image_url", "text": "x", "image_url": {"url": "https://example.com/x.png"}}
    assert estimate_input_tokens(chat(part)) >= UNKNOWN_IMAGE_TOKENS


def test_malformed_tool_calls_are_counted_not_raised() -> None:
    for calls in (5, [5], [{"function": 5}], [{"function": {"name": 1, "arguments": None}}], "x"):
        body = {"messages": [{"role": "assistant", "content": None, "tool_calls": calls}]}
        assert estimate_input_tokens(body) >= 6


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
KEYS = st.sampled_from(
    ["messages", "input", "tools", "content", "tool_calls", "function", "type", "image_url",
     "url", "text", "source", "data", "detail", "input_audio", "file", "function_call", "role"]
)  # fmt: skip
SHAPED = st.recursive(
    JSON,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS, SHAPED, max_size=4))
def test_the_estimate_is_total_over_any_json(body: dict[str, Any]) -> None:
    assert estimate_input_tokens(body) >= 0


def test_an_anthropic_body_counts_its_system_tool_results_and_documents_by_reference() -> None:
    system = {"model": "m", "system": "x" * 4000, "messages": [{"role": "user", "content": "hi"}]}
    assert estimate_input_tokens(system) >= 1000
    shot = {"type": "image", "source": {"type": "url", "url": "https://images.example/a.png"}}
    result = {"type": "tool_result", "tool_use_id": "t1", "content": [shot]}
    assert estimate_input_tokens(chat(result)) >= UNKNOWN_IMAGE_TOKENS
    for part in [
        {"type": "document", "source": {"type": "url", "url": "https://docs.example/a.pdf"}},
        {"type": "document", "source": {"type": "file", "file_id": "file_01"}},
        {"type": "file", "file": {"file_id": "file-abc"}},
        {"type": "input_file", "file_url": "https://docs.example/a.pdf"},
    ]:
        assert estimate_input_tokens(chat(part)) >= UNKNOWN_DOCUMENT_TOKENS, part
