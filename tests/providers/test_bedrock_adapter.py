"""The Bedrock egress adapter against the simulator's Bedrock Runtime over real loopback HTTP:
SigV4-signed Converse, ConverseStream (AWS event-stream frames) and InvokeModel embeddings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import pytest
from tests.providers.adapter_harness import (
    AWS_ACCESS_KEY,
    AWS_SECRET_KEY,
    NOWHERE,
    RADIO_QUESTION,
    RADIO_TOOLS,
    assert_text_stream,
    broken_stream,
    chat,
    only_tool_call,
    sim_root_fixture,
    status_error,
    stream_faults,
    streamed,
    tool_call_deltas,
    with_adapter,
)

from daytwo.config.schema import BedrockProviderConfig, SimSettings
from daytwo.core.errors import InvalidRequest, UpstreamStatusError
from daytwo.core.secrets import SecretRegistry
from daytwo.core.tokens import estimate_input_tokens
from daytwo.core.types import LLMRequest
from daytwo.providers.base import Target
from daytwo.providers.bedrock import BedrockAdapter, SigV4Signer

pytestmark = pytest.mark.integration

T = TypeVar("T")
CLAUDE = Target(provider="aws", model="anthropic.claude-3-5-sonnet-20240620-v1:0", deployment="d")
USER = [{"role": "user", "content": RADIO_QUESTION}]
# The sim checks the SigV4 header and that it names this access key id.
sim_root = sim_root_fixture(SimSettings(seed=11), require_key=AWS_ACCESS_KEY)


@pytest.fixture(autouse=True)
def aws_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYTWO_TEST_AWS_KEY", AWS_ACCESS_KEY)
    monkeypatch.setenv("DAYTWO_TEST_AWS_SECRET", AWS_SECRET_KEY)


def config(root: str, **extra: Any) -> BedrockProviderConfig:
    return BedrockProviderConfig(
        type="bedrock",
        region="us-east-1",
        endpoint_url=root,
        access_key_id="env:DAYTWO_TEST_AWS_KEY",
        secret_access_key="env:DAYTWO_TEST_AWS_SECRET",
        **extra,
    )


def call(root: str, fn: Callable[[BedrockAdapter], Awaitable[T]], **extra: Any) -> T:
    return with_adapter(lambda: BedrockAdapter(config(root, **extra), SecretRegistry()), fn)


def test_text_completion(sim_root: str) -> None:
    body = {"messages": [{"role": "system", "content": "Be brief."}, *USER], "max_tokens": 50}
    resp = call(sim_root, lambda a: a.complete(chat(body), CLAUDE))
    assert resp.body["object"] == "chat.completion"
    choice = resp.body["choices"][0]
    assert choice["message"]["content"] and choice["finish_reason"] == "stop"
    assert resp.served_model == CLAUDE.model == resp.body["model"]
    rid = resp.upstream_request_id
    assert rid and len(rid) == 36 and resp.body["id"] == f"chatcmpl-{rid}"  # AWS's UUID ids
    assert resp.usage.output_tokens == resp.body["usage"]["completion_tokens"] > 0
    assert resp.usage.input_tokens > 0 and not resp.usage.estimated


def test_max_tokens_is_a_length_finish(sim_root: str) -> None:
    resp = call(sim_root, lambda a: a.complete(chat({"messages": USER, "max_tokens": 2}), CLAUDE))
    assert resp.body["choices"][0]["finish_reason"] == "length" and resp.usage.output_tokens == 2


def test_stream_reassembles_and_usage_is_exact(sim_root: str) -> None:
    body = {"messages": USER, "stream_options": {"include_usage": True}}
    s, chunks = streamed(call, sim_root, CLAUDE, body)
    assert_text_stream(s, chunks, CLAUDE.model)


def test_tool_use_not_streamed_and_streamed(sim_root: str) -> None:
    body = {"messages": USER, "tools": RADIO_TOOLS, "tool_choice": "required"}
    tc = only_tool_call(call(sim_root, lambda a: a.complete(chat(body), CLAUDE)))
    assert tc["id"].startswith("tooluse_") and tc["function"]["name"] == "top_song"
    assert set(orjson.loads(tc["function"]["arguments"])) == {"sign"}
    _, chunks = streamed(call, sim_root, CLAUDE, body)
    calls = tool_call_deltas(chunks)
    assert calls[0]["id"].startswith("tooluse_") and calls[0]["function"]["name"] == "top_song"
    assert set(orjson.loads("".join(tc["function"]["arguments"] for tc in calls))) == {"sign"}
    assert chunks[-1].data["choices"][0]["finish_reason"] == "tool_calls"
    assert all(c.data["choices"] for c in chunks)  # no usage chunk: the client did not ask


def test_json_schema_answers_with_the_forced_tool_input_as_content(sim_root: str) -> None:
    schema = {
        "type": "object",
        "properties": {"song": {"type": "string"}, "plays": {"type": "integer"}},
        "required": ["song", "plays"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "hit", "schema": schema}}
    resp = call(
        sim_root, lambda a: a.complete(chat({"messages": USER, "response_format": fmt}), CLAUDE)
    )
    choice = resp.body["choices"][0]
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    assert set(orjson.loads(choice["message"]["content"])) == {"song", "plays"}

    _, chunks = streamed(call, sim_root, CLAUDE, {"messages": USER, "response_format": fmt})
    text = "".join(c.data["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert set(orjson.loads(text)) == {"song", "plays"}


def test_inference_profile_arn_is_one_url_segment(sim_root: str) -> None:
    arn = Target(
        provider="aws",
        model="arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        deployment="d",
    )
    resp = call(sim_root, lambda a: a.complete(chat({"messages": USER}), arn))
    assert resp.served_model == arn.model and resp.body["choices"][0]["message"]["content"]


def test_titan_embeddings_one_call_per_input(sim_root: str) -> None:
    texts = ["Elemental Hotel", "8 Storey Hike", "WZPZ", "WKRP", "radio"]
    body = {"input": texts, "dimensions": 256}
    titan = Target(provider="aws", model="amazon.titan-embed-text-v2:0", deployment="e")
    resp = call(sim_root, lambda a: a.embed(LLMRequest("embeddings", "e", body), titan))
    data = resp.body["data"]
    assert [d["index"] for d in data] == list(range(5)) and all(
        len(d["embedding"]) == 256 for d in data
    )
    # Titan reports each input's token count; the sum is the whole request's
    assert resp.usage.input_tokens == sum(estimate_input_tokens({"input": [t]}) for t in texts)
    assert (
        not resp.usage.estimated and resp.body["usage"]["prompt_tokens"] == resp.usage.input_tokens
    )


def test_cohere_embeddings_in_one_call_with_base64_output(sim_root: str) -> None:
    body = {"input": ["a", "b", "c"], "encoding_format": "base64"}
    cohere = Target(provider="aws", model="cohere.embed-english-v3", deployment="e")
    resp = call(sim_root, lambda a: a.embed(LLMRequest("embeddings", "e", body), cohere))
    assert len(resp.body["data"]) == 3 and all(
        isinstance(d["embedding"], str) for d in resp.body["data"]
    )
    # Cohere's body has no count: it comes from X-Amzn-Bedrock-Input-Token-Count
    assert resp.usage.input_tokens == estimate_input_tokens({"input": ["a", "b", "c"]})
    assert not resp.usage.estimated


def test_embeddings_of_a_chat_model_are_refused_before_any_call() -> None:
    with pytest.raises(InvalidRequest) as info:
        call(
            NOWHERE,
            lambda a: a.embed(LLMRequest("embeddings", "e", {"input": "x"}), CLAUDE),
        )
    assert info.value.param == "model"


def test_wrong_access_key_is_a_403_unrecognized_client(
    monkeypatch: pytest.MonkeyPatch, sim_root: str
) -> None:
    monkeypatch.setenv("DAYTWO_TEST_AWS_KEY", "AKIAOTHERKEY00000000")
    with pytest.raises(UpstreamStatusError) as info:
        call(sim_root, lambda a: a.complete(chat({"messages": USER}), CLAUDE))
    err = info.value
    assert err.status_code() == 403 and not err.is_retryable
    assert err.code == "UnrecognizedClientException" and AWS_SECRET_KEY not in err.message


def test_signature_covers_host_content_type_date_and_session_token() -> None:
    from botocore.credentials import Credentials  # type: ignore[import-untyped]

    signer = SigV4Signer(Credentials(AWS_ACCESS_KEY, AWS_SECRET_KEY, "SESSIONTOKEN"), "eu-west-3")
    headers = signer.headers(
        "POST",
        "https://bedrock-runtime.eu-west-3.amazonaws.com/model/m/converse",
        b"{}",
        "application/json",
    )
    auth = headers["Authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={AWS_ACCESS_KEY}/")
    assert "/eu-west-3/bedrock/aws4_request" in auth
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token" in auth
    assert headers["X-Amz-Security-Token"] == "SESSIONTOKEN" and headers["X-Amz-Date"]


def test_throttling_is_a_retryable_429() -> None:
    err = status_error(call, lambda a: a.complete(chat({"messages": USER}), CLAUDE), rate_429=1.0)
    assert err.status_code() == 429 and err.is_retryable and err.code == "ThrottlingException"


def test_service_unavailable_is_a_retryable_503_before_the_stream_opens() -> None:
    err = status_error(
        call, lambda a: a.stream(chat({"messages": USER}, True), CLAUDE), rate_503=1.0
    )
    assert err.status_code() == 503 and err.is_retryable
    assert err.code == "ServiceUnavailableException"


@stream_faults
def test_cut_or_malformed_stream_is_a_protocol_error(fault: str) -> None:
    _, seen = broken_stream(call, CLAUDE, fault, USER)
    assert seen  # some chunks arrived before the break


def test_untranslatable_request_is_a_400_before_any_upstream_call() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}],
            }
        ]
    }
    with pytest.raises(InvalidRequest) as info:
        call(NOWHERE, lambda a: a.complete(chat(body), CLAUDE))
    assert info.value.param == "messages[0].content[0].image_url"
