"""The usage rows of the providers matrix that the simulator cannot prove (it reports no cached
input, no cache writes and no reasoning): a scripted loopback upstream plays each wire format's
reference answer, plain and streamed, and each door must show the client those counts in its own
shape -- and the ledger must record them -- whichever upstream type reported them.

The scripted upstream is :class:`tests.gateway.bad_upstream.BadUpstream` playing
well-formed bytes; the fixtures come from each provider's documentation or SDK test suite.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import orjson
import pytest
from tests.gateway.bad_upstream import BadUpstream, head, whole
from tests.gateway.harness import RunningGateway, gateway_config, route, running_gateway
from tests.gateway.matrix_harness import CLAUDE, http_upstreams, matrix_credentials
from tests.providers.test_anthropic_wire import BASIC_STREAM, TEXT_MESSAGE
from tests.providers.test_gemini_wire import THINKING_RESPONSE

from daytwo.core.types import Usage
from daytwo.providers.sim.bedrock_format import encode_frame

pytestmark = pytest.mark.integration

# OpenAI's prompt-caching guide (https://platform.openai.com/docs/guides/prompt-caching): usage
# with 1920 cached prompt tokens; reasoning_tokens filled in as reasoning models report them
# (https://platform.openai.com/docs/guides/reasoning).
OPENAI_USAGE = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920},
    "completion_tokens_details": {
        "reasoning_tokens": 128,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
_CHUNK = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "o4-mini"}


def _oai_chunk(choices: list[Any], **extra: Any) -> bytes:
    return b"data: " + orjson.dumps({**_CHUNK, "choices": choices, **extra}) + b"\n\n"


OPENAI_ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "o4-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there!"},
                "finish_reason": "stop",
            }
        ],
        "usage": OPENAI_USAGE,
    }
)
OPENAI_STREAM = (
    _oai_chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}])
    + _oai_chunk([{"index": 0, "delta": {"content": "Hello there!"}}])
    + _oai_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
    + _oai_chunk([], usage=OPENAI_USAGE)
    + b"data: [DONE]\n\n"
)
# The SDK's basic stream, its message_start usage as a prompt-cache hit reports it (Anthropic's
# prompt-caching guide, https://docs.claude.com/en/docs/build-with-claude/prompt-caching).
ANTHROPIC_STREAM = BASIC_STREAM.replace(
    b'"usage":{"input_tokens":11,"output_tokens":1}',
    b'"usage":{"input_tokens":11,"cache_creation_input_tokens":200,'
    b'"cache_read_input_tokens":1000,"output_tokens":1}',
)
# A thinking model's answer (tests/providers/test_gemini_wire.py), with a context-cache hit: the
# cached tokens are part of promptTokenCount (https://ai.google.dev/gemini-api/docs/caching).
GEMINI_ANSWER = {
    **THINKING_RESPONSE,
    "usageMetadata": {**THINKING_RESPONSE["usageMetadata"], "cachedContentTokenCount": 20},
}
# A Converse answer (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html)
# that read 1000 and wrote 500 prompt-cache tokens (TokenUsage's cacheRead/WriteInputTokens).
CONVERSE_USAGE = {
    "inputTokens": 100,
    "outputTokens": 20,
    "totalTokens": 1620,
    "cacheReadInputTokens": 1000,
    "cacheWriteInputTokens": 500,
}
CONVERSE_ANSWER = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Elemental Hotel"}]}},
    "stopReason": "end_turn",
    "usage": CONVERSE_USAGE,
    "metrics": {"latencyMs": 300},
}


def _frame(name: str, **payload: Any) -> bytes:
    headers = [(":event-type", name), (":content-type", "application/json")]
    return encode_frame([*headers, (":message-type", "event")], orjson.dumps(payload))


CONVERSE_STREAM = b"".join(
    [
        _frame("messageStart", role="assistant"),
        _frame("contentBlockDelta", delta={"text": "Elemental Hotel"}, contentBlockIndex=0),
        _frame("contentBlockStop", contentBlockIndex=0),
        _frame("messageStop", stopReason="end_turn"),
        _frame("metadata", usage=CONVERSE_USAGE, metrics={"latencyMs": 300}),
    ]
)
EVENT_STREAM = "application/vnd.amazon.eventstream"


@dataclass(frozen=True)
class Played:
    """One upstream type, its scripted answer and stream, and the usage daytwo must read."""

    egress: str
    model: str
    answer: bytes
    stream: bytes
    usage: Usage
    stream_usage: Usage

    def script(self, streamed: bool) -> bytes:
        if not streamed:
            return whole("application/json", self.answer)
        if self.egress == "bedrock":
            return head(EVENT_STREAM, length=len(self.stream)) + self.stream
        return head() + self.stream


OPENAI_READ = Usage(
    input_tokens=2006, output_tokens=300, cached_input_tokens=1920, reasoning_tokens=128
)
PLAYED = [
    Played("openai", "o4-mini", OPENAI_ANSWER, OPENAI_STREAM, OPENAI_READ, OPENAI_READ),
    Played("azure_openai", "o4-mini", OPENAI_ANSWER, OPENAI_STREAM, OPENAI_READ, OPENAI_READ),
    Played(
        "anthropic",
        "claude-sonnet-4-5",
        orjson.dumps(TEXT_MESSAGE),
        ANTHROPIC_STREAM,
        Usage(6197, 503, cached_input_tokens=2051, cache_write_tokens=2051),
        Usage(1211, 6, cached_input_tokens=1000, cache_write_tokens=200),
    ),
    Played(
        "gemini",
        "gemini-3-flash-preview",
        orjson.dumps(GEMINI_ANSWER),
        b"data: " + orjson.dumps(GEMINI_ANSWER) + b"\r\n\r\n",
        Usage(34, 418 + 438, cached_input_tokens=20, reasoning_tokens=438),
        Usage(34, 418 + 438, cached_input_tokens=20, reasoning_tokens=438),
    ),
    Played(
        "bedrock",
        CLAUDE,
        orjson.dumps(CONVERSE_ANSWER),
        CONVERSE_STREAM,
        Usage(1600, 20, cached_input_tokens=1000, cache_write_tokens=500),
        Usage(1600, 20, cached_input_tokens=1000, cache_write_tokens=500),
    ),
]
played = pytest.mark.parametrize("case", PLAYED, ids=lambda p: p.egress)
streamed = pytest.mark.parametrize("stream", [False, True], ids=["answer", "stream"])


@pytest.fixture(scope="module")
def gw(bad: BadUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    models = {f"via-{p.egress}": route(p.egress, p.model) for p in PLAYED}
    db = tmp_path_factory.mktemp("usage") / "l.db"
    with (
        matrix_credentials(),
        running_gateway(gateway_config(db, http_upstreams(bad.url), models)) as running,
    ):
        yield running


@pytest.fixture
def project() -> dict[str, str]:
    return {"X-Daytwo-Project": f"u{uuid.uuid4().hex[:12]}"}


def recorded(gw: RunningGateway, headers: dict[str, str], stream: bool) -> Usage:
    (row,) = [r for r in gw.records() if r["project"] == headers["X-Daytwo-Project"]]
    assert (row["status"], row["stream"], row["tokens_estimated"]) == ("ok", int(stream), 0)
    return Usage(
        row["input_tokens"],
        row["output_tokens"],
        row["cached_input_tokens"],
        row["cache_write_tokens"],
        row["reasoning_tokens"],
    )


def expected(case: Played, stream: bool) -> Usage:
    return case.stream_usage if stream else case.usage


def _details(obj: Any, name: str) -> int:
    """``cache_write_tokens`` of OpenAI's usage details: 0 when absent."""
    return int(getattr(obj, name, None) or 0)


@played
@streamed
def test_openai_door(
    bad: BadUpstream, gw: RunningGateway, project: dict[str, str], case: Played, stream: bool
) -> None:
    bad.script = [case.script(stream)]
    with openai.OpenAI(base_url=gw.base_url, api_key="x", max_retries=0) as c:
        kwargs: Any = {
            "model": f"via-{case.egress}",
            "messages": [{"role": "user", "content": "Hi"}],
        }
        if stream:
            chunks = list(
                c.chat.completions.create(
                    **kwargs,
                    stream=True,
                    stream_options={"include_usage": True},
                    extra_headers=project,
                )
            )
            usage = chunks[-1].usage
        else:
            usage = c.chat.completions.create(**kwargs, extra_headers=project).usage
    want = expected(case, stream)
    assert usage is not None
    shown = Usage(
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.prompt_tokens_details.cached_tokens or 0 if usage.prompt_tokens_details else 0,
        _details(usage.prompt_tokens_details, "cache_write_tokens"),
        usage.completion_tokens_details.reasoning_tokens or 0
        if usage.completion_tokens_details
        else 0,
    )
    assert shown == want
    assert recorded(gw, project, stream) == want


@played
@streamed
def test_anthropic_door(
    bad: BadUpstream, gw: RunningGateway, project: dict[str, str], case: Played, stream: bool
) -> None:
    bad.script = [case.script(stream)]
    with anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0) as c:
        kwargs: Any = {
            "model": f"via-{case.egress}",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "Hi"}],
            "extra_headers": project,
        }
        if stream:
            with c.messages.stream(**kwargs) as s:
                usage = s.get_final_message().usage
        else:
            usage = c.messages.create(**kwargs).usage
    want = expected(case, stream)
    # Anthropic's input_tokens leaves out the cached parts; it has no reasoning count
    assert (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
    ) == (
        want.input_tokens - want.cached_input_tokens - want.cache_write_tokens,
        want.output_tokens,
        want.cached_input_tokens,
        want.cache_write_tokens,
    )
    assert recorded(gw, project, stream) == want


@played
@streamed
def test_responses_door(
    bad: BadUpstream, gw: RunningGateway, project: dict[str, str], case: Played, stream: bool
) -> None:
    bad.script = [case.script(stream)]
    with openai.OpenAI(base_url=gw.base_url, api_key="x", max_retries=0) as c:
        kwargs: Any = {"model": f"via-{case.egress}", "input": "Hi", "extra_headers": project}
        if stream:
            done = list(c.responses.create(**kwargs, stream=True))[-1]
            assert done.type == "response.completed"
            usage = done.response.usage
        else:
            usage = c.responses.create(**kwargs).usage
    want = expected(case, stream)
    assert usage is not None
    shown = Usage(
        usage.input_tokens,
        usage.output_tokens,
        usage.input_tokens_details.cached_tokens,
        _details(usage.input_tokens_details, "cache_write_tokens"),
        usage.output_tokens_details.reasoning_tokens,
    )
    assert shown == want
    assert recorded(gw, project, stream) == want
