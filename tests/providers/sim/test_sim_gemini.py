"""The simulator's Gemini API (``POST /v1beta/models/{model}:...``) over real loopback HTTP."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from daytwo.config.schema import SimFaults, SimSettings
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

KEY = "AIzaSy-test-key-0123456789abcdefghijkl"
HELLO = {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}
WEATHER = {
    "functionDeclarations": [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "parametersJsonSchema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
}
ANY_TOOL = {"functionCallingConfig": {"mode": "ANY"}}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_sim_server(SimSettings(seed=3)) as url:
        yield url


def post(
    base_url: str, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=10)
    try:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        conn.request("POST", path, body=data, headers={"content-type": "application/json",
                                                        **(headers or {})})  # fmt: skip
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def generate(base_url: str, body: Any, model: str = "gemini-2.5-flash") -> dict[str, Any]:
    status, _, raw = post(base_url, f"/v1beta/models/{model}:generateContent", body)
    assert status == 200, raw
    data: dict[str, Any] = orjson.loads(raw)
    return data


def stream_events(base_url: str, body: Any) -> tuple[dict[str, str], bytes, list[dict[str, Any]]]:
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    status, headers, raw = post(base_url, path, body)
    assert status == 200, raw
    frames = raw.split(b"\r\n\r\n")
    assert frames[-1] == b""  # every event ends with a blank line, CRLF-framed
    events = []
    for frame in frames[:-1]:
        assert frame.startswith(b"data: ") and b"\n" not in frame
        events.append(orjson.loads(frame[6:]))
    return headers, raw, events


def test_generate_content(base_url: str) -> None:
    status, headers, raw = post(base_url, "/v1beta/models/gemini-2.5-flash:generateContent", HELLO)
    assert status == 200 and headers["content-type"] == "application/json; charset=UTF-8"
    resp = orjson.loads(raw)
    (cand,) = resp["candidates"]
    assert cand["content"]["role"] == "model" and cand["content"]["parts"][0]["text"]
    assert cand["finishReason"] == "STOP" and cand["index"] == 0
    usage = resp["usageMetadata"]
    assert usage["promptTokenCount"] > 0 and usage["candidatesTokenCount"] > 0
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert resp["modelVersion"] == "gemini-2.5-flash" and resp["responseId"]


def test_generation_config_limits_and_candidates(base_url: str) -> None:
    body = {**HELLO, "generationConfig": {"maxOutputTokens": 3, "candidateCount": 2}}
    resp = generate(base_url, body)
    assert [c["finishReason"] for c in resp["candidates"]] == ["MAX_TOKENS", "MAX_TOKENS"]
    assert [c["index"] for c in resp["candidates"]] == [0, 1]
    assert resp["usageMetadata"]["candidatesTokenCount"] == 6


def test_json_mode_answers_json(base_url: str) -> None:
    schema = {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}, "required": ["n"]}
    body = {**HELLO, "generationConfig": {"responseMimeType": "application/json",
                                          "responseSchema": schema}}  # fmt: skip
    text = generate(base_url, body)["candidates"][0]["content"]["parts"][0]["text"]
    assert isinstance(orjson.loads(text)["n"], int)


def test_stream_is_sse_with_cumulative_usage(base_url: str) -> None:
    headers, _, events = stream_events(base_url, HELLO)
    assert headers["content-type"] == "text/event-stream"
    texts = [p["text"] for e in events for p in e["candidates"][0]["content"]["parts"]]
    assert all(e["candidates"][0].get("finishReason") is None for e in events[:-1])
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    counts = [e["usageMetadata"]["candidatesTokenCount"] for e in events]
    assert counts == sorted(counts)  # cumulative
    assert counts[-1] == len([t for t in texts if t])  # one token per piece, exact
    assert {e["responseId"] for e in events} == {events[0]["responseId"]}


def test_function_calls_streamed_and_not(base_url: str) -> None:
    body = {**HELLO, "tools": [WEATHER], "toolConfig": ANY_TOOL}
    (part,) = generate(base_url, body)["candidates"][0]["content"]["parts"]
    assert part["functionCall"]["name"] == "get_weather"
    assert isinstance(part["functionCall"]["args"]["city"], str)
    _, _, events = stream_events(base_url, body)
    calls = [
        p["functionCall"]
        for e in events
        for p in e["candidates"][0]["content"]["parts"]
        if "functionCall" in p
    ]
    assert len(calls) == 1 and set(calls[0]["args"]) == {"city"}  # arrives whole, once


def test_after_a_function_response_the_answer_is_text(base_url: str) -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather",
                                                          "args": {"city": "Paris"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                             "response": {"temp": 15}}}]},
        ],
        "tools": [WEATHER],
    }  # fmt: skip
    (part,) = generate(base_url, body)["candidates"][0]["content"]["parts"]
    assert part["text"]


def test_embed_content_and_batch(base_url: str) -> None:
    single = {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hi"}]}}
    status, _, raw = post(base_url, "/v1beta/models/text-embedding-004:embedContent", single)
    assert status == 200
    assert len(orjson.loads(raw)["embedding"]["values"]) == 768
    batch = {
        "requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]},
             "outputDimensionality": 8}
            for t in ("a", "b", "a")
        ]
    }  # fmt: skip
    status, _, raw = post(base_url, "/v1beta/models/gemini-embedding-001:batchEmbedContents", batch)
    data = orjson.loads(raw)
    assert status == 200 and "usageMetadata" not in data  # Google reports no tokens here
    vectors = [e["values"] for e in data["embeddings"]]
    assert [len(v) for v in vectors] == [8, 8, 8] and vectors[0] == vectors[2] != vectors[1]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1beta/models/gemini-2.5-flash:generateContent", {"contents": []}, "contents"),
        ("/v1beta/models/gemini-2.5-flash:generateContent", b"{not json", "Invalid JSON"),
        ("/v1beta/models/gemini-2.5-flash:streamGenerateContent", HELLO, "alt=sse"),
        ("/v1beta/models/gemini-embedding-001:batchEmbedContents",
         {"requests": [{"model": "models/other", "content": {"parts": [{"text": "a"}]}}]},
         "does not match"),
    ],
)  # fmt: skip
def test_invalid_requests_get_google_error_bodies(
    base_url: str, path: str, body: Any, message: str
) -> None:
    status, headers, raw = post(base_url, path, body)
    err = orjson.loads(raw)["error"]
    assert status == 400 and err["code"] == 400 and err["status"] == "INVALID_ARGUMENT"
    assert message in err["message"] and headers["content-type"].startswith("application/json")


def test_the_key_goes_in_a_header_or_the_query() -> None:
    path = "/v1beta/models/gemini-2.0-flash:generateContent"
    with running_sim_server(require_key=KEY) as url:
        assert post(url, path, HELLO, {"x-goog-api-key": KEY})[0] == 200
        assert post(url, f"{path}?key={KEY}", HELLO)[0] == 200
        status, _, raw = post(url, path, HELLO)
        assert status == 403 and orjson.loads(raw)["error"]["status"] == "PERMISSION_DENIED"
        status, _, raw = post(url, path, HELLO, {"x-goog-api-key": "AIza-wrong"})
        err = orjson.loads(raw)["error"]
        assert status == 400 and err["status"] == "INVALID_ARGUMENT"
        assert err["message"].startswith("API key not valid. Please pass a valid API key.")


def test_faults_use_google_statuses_and_retry_info() -> None:
    path = "/v1beta/models/gemini-2.5-pro:generateContent"
    with running_sim_server(SimSettings(faults=SimFaults(rate_429=1.0, retry_after_s=4))) as url:
        status, headers, raw = post(url, path, HELLO)
    err = orjson.loads(raw)["error"]
    assert status == 429 and err["code"] == 429 and err["status"] == "RESOURCE_EXHAUSTED"
    assert "retry-after" not in headers  # Google says when in the body, not in a header
    (retry,) = [d for d in err["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
    assert retry["retryDelay"] == "4s"
    with running_sim_server(SimSettings(faults=SimFaults(rate_503=1.0))) as url:
        status, _, raw = post(url, path, HELLO)
    assert status == 503 and orjson.loads(raw)["error"]["status"] == "UNAVAILABLE"


def test_stream_without_usage_when_the_upstream_reports_none() -> None:
    with running_sim_server(SimSettings(stream_usage=False)) as url:
        _, _, events = stream_events(url, HELLO)
    assert events and all("usageMetadata" not in e for e in events)
