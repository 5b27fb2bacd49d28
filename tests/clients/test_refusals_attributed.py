"""Requests refused before they reach a provider stay attributed: a body that fails validation
is recorded under its key's project (and headers), with the alias its body names; and an alias
answers only on the endpoint of its kind, as OpenAI's models do."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from tests.clients.harness import issue_key
from tests.gateway.harness import RunningGateway, http, sim_config

pytestmark = pytest.mark.integration

CHAT, EMBED = "gpt-4o-mini", "text-embedding-3-small"
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def _keyed(tmp_path: Path, factory: Callable[..., RunningGateway]) -> tuple[RunningGateway, str]:
    cfg = sim_config(tmp_path)
    cfg["gateway"] = {"require_keys": True}
    gw = factory(cfg)
    return gw, issue_key(gw, project="billing", workflow="invoices")


def _who(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["status"], row["project"], row["workflow"], row["attributed"], row["alias"]


def test_bodies_refused_by_validation_are_recorded_under_the_key(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw, key = _keyed(tmp_path, gateway_factory)
    oai = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as empty:
        oai.chat.completions.create(model=CHAT, messages=[])
    assert empty.value.param == "messages"
    with pytest.raises(openai.BadRequestError):
        oai.embeddings.create(model=EMBED, input=[])
    # The Anthropic SDK will not send a call without max_tokens; a hand-made client does.
    body = json.dumps({"model": CHAT, "messages": MESSAGES}).encode()
    status, _, raw = http("POST", gw.url + "/v1/messages", body, {"x-api-key": key})
    assert status == 400 and json.loads(raw)["error"]["message"] == "max_tokens: Field required"
    # Not even JSON, and no model: still the key's project, no alias.
    bearer = {"authorization": f"Bearer {key}"}
    assert http("POST", gw.base_url + "/chat/completions", b"{", bearer)[0] == 400
    rows = gw.records()
    assert [_who(r) for r in rows] == [
        ("rejected", "billing", "invoices", 1, CHAT),
        ("rejected", "billing", "invoices", 1, EMBED),
        ("rejected", "billing", "invoices", 1, CHAT),
        ("rejected", "billing", "invoices", 1, ""),
    ]
    assert {r["key_id"] for r in rows} == {rows[0]["key_id"]} and rows[0]["key_id"]


def test_without_keys_headers_attribute_refused_bodies_but_a_refused_key_does_not(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw = gateway_factory(sim_config(tmp_path))
    oai = gw.openai(default_headers={"X-Daytwo-Project": "search", "X-Daytwo-Feature": "rag"})
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model=CHAT, messages=[])
    claude = anthropic.Anthropic(
        base_url=gw.url,
        api_key="dt2_sk_notakey",
        max_retries=0,
        default_headers={"X-Daytwo-Project": "search"},
    )
    with pytest.raises(anthropic.AuthenticationError):
        claude.messages.create(model=CHAT, max_tokens=5, messages=[])
    first, second = gw.records()
    assert (first["project"], first["feature"], first["alias"]) == ("search", "rag", CHAT)
    assert (second["project"], second["attributed"], second["alias"]) == ("default", 0, "")


def test_an_alias_answers_only_on_the_endpoint_of_its_kind(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw, key = _keyed(tmp_path, gateway_factory)
    oai = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    claude = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)
    # OpenAI's own answers: an embedding model on chat is a 404, a chat model on embeddings a 403.
    with pytest.raises(openai.NotFoundError) as on_chat:
        oai.chat.completions.create(model=EMBED, messages=MESSAGES)
    with pytest.raises(openai.PermissionDeniedError) as on_embeddings:
        oai.embeddings.create(model=CHAT, input="hi")
    with pytest.raises(openai.NotFoundError) as on_responses:
        oai.responses.create(model=EMBED, input="hi")
    with pytest.raises(anthropic.NotFoundError) as on_messages:
        claude.messages.create(model=EMBED, max_tokens=5, messages=MESSAGES)
    for err in (on_chat.value, on_embeddings.value, on_responses.value):
        assert (err.param, err.code, err.type) == (
            "model",
            "model_not_supported",
            "invalid_request_error",
        )
    assert on_messages.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert EMBED in on_messages.value.message
    rows = gw.records()
    assert [(r["http_status"], r["alias"], r["status"]) for r in rows] == [
        (404, EMBED, "rejected"),
        (403, CHAT, "rejected"),
        (404, EMBED, "rejected"),
        (404, EMBED, "rejected"),
    ]
    # Nothing reached a provider, nothing was billed at the other kind's price.
    assert all(r["provider"] is None and r["cost_nanousd"] is None for r in rows)
    # Each kind still answers on its own endpoint; token counting counts for chat aliases.
    assert oai.embeddings.create(model=EMBED, input="hi").data
    assert oai.chat.completions.create(model=CHAT, messages=MESSAGES, max_tokens=5).choices
    assert claude.messages.count_tokens(model=CHAT, messages=MESSAGES).input_tokens > 0
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.count_tokens(model=EMBED, messages=MESSAGES)
