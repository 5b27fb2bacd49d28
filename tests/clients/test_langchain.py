"""LangChain's OpenAI and Anthropic integrations pointed at daytwo as the docs say
(docs/clients.md): answers, streams, embeddings and the usage they report match the ledger;
a budget refusal comes back at once with their default retries; attribution comes from the key
and the headers; an alias of the wrong kind is refused as OpenAI refuses it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from tests.clients.harness import keyed_gateway, month_end, spent_budget
from tests.gateway.harness import RunningGateway
from tests.gateway.spend_harness import MODEL

pytestmark = pytest.mark.integration

EMBED = "text-embedding-3-small"
HEADERS = {"X-Daytwo-Feature": "summaries", "X-Daytwo-Agent": "triager"}


def _chat_openai(gw: RunningGateway, key: str, **kw: Any) -> ChatOpenAI:
    return ChatOpenAI(model=MODEL, base_url=gw.base_url, api_key=key, default_headers=HEADERS, **kw)  # type: ignore[call-arg]


def _chat_anthropic(gw: RunningGateway, key: str) -> ChatAnthropic:
    return ChatAnthropic(
        model_name=MODEL, base_url=gw.url, api_key=key, default_headers=HEADERS, max_tokens=20
    )  # type: ignore[call-arg]


def test_langchain_answers_streams_and_embeddings_are_attributed_and_billed_as_reported(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw, key = keyed_gateway(tmp_path, gateway_factory, {})
    answer = _chat_openai(gw, key, max_tokens=20).invoke("hello there")
    chunks = list(_chat_openai(gw, key, max_tokens=20, stream_usage=True).stream("hello there"))
    claude = _chat_anthropic(gw, key).invoke("hello there")
    vectors = OpenAIEmbeddings(
        model=EMBED,
        base_url=gw.base_url,
        api_key=key,
        default_headers=HEADERS,
        check_embedding_ctx_length=False,  # else tiktoken fetches its tables from the internet
    ).embed_documents(["one", "two"])  # type: ignore[call-arg]
    assert len(vectors) == 2 and vectors[0]
    streamed = chunks[0]
    for chunk in chunks[1:]:
        streamed += chunk  # type: ignore[assignment]
    rows = gw.records()
    assert [(r["project"], r["feature"], r["agent"], r["status"]) for r in rows] == [
        ("acme", "summaries", "triager", "ok")
    ] * 4
    for msg, row in zip((answer, streamed, claude), rows, strict=False):
        usage = msg.usage_metadata  # type: ignore[attr-defined]
        assert usage is not None
        assert (usage["input_tokens"], usage["output_tokens"]) == (
            row["input_tokens"],
            row["output_tokens"],
        )
    assert rows[1]["stream"] == 1 and rows[3]["alias"] == EMBED


def test_langchain_gets_a_budget_refusal_at_once_with_default_retries(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    month_end()
    gw, key = keyed_gateway(tmp_path, gateway_factory, spent_budget())
    t0 = time.perf_counter()
    with pytest.raises(openai.RateLimitError) as oai:
        _chat_openai(gw, key, max_tokens=20).invoke("hello there")
    with pytest.raises(anthropic.RateLimitError):
        _chat_anthropic(gw, key).invoke("hello there")
    assert time.perf_counter() - t0 < 2.0
    assert len(gw.records()) == 2  # neither retried
    assert oai.value.body["type"] == "budget_exceeded"  # type: ignore[index]


def test_langchain_embeddings_on_a_chat_alias_are_refused_naming_the_model(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw, key = keyed_gateway(tmp_path, gateway_factory, {})
    embedder = OpenAIEmbeddings(
        model=MODEL, base_url=gw.base_url, api_key=key, check_embedding_ctx_length=False
    )  # type: ignore[call-arg]
    with pytest.raises(openai.PermissionDeniedError) as refused:
        embedder.embed_query("hi")
    assert refused.value.param == "model"
    (row,) = gw.records()
    assert (row["status"], row["cost_nanousd"], row["project"]) == ("rejected", None, "acme")
