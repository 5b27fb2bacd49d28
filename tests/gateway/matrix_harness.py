"""The providers matrix's setting (tests/gateway/test_provider_matrix*.py): the six upstream
types behind one gateway, each as a provider named after its type and reached by the alias
``via-<type>`` (``via-<type>-embed`` for embeddings), and the official SDKs pointed at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from tests.gateway.harness import RunningGateway, gateway_config, route, running_gateway

from daytwo.config.schema import SimSettings
from daytwo.providers.sim.run import running_sim_server

KEY = "AKIAMATRIXTESTKEY0001"  # the simulator's one key: an AWS access key id for Bedrock's door
SECRET = "matrix/secret/access/key/0123456789abcdef"
ANSWER_TOKENS = 40
CLAUDE = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
# A 1x1 PNG. The simulator bills input by daytwo's estimate: an image counts the larger of
# OpenAI's tile formula (one tile: 85 + 170) and Anthropic's pixels / 750; a linked image, whose
# size cannot be known, the most either gives (1,600).
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
    "60e6kgAAAABJRU5ErkJggg=="
)
IMAGE_TOKENS = 255
LINK = "https://example.com/cat.png"
LINK_TOKENS = 1600
USER: Any = [{"role": "user", "content": "Say something."}]
ASK: Any = [{"role": "user", "content": "Weather in Paris for the next days?"}]
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
    "additionalProperties": False,
}
CITY_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Egress:
    """One upstream type: its provider (named after the type), what its deployment asks for,
    what the upstream says it served, and its embeddings model (None: it has none)."""

    name: str
    model: str
    served: str
    embed_model: str | None

    @property
    def alias(self) -> str:
        return f"via-{self.name}"

    @property
    def refuses_image_links(self) -> bool:  # they read images inline only
        return self.name in ("gemini", "bedrock")

    @property
    def image_tokens(self) -> int:  # the simulator's Bedrock door checks image blocks, counts none
        return 0 if self.name == "bedrock" else IMAGE_TOKENS

    def assert_retry_after(self, headers: Any) -> None:
        """The upstream's ``retry-after`` (3 s) passes through; Bedrock's throttling carries
        none, so daytwo says when the deployment takes calls again (its throttle or breaker)."""
        value = headers.get("retry-after")
        if self.name == "bedrock":
            assert value is not None and int(value) >= 1, value
        else:
            assert value == "3"


EGRESSES = [
    Egress("openai", "gpt-4o-mini", "gpt-4o-mini", "text-embedding-3-small"),
    Egress("azure_openai", "prod-gpt-4o-mini", "gpt-4o-mini-2024-07-18", "text-embedding-3-small"),
    Egress("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5", None),
    Egress("gemini", "gemini-2.5-flash", "gemini-2.5-flash", "gemini-embedding-001"),
    Egress("bedrock", CLAUDE, CLAUDE, "amazon.titan-embed-text-v2:0"),
    Egress("sim", "gpt-4o-mini", "gpt-4o-mini", "text-embedding-3-small"),
]


def http_upstreams(
    root: str,
    key: str = "env:DT_MATRIX_KEY",
    secret: str = "env:DT_MATRIX_SECRET",  # noqa: S107 -- an env var's name, not a secret
) -> dict[str, Any]:
    """The five HTTP upstream types, each a provider named after its type, all at ``root``
    (their credentials: ``key``, and ``secret`` for Bedrock's secret access key)."""
    return {
        "openai": {"type": "openai", "base_url": f"{root}/v1", "api_key": key},
        "azure_openai": {"type": "azure_openai", "endpoint": root, "api_key": key},
        "anthropic": {"type": "anthropic", "base_url": root, "api_key": key},
        "gemini": {"type": "gemini", "base_url": root, "api_key": key},
        "bedrock": {
            "type": "bedrock",
            "region": "us-east-1",
            "endpoint_url": root,
            "access_key_id": key,
            "secret_access_key": secret,
        },
    }


@contextmanager
def matrix_credentials() -> Iterator[None]:
    """``DT_MATRIX_KEY`` and ``DT_MATRIX_SECRET`` set for as long as the gateway runs."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DT_MATRIX_KEY", KEY)
        env.setenv("DT_MATRIX_SECRET", SECRET)
        yield


def config(root: str, db: Path, sim: SimSettings) -> dict[str, Any]:
    providers = {**http_upstreams(root), "sim": {"type": "sim", "sim": sim.model_dump()}}
    models: dict[str, Any] = {}
    for e in EGRESSES:
        models[e.alias] = route(e.name, e.model)
        models[f"{e.alias}-embed"] = route(e.name, e.embed_model or e.model, "embeddings")
    cfg = gateway_config(db, providers, models)
    # One attempt per call: the matrix checks what each upstream's answer (and failure)
    # becomes at each door, as the upstream sent it.
    cfg["resilience"] = {"defaults": {"max_attempts": 1}}
    return cfg


@contextmanager
def matrix_gateway(db: Path, sim: SimSettings) -> Iterator[RunningGateway]:
    with (
        matrix_credentials(),
        running_sim_server(sim, require_key=KEY) as url,
        running_gateway(config(url.removesuffix("/v1"), db, sim)) as gw,
    ):
        yield gw


class Calls:
    """One test's clients, under a project of its own so that its ledger rows can be found."""

    def __init__(self, gw: RunningGateway) -> None:
        self.gw = gw
        headers = {"X-Daytwo-Project": f"m{uuid.uuid4().hex[:12]}"}
        self.project = headers["X-Daytwo-Project"]
        self.openai = openai.OpenAI(
            base_url=gw.base_url, api_key="unused", max_retries=0, default_headers=headers
        )
        self.anthropic = anthropic.Anthropic(
            base_url=gw.url, api_key="unused", max_retries=0, default_headers=headers
        )

    def rows(self) -> list[dict[str, Any]]:
        return [r for r in self.gw.records() if r["project"] == self.project]

    def close(self) -> None:
        self.openai.close()
        self.anthropic.close()


def assert_ok_rows(rows: list[dict[str, Any]], egress: Egress, count: int) -> None:
    assert len(rows) == count
    for row in rows:
        assert (row["status"], row["http_status"], row["provider"], row["served_model"]) == (
            "ok",
            200,
            egress.name,
            egress.served,
        )
        assert row["tokens_estimated"] == 0


def assert_error_row(calls: Calls, egress: Egress, status: int) -> None:
    (row,) = calls.rows()
    assert (row["status"], row["http_status"], row["provider"]) == ("error", status, egress.name)


def assert_rejected(calls: Calls, param: str, err: openai.BadRequestError) -> None:
    assert body(err)["param"] == param
    (row,) = calls.rows()
    assert (row["status"], row["http_status"]) == ("rejected", 400)


def body(err: openai.APIStatusError) -> dict[str, Any]:
    assert isinstance(err.body, dict)
    return err.body


def stop_words(text: str) -> None:
    """An answer ended by the stop sequence ``.``: its first sentence, without the period."""
    assert text and "." not in text
