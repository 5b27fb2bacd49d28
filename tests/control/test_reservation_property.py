"""Hypothesis: whatever shape a request takes -- choices (`n`, `best_of`), content parts (text,
images of any size and detail, remote images, audio, files), tools or JSON mode, streamed or
not, an output cap or none -- the reservation the gate makes is never below what the simulator
then bills for it.

Each example is admitted by the real :class:`SpendGate` (memory state, a budget applying, so
the gate sets the output cap a request lacks) and then answered by the real simulator adapter
(its engine decides the output length from the request; its usage is what daytwo bills), priced
with the bundled price book as the gateway prices it.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.media_samples import data_url, gif, jpeg, png, webp_vp8x

from daytwo.config.schema import PricingConfig, SimSettings
from daytwo.config.spend import SpendControlConfig
from daytwo.control.gate import SpendGate, Ticket
from daytwo.control.scopes import Subject
from daytwo.control.switches import SwitchBoard
from daytwo.core.tokens import estimate_input_tokens
from daytwo.core.types import LLMRequest, Usage
from daytwo.pricing.catalog import PriceBook
from daytwo.pricing.cost import compute_cost
from daytwo.providers.base import Target
from daytwo.providers.sim.adapter import SimAdapter
from daytwo.state.memory import MemoryState

MODEL = "gpt-4o-mini"
PRICE = PriceBook.from_config(PricingConfig()).lookup(MODEL)
TARGET = Target(provider="sim", deployment="sim", model=MODEL)

IMAGES = st.builds(
    lambda make, w, h: make(w, h),
    st.sampled_from([png, gif, webp_vp8x, jpeg]),
    st.integers(1, 5000),
    st.integers(1, 5000),
)
PARTS = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=300)),
    st.builds(
        lambda img, detail: {
            "type": "image_url",
            "image_url": {"url": data_url(img), **({"detail": detail} if detail else {})},
        },
        IMAGES,
        st.sampled_from([None, "low", "high", "auto"]),
    ),
    st.just({"type": "image_url", "image_url": {"url": "https://images.example/a.png"}}),
    st.builds(
        lambda n: {
            "type": "input_audio",
            "input_audio": {"data": base64.b64encode(b"\x01" * n).decode(), "format": "wav"},
        },
        st.integers(0, 20_000),
    ),
    st.builds(
        lambda n: {
            "type": "file",
            "file": {"file_data": data_url(b"%PDF" * n, "application/pdf"), "filename": "f.pdf"},
        },
        st.integers(0, 5_000),
    ),
)
CONTENT = st.one_of(st.text(max_size=500), st.lists(PARTS, min_size=1, max_size=4))
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        },
    },
}


@st.composite
def chat_bodies(draw: st.DrawFn) -> dict[str, Any]:
    messages = [
        {"role": draw(st.sampled_from(["user", "system"])), "content": c}
        for c in draw(st.lists(CONTENT, min_size=1, max_size=3))
    ]
    messages[-1]["role"] = "user"
    body: dict[str, Any] = {"model": MODEL, "messages": messages}
    cap = draw(st.sampled_from([None, "max_tokens", "max_completion_tokens"]))
    if cap is not None:
        body[cap] = draw(st.integers(1, 120))
    n = draw(st.integers(1, 4))
    if n > 1 or draw(st.booleans()):
        body["n"] = n
    if draw(st.booleans()):
        body["tools"] = [TOOL]
        body["tool_choice"] = "required"
    elif draw(st.booleans()):
        body["response_format"] = {"type": "json_object"}
    if draw(st.booleans()):
        body["stream"] = True
        if draw(st.booleans()):
            body["stream_options"] = {"include_usage": True}
    return body


def _gate(default_max: int) -> SpendGate:
    cfg = SpendControlConfig.model_validate(
        {
            "default_max_output_tokens": default_max,
            "budgets": [{"name": "all", "scope": {}, "window": "day", "usd": 1_000_000}],
        }
    )
    return SpendGate(cfg, SwitchBoard(MemoryState()))


async def _admit_and_answer(
    body: dict[str, Any], sim: SimSettings, default_max: int
) -> tuple[Ticket, Usage]:
    gate = _gate(default_max)
    ticket = await gate.admit(
        "c1",
        Subject(project="p", model=MODEL),
        body,
        estimate_input_tokens(body, (TARGET.model,)),
        PRICE,
    )
    assert isinstance(ticket, Ticket)
    adapter = SimAdapter(sim)
    req = LLMRequest("chat", MODEL, body, stream=body.get("stream") is True)
    if not req.stream:
        return ticket, (await adapter.complete(req, TARGET)).usage
    stream = await adapter.stream(req, TARGET)
    async for _ in stream:
        pass
    assert stream.usage is not None  # the simulator always reports usage to the gateway
    return ticket, stream.usage


@settings(max_examples=120, deadline=None)
@given(
    body=chat_bodies(),
    low=st.integers(0, 150),
    spread=st.integers(0, 150),
    seed=st.integers(0, 2**16),
    default_max=st.integers(1, 200),
)
def test_the_reservation_is_never_below_what_the_simulator_bills(
    body: dict[str, Any], low: int, spread: int, seed: int, default_max: int
) -> None:
    assert PRICE is not None
    sim = SimSettings(seed=seed, min_output_tokens=low, max_output_tokens=low + spread)
    ticket, usage = asyncio.run(_admit_and_answer(body, sim, default_max))
    assert ticket.reservation is not None
    reserved_out = ticket.reserved_output
    assert reserved_out is not None  # a budget applies: the call is bounded
    assert usage.output_tokens <= reserved_out
    billed = compute_cost(usage, PRICE)
    assert billed <= ticket.reservation.nanos, (billed, ticket.reservation.nanos, usage)
    assert usage.total_tokens <= ticket.reservation.tokens


@settings(max_examples=40, deadline=None)
@given(inputs=st.lists(st.text(max_size=200), min_size=1, max_size=5), n=st.integers(1, 8))
def test_embeddings_reserve_their_input_and_no_output_whatever_n_says(
    inputs: list[str], n: int
) -> None:
    assert PRICE is not None
    body = {"model": MODEL, "input": inputs, "n": n}

    async def run() -> tuple[Ticket, Usage]:
        gate = _gate(64)
        ticket = await gate.admit(
            "e1",
            Subject(project="p", model=MODEL),
            body,
            estimate_input_tokens(body, (TARGET.model,)),
            PRICE,
        )
        assert isinstance(ticket, Ticket)
        resp = await SimAdapter(SimSettings()).embed(LLMRequest("embeddings", MODEL, body), TARGET)
        return ticket, resp.usage

    ticket, usage = asyncio.run(run())
    assert ticket.reserved_output == 0
    assert ticket.reservation is not None
    assert compute_cost(usage, PRICE) <= ticket.reservation.nanos
