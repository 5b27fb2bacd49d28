"""The simulator's Azure OpenAI over real loopback HTTP, spoken to by the official ``openai``
SDK's ``AzureOpenAI`` client (it builds Azure's URLs, query and ``api-key`` header itself)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest

from daytwo.config.schema import SimFaults, SimSettings
from daytwo.providers.sim.azure_format import CONTENT_FILTER_TRIGGER
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

KEY = "azure-test-key-0123456789"
API_VERSION = "2024-10-21"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_sim_server(SimSettings(seed=9), require_key=KEY) as url:
        yield url


def azure(base_url: str, key: str = KEY) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=base_url.removesuffix("/v1"),
        api_key=key,
        api_version=API_VERSION,
        max_retries=0,
    )


def post(base_url: str, path: str, body: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=10)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"api-key": KEY, **headers})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_chat_reports_the_served_model_and_filter_results(base_url: str) -> None:
    with azure(base_url) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="prod-gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}]
        )
    completion = raw.parse()
    assert completion.model == "gpt-4o-mini-2024-07-18"  # the deployment's model, dated
    assert completion.choices[0].message.content and completion.usage is not None
    data = json.loads(raw.http_response.content)
    assert data["prompt_filter_results"][0]["content_filter_results"]["hate"]["filtered"] is False
    assert "content_filter_results" in data["choices"][0]
    assert raw.headers["apim-request-id"] and raw.headers["x-request-id"]


def test_stream_opens_with_the_prompt_filter_chunk(base_url: str) -> None:
    with azure(base_url) as client:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "Tell me a story"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    first = chunks[0]
    assert first.choices == [] and first.model == "" and first.id == ""
    assert first.model_extra and first.model_extra["prompt_filter_results"]
    assert {c.model for c in chunks[1:]} == {"gpt-4o-2024-11-20"}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage is not None


def test_embeddings(base_url: str) -> None:
    with azure(base_url) as client:
        resp = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(resp.data) == 2 and len(resp.data[0].embedding) == 1536
    assert resp.model == "text-embedding-3-small"


def test_missing_api_version_is_azures_404(base_url: str) -> None:
    path = "/openai/deployments/gpt-4o/chat/completions"
    status, _, raw = post(base_url, path, {"messages": [{"role": "user", "content": "x"}]})
    assert status == 404
    assert json.loads(raw) == {"error": {"code": "404", "message": "Resource not found"}}
    status, _, _ = post(
        base_url, path + "?api-version=2024-10-21", {"messages": [{"role": "user", "content": "x"}]}
    )
    assert status == 200


def test_wrong_key_is_a_401(base_url: str) -> None:
    with (
        azure(base_url, key="wrong-key-wrong-key") as client,
        pytest.raises(openai.AuthenticationError) as info,
    ):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 401 and "wrong-key" not in str(info.value.body)


def test_filtered_prompt_is_a_400_content_filter(base_url: str) -> None:
    with azure(base_url) as client, pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"x {CONTENT_FILTER_TRIGGER}"}]
        )
    assert info.value.code == "content_filter"
    body = info.value.body
    assert isinstance(body, dict) and body["innererror"]["code"] == "ResponsibleAIPolicyViolation"


def test_throttling_is_azures_429_with_retry_hints() -> None:
    settings = SimSettings(faults=SimFaults(rate_429=1.0, retry_after_s=6))
    with running_sim_server(settings) as url:
        path = f"/openai/deployments/gpt-4o/chat/completions?api-version={API_VERSION}"
        status, headers, raw = post(url, path, {"messages": [{"role": "user", "content": "x"}]})
    assert status == 429 and headers["retry-after"] == "6" and headers["retry-after-ms"] == "6000"
    err = json.loads(raw)["error"]
    assert err["code"] == "429" and "Please retry after 6 seconds" in err["message"]
