"""OpenAI's wire format as every adapter reads and writes it: usage both ways (with the cache
writes that the translating adapters report) and what a chunk stream says about the call."""

from __future__ import annotations

import orjson

from daytwo.core.types import Usage
from daytwo.providers.openai_wire import (
    ChunkStreamState,
    openai_usage,
    served_by,
    usage_from_openai,
)


def test_usage_written_by_a_translating_adapter_reads_back_whole() -> None:
    usage = Usage(
        input_tokens=1210,
        output_tokens=70,
        cached_input_tokens=1000,
        cache_write_tokens=200,
        reasoning_tokens=30,
    )
    wire = openai_usage(usage)
    assert wire == {
        "prompt_tokens": 1210,
        "completion_tokens": 70,
        "total_tokens": 1280,
        "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 200},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }
    assert usage_from_openai(orjson.loads(orjson.dumps(wire))) == usage


def test_usage_of_an_openai_answer_has_no_cache_writes() -> None:
    # OpenAI's usage object (https://platform.openai.com/docs/api-reference/chat/object)
    data = {
        "prompt_tokens": 19,
        "completion_tokens": 10,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    assert usage_from_openai(data) == Usage(input_tokens=19, output_tokens=10)


def test_cache_writes_that_are_not_counts_are_ignored() -> None:
    data = {"prompt_tokens": 5, "prompt_tokens_details": {"cache_write_tokens": -1}}
    assert usage_from_openai(data) == Usage(input_tokens=5)


def _event(data: dict[str, object]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def test_an_empty_model_is_not_the_served_model() -> None:
    # Azure opens a stream with a chunk holding only the prompt filter results, "model": ""
    # (https://learn.microsoft.com/en-us/azure/ai-foundry/openai/concepts/content-filter).
    filters = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }
    first = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_f85bea6784",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
    }
    state = ChunkStreamState(drop_usage_chunk=False, upstream_request_id=None)
    chunks = list(state.feed(_event(filters) + _event(first) + b"data: [DONE]\n\n"))
    assert [c.data["model"] for c in chunks] == ["", "gpt-4o-mini-2024-07-18"]  # relayed as-is
    assert state.served_model == "gpt-4o-mini-2024-07-18" and state.done
    assert state.fingerprint == "fp_f85bea6784"


def test_served_by_reads_model_and_fingerprint_and_ignores_what_is_not_a_name() -> None:
    assert served_by({"model": "gpt-4o", "system_fingerprint": "fp_1"}) == ("gpt-4o", "fp_1")
    assert served_by({}) == (None, None)
    # OpenAI sends `"system_fingerprint": null` for some models; empties and non-strings name
    # nothing either.
    assert served_by({"model": "", "system_fingerprint": None}) == (None, None)
    assert served_by({"model": 4, "system_fingerprint": ["fp_1"]}) == (None, None)
