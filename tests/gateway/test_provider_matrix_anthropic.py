"""The Anthropic door's own features in the providers matrix of docs/providers.md, over each
upstream type (the simulator's doors over loopback, and the in-process ``sim``), with the
official ``anthropic`` SDK: structured outputs (``messages.parse``), extended thinking, and token
counting. The relayed Anthropic → Anthropic path in depth: test_anthropic_features.py and
test_anthropic_relay.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from pydantic import BaseModel
from tests.gateway.harness import RunningGateway
from tests.gateway.matrix_harness import (
    ANSWER_TOKENS,
    EGRESSES,
    USER,
    Calls,
    Egress,
    assert_ok_rows,
    matrix_gateway,
)

from daytwo.config.schema import SimSettings

pytestmark = pytest.mark.integration

egresses = pytest.mark.parametrize("egress", EGRESSES, ids=lambda e: e.name)


class City(BaseModel):
    name: str
    population: int


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    sim = SimSettings(seed=17, min_output_tokens=ANSWER_TOKENS, max_output_tokens=ANSWER_TOKENS)
    with matrix_gateway(tmp_path_factory.mktemp("matrix") / "ledger.db", sim) as running:
        yield running


@pytest.fixture
def calls(gw: RunningGateway) -> Iterator[Calls]:
    c = Calls(gw)
    yield c
    c.close()


@egresses
def test_anthropic_output_config_json_schema(calls: Calls, egress: Egress) -> None:
    parsed = calls.anthropic.messages.parse(
        model=egress.alias, max_tokens=300, messages=USER, output_format=City
    )
    city = parsed.parsed_output
    assert isinstance(city, City) and city.name
    assert_ok_rows(calls.rows(), egress, 1)


@egresses
def test_anthropic_thinking(calls: Calls, egress: Egress) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    if egress.name != "anthropic":  # no other upstream is asked: 400 naming the field
        with pytest.raises(anthropic.BadRequestError) as info:
            calls.anthropic.messages.create(
                model=egress.alias, max_tokens=2000, messages=USER, thinking=thinking
            )
        message = info.value.body["error"]["message"]  # type: ignore[index]
        assert message.startswith("`thinking` needs an anthropic upstream")
        (row,) = calls.rows()
        assert (row["status"], row["http_status"], row["provider"]) == ("rejected", 400, None)
        return
    msg = calls.anthropic.messages.create(
        model=egress.alias, max_tokens=2000, messages=USER, thinking=thinking
    )
    assert [b.type for b in msg.content] == ["thinking", "text"]
    (row,) = calls.rows()
    assert_ok_rows([row], egress, 1)
    details = msg.usage.output_tokens_details
    assert details is not None and row["reasoning_tokens"] == details.thinking_tokens > 0


@egresses
def test_anthropic_count_tokens(calls: Calls, egress: Egress) -> None:
    raw = calls.anthropic.messages.with_raw_response.count_tokens(model=egress.alias, messages=USER)
    source = "upstream" if egress.name == "anthropic" else "estimate"
    assert raw.headers["x-daytwo-token-count"] == source
    counted = raw.parse().input_tokens
    assert counted > 0
    msg = calls.anthropic.messages.create(model=egress.alias, max_tokens=20, messages=USER)
    if egress.name == "anthropic":  # the upstream's count: what the call is billed
        assert counted == msg.usage.input_tokens
    assert len(calls.rows()) == 1  # the count left no row
