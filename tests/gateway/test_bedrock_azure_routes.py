"""End to end over loopback: the official ``openai`` SDK → daytwo gateway → ``bedrock`` and
``azure_openai`` providers → the simulator's Bedrock Runtime and Azure OpenAI doors. Checks what
the client sees and the ledger row: provider, served model, exact tokens, cost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from tests.gateway.harness import RunningGateway, gateway_config, route, running_gateway
from tests.providers.adapter_harness import (
    AWS_ACCESS_KEY,
    AWS_SECRET_KEY,
    RADIO_QUESTION,
    RADIO_TOOLS,
)

from daytwo.config.schema import SimSettings
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

AZURE_KEY = AWS_ACCESS_KEY  # the simulator has one required key for all its doors
CLAUDE = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"  # a cross-region inference profile


@pytest.fixture(scope="module")
def sim_root() -> Iterator[str]:
    # One simulator serves both doors with one required key: Bedrock's door wants it as the
    # access key id of a SigV4 header, Azure's as the api-key header.
    with running_sim_server(SimSettings(seed=13), require_key=AWS_ACCESS_KEY) as url:
        yield url.removesuffix("/v1")


@pytest.fixture
def gw(tmp_path: Path, sim_root: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("DAYTWO_TEST_AWS_KEY", AWS_ACCESS_KEY)
    monkeypatch.setenv("DAYTWO_TEST_AWS_SECRET", AWS_SECRET_KEY)
    monkeypatch.setenv("DAYTWO_TEST_AZURE_KEY", AZURE_KEY)
    providers = {
        "aws": {
            "type": "bedrock",
            "region": "us-east-1",
            "endpoint_url": sim_root,
            "access_key_id": "env:DAYTWO_TEST_AWS_KEY",
            "secret_access_key": "env:DAYTWO_TEST_AWS_SECRET",
        },
        "azure": {
            "type": "azure_openai",
            "endpoint": sim_root,
            "api_key": "env:DAYTWO_TEST_AZURE_KEY",
        },
    }
    models = {
        "claude": route("aws", CLAUDE),
        "titan": route("aws", "amazon.titan-embed-text-v2:0", "embeddings"),
        "gpt": route("azure", "prod-gpt-4o-mini"),
        "azure-embed": route("azure", "text-embedding-3-small", "embeddings"),
    }
    config = gateway_config(tmp_path / "ledger.db", providers, models)
    with running_gateway(config) as running:
        yield running


@pytest.mark.parametrize(
    ("alias", "provider", "served", "prices"),
    [
        # nano-dollars per input and output token: Claude 3.5 Sonnet on Bedrock (3 / 15 USD per
        # million, the profile priced as the base model), gpt-4o-mini (0.15 / 0.60) for Azure
        ("claude", "aws", CLAUDE, (3000, 15000)),
        ("gpt", "azure", "gpt-4o-mini-2024-07-18", (150, 600)),
    ],
)
def test_chat_is_answered_and_recorded(
    gw: RunningGateway, alias: str, provider: str, served: str, prices: tuple[int, int]
) -> None:
    with gw.openai() as c:
        raw = c.chat.completions.with_raw_response.create(
            model=alias, messages=[{"role": "user", "content": "What is on WZPZ?"}]
        )
    completion = raw.parse()
    assert completion.choices[0].message.content and completion.usage is not None
    row = gw.record(raw.headers["x-daytwo-call-id"])
    assert (row["provider"], row["served_model"], row["status"]) == (provider, served, "ok")
    assert row["input_tokens"] == completion.usage.prompt_tokens
    assert row["output_tokens"] == completion.usage.completion_tokens
    assert row["tokens_estimated"] == 0
    cost = row["input_tokens"] * prices[0] + row["output_tokens"] * prices[1]
    assert row["cost_nanousd"] == cost > 0 and row["price_ref"]


@pytest.mark.parametrize("alias", ["claude", "gpt"])
def test_streamed_tool_call_deltas_and_usage(gw: RunningGateway, alias: str) -> None:
    with gw.openai() as c:
        chunks = list(
            c.chat.completions.create(
                model=alias,
                messages=[{"role": "user", "content": RADIO_QUESTION}],
                tools=RADIO_TOOLS,
                tool_choice="required",
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function is not None and calls[0].function.name == "top_song"
    args = "".join((tc.function.arguments or "") if tc.function else "" for tc in calls)
    assert set(json.loads(args)) == {"sign"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls"
    usage = chunks[-1].usage
    assert usage is not None
    (row,) = [r for r in gw.records() if r["stream"]]
    assert (row["output_tokens"], row["input_tokens"], row["tokens_estimated"]) == (
        usage.completion_tokens,
        usage.prompt_tokens,
        0,
    )
    assert row["cost_nanousd"] > 0


@pytest.mark.parametrize(
    ("alias", "provider", "dims"),
    [("titan", "aws", 256), ("azure-embed", "azure", 256)],
)
def test_embeddings_are_answered_and_recorded(
    gw: RunningGateway, alias: str, provider: str, dims: int
) -> None:
    with gw.openai() as c:
        # the SDK asks for base64 and decodes it: both adapters must honour that
        raw = c.embeddings.with_raw_response.create(
            model=alias, input=["Elemental Hotel", "8 Storey Hike"], dimensions=dims
        )
    resp = raw.parse()
    assert [len(d.embedding) for d in resp.data] == [dims, dims]
    row = gw.record(raw.headers["x-daytwo-call-id"])
    assert row["provider"] == provider and row["input_tokens"] == resp.usage.prompt_tokens > 0
    assert row["tokens_estimated"] == 0 and row["cost_nanousd"] > 0


def test_untranslatable_request_is_a_400_that_says_why(gw: RunningGateway) -> None:
    with gw.openai() as c, pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(
            model="claude",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
                    ],
                }
            ],
        )
    assert "data URL" in str(info.value)
