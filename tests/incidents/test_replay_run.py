"""Reading a replay's two answers in the same shape: the captured ``chat.completion`` as the
replay's door gives it to its client, and that door's own answer."""

from __future__ import annotations

from typing import Any

import pytest

from daytwo.evals.client import read_output
from daytwo.evals.model import CallFailed
from daytwo.incidents.replay_run import as_completion, as_seen
from daytwo.quality.checks import is_refusal, truncation_label


def _completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }


REFUSED = _completion(
    {"role": "assistant", "content": None, "refusal": "I can't help with that."}, "stop"
)
CUT = _completion({"role": "assistant", "content": "The order was"}, "length")


def test_the_openai_door_reads_the_captured_answer_as_it_is() -> None:
    assert as_seen("openai", REFUSED) is REFUSED


def test_an_anthropic_client_sees_a_refusal_as_text_and_a_cut_answer_as_cut() -> None:
    refused = read_output(as_seen("anthropic", REFUSED), {}, 1.0)
    assert (refused.text, refused.refusal) == ("I can't help with that.", None)
    assert is_refusal(refused)  # by its phrase, as the replay's Messages answer would be
    cut = read_output(as_seen("anthropic", CUT), {}, 1.0)
    assert (cut.text, cut.finish_reason, truncation_label(cut)) == (
        "The order was",
        "length",
        truncation_label(read_output(CUT, {}, 1.0)),
    )
    assert (cut.input_tokens, cut.output_tokens) == (12, 7)


def test_a_messages_answer_is_read_and_anything_else_fails_the_call() -> None:
    answer = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": "Shipped."}],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    out = read_output(as_completion("anthropic", answer), {}, 1.0)
    assert (out.text, out.finish_reason, out.output_tokens) == ("Shipped.", "length", 2)
    with pytest.raises(CallFailed, match="the answer of /v1/messages is not a Messages answer"):
        as_completion("anthropic", {"choices": []})
