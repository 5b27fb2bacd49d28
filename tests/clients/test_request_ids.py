"""The SDKs' request ids are daytwo's call ids: `x-request-id` on the OpenAI doors (Chat,
Embeddings, Responses), `request-id` on the Anthropic one, on answers, streams and errors; so
the id an application logs finds the call in the ledger."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from tests.gateway.harness import RunningGateway, sim_config

pytestmark = pytest.mark.integration

MODEL = "gpt-4o-mini"
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


@pytest.fixture
def gw(tmp_path: Path, gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    return gateway_factory(sim_config(tmp_path))


def test_openai_sdk_request_ids_on_answers_streams_and_errors(gw: RunningGateway) -> None:
    oai = gw.openai()
    completion = oai.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=5)
    vectors = oai.embeddings.create(model="text-embedding-3-small", input="hi")
    response = oai.responses.create(model=MODEL, input="hi", max_output_tokens=5)
    stream = oai.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    for _ in stream:
        pass
    rstream = oai.responses.create(model=MODEL, input="hi", stream=True)
    for _ in rstream:
        pass
    with pytest.raises(openai.NotFoundError) as missing:
        oai.chat.completions.create(model="no-such-model", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError) as bad:
        oai.responses.create(model=MODEL, input=[])
    ids = [
        completion._request_id,
        vectors._request_id,
        response._request_id,
        stream.response.headers["x-request-id"],
        rstream.response.headers["x-request-id"],
        missing.value.request_id,
        bad.value.request_id,
    ]
    rows = gw.records()
    assert ids == [r["id"] for r in rows]
    assert [r["status"] for r in rows] == ["ok"] * 5 + ["rejected"] * 2


def test_anthropic_sdk_request_ids_on_answers_streams_and_errors(gw: RunningGateway) -> None:
    claude = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)
    message = claude.messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)
    with claude.messages.stream(model=MODEL, max_tokens=5, messages=MESSAGES) as stream:
        stream.get_final_message()
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(model="no-such-model", max_tokens=5, messages=MESSAGES)
    ids = [message._request_id, stream.request_id, missing.value.request_id]
    assert ids == [r["id"] for r in gw.records()]
    # The OpenAI header is not sent on the Anthropic door, nor the reverse.
    assert "x-request-id" not in stream.response.headers
    raw = gw.openai().chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert "request-id" not in raw.headers and raw.request_id == raw.headers["x-daytwo-call-id"]
