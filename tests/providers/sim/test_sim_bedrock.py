"""The simulator's Bedrock Runtime over real loopback HTTP, spoken to by AWS's own SDK: botocore's
``bedrock-runtime`` client signs, sends and parses Converse, ConverseStream (event-stream frames)
and InvokeModel exactly as it does against AWS, so a shape the SDK would reject fails here."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import botocore.session  # type: ignore[import-untyped]
import pytest
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.eventstream import EventStreamBuffer  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from urllib3.exceptions import ProtocolError

from daytwo.config.schema import SimFaults, SimSettings
from daytwo.providers.sim.bedrock_format import encode_frame
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
# The top_song tool and question of the AWS tool-use guide
# (https://docs.aws.amazon.com/bedrock/latest/userguide/tool-use-inference-call.html).
TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": "top_song",
                "description": "Get the most popular song played on a radio station.",
                "inputSchema": {
                    "json": {
                        "type": "object",
                        "properties": {"sign": {"type": "string"}},
                        "required": ["sign"],
                    }
                },
            }
        }
    ],
    "toolChoice": {"tool": {"name": "top_song"}},
}
QUESTION = [{"role": "user", "content": [{"text": "What is the most popular song on WZPZ?"}]}]


def client(url: str, key: str = ACCESS_KEY) -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=url.removesuffix("/v1"),
        aws_access_key_id=key,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_sim_server(SimSettings(seed=3), require_key=ACCESS_KEY) as url:
        yield url


def test_frame_encoding_matches_published_bytes() -> None:
    # The two examples of hex.pm's event_stream package docs (encode!/2), AWS's event-stream
    # encoding: https://hex.pm/packages/event_stream/0.1.0/files/lib/event_stream.ex
    bare = bytes([0, 0, 0, 30, 0, 0, 0, 0, 186, 242, 246, 138]) + b'{"foo": "bar"}'
    assert encode_frame([], b'{"foo": "bar"}') == bare + bytes([174, 114, 88, 228])
    typed = encode_frame([("content-type", "application/json")], b'{"foo": "bar"}')
    assert typed[:12] == bytes([0, 0, 0, 62, 0, 0, 0, 32, 64, 93, 249, 70])
    assert typed[-4:] == bytes([111, 162, 191, 59])
    buffer = EventStreamBuffer()
    buffer.add_data(typed)
    (decoded,) = list(buffer)
    assert decoded.headers == {"content-type": "application/json"}
    assert decoded.payload == b'{"foo": "bar"}'


def test_converse(base_url: str) -> None:
    resp = client(base_url).converse(
        modelId=MODEL,
        messages=QUESTION,
        system=[{"text": "Be brief."}],
        inferenceConfig={"maxTokens": 400, "temperature": 0.5},
    )
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(resp["ResponseMetadata"]["RequestId"]) == 36
    (block,) = resp["output"]["message"]["content"]
    assert resp["output"]["message"]["role"] == "assistant" and block["text"]
    assert resp["stopReason"] == "end_turn"
    usage = resp["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert usage["outputTokens"] > 0 and "latencyMs" in resp["metrics"]


def test_converse_tool_use(base_url: str) -> None:
    resp = client(base_url).converse(modelId=MODEL, messages=QUESTION, toolConfig=TOOL_CONFIG)
    assert resp["stopReason"] == "tool_use"
    (block,) = resp["output"]["message"]["content"]
    use = block["toolUse"]
    assert use["name"] == "top_song" and use["toolUseId"].startswith("tooluse_")
    assert isinstance(use["input"]["sign"], str)
    # the tool's result goes back; the model answers in text
    follow = client(base_url).converse(
        modelId=MODEL,
        messages=[
            *QUESTION,
            resp["output"]["message"],
            {
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": use["toolUseId"],
                            "content": [{"json": {"song": "Elemental Hotel"}}],
                        }
                    }
                ],
            },
        ],
        toolConfig={"tools": TOOL_CONFIG["tools"]},
    )
    assert follow["stopReason"] == "end_turn" and follow["output"]["message"]["content"][0]["text"]


def test_converse_stream_event_sequence(base_url: str) -> None:
    resp = client(base_url).converse_stream(modelId=MODEL, messages=QUESTION)
    events = list(resp["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and events[0]["messageStart"] == {"role": "assistant"}
    assert kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert "contentBlockStart" not in kinds  # text blocks open without one, as on AWS
    deltas = [e["contentBlockDelta"] for e in events if "contentBlockDelta" in e]
    assert all(d["contentBlockIndex"] == 0 and d["delta"]["text"] for d in deltas)
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    assert events[-1]["metadata"]["usage"]["outputTokens"] == len(deltas)  # one token per delta


def test_converse_stream_tool_use(base_url: str) -> None:
    resp = client(base_url).converse_stream(
        modelId=MODEL, messages=QUESTION, toolConfig=TOOL_CONFIG
    )
    events = list(resp["stream"])
    (start,) = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert start["start"]["toolUse"]["name"] == "top_song"
    parts = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "contentBlockDelta" in e
    ]
    assert set(json.loads("".join(parts))) == {"sign"}
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["tool_use"]


def test_frames_carry_aws_headers_and_padding(base_url: str) -> None:
    status, headers, raw = post_signed(base_url, MODEL, "converse-stream", {"messages": QUESTION})
    assert status == 200 and headers["content-type"] == "application/vnd.amazon.eventstream"
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    messages = list(buffer)
    assert all(m.headers[":message-type"] == "event" for m in messages)
    assert all(m.headers[":content-type"] == "application/json" for m in messages)
    assert all("p" in json.loads(m.payload) for m in messages)


def test_invoke_model_titan_and_cohere_embeddings(base_url: str) -> None:
    c = client(base_url)
    titan = c.invoke_model(
        modelId="amazon.titan-embed-text-v2:0",
        body=json.dumps({"inputText": "Elemental Hotel", "dimensions": 512}),
    )
    data = json.loads(titan["body"].read())
    assert len(data["embedding"]) == 512 and data["inputTextTokenCount"] > 0
    cohere = c.invoke_model(
        modelId="cohere.embed-english-v3",
        body=json.dumps({"texts": ["a", "b"], "input_type": "search_document"}),
    )
    headers = cohere["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) > 0
    vectors = json.loads(cohere["body"].read())["embeddings"]
    assert len(vectors) == 2 and len(vectors[0]) == 1024


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (
            {"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]},
            "must start with a user",
        ),
        (
            {
                "messages": [
                    *QUESTION,
                    {
                        "role": "assistant",
                        "content": [
                            {"toolUse": {"toolUseId": "t", "name": "top_song", "input": {}}}
                        ],
                    },
                ]
            },
            "toolConfig field must be defined",
        ),
    ],
)
def test_validation_errors_are_validation_exceptions(
    base_url: str, kwargs: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ClientError) as info:
        client(base_url).converse(modelId=MODEL, **kwargs)
    err = info.value.response
    assert err["Error"]["Code"] == "ValidationException" and needle in err["Error"]["Message"]
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_invoke_model_validates_bodies(base_url: str) -> None:
    with pytest.raises(ClientError) as info:
        client(base_url).invoke_model(
            modelId="cohere.embed-english-v3", body=json.dumps({"texts": ["a"]})
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "input_type" in info.value.response["Error"]["Message"]


def test_sigv4_is_required_and_must_name_the_key(base_url: str) -> None:
    with pytest.raises(ClientError) as info:
        client(base_url, key="AKIAOTHERKEY00000000").converse(modelId=MODEL, messages=QUESTION)
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    status, headers, raw = post(base_url, f"/model/{MODEL}/converse", {"messages": QUESTION}, {})
    assert status == 403 and headers["x-amzn-errortype"].startswith("MissingAuthenticationToken")
    assert json.loads(raw) == {"message": "Missing Authentication Token"}
    forged = {
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE",
        "x-amz-date": "x",
    }
    status, headers, _ = post(base_url, f"/model/{MODEL}/converse", {"messages": QUESTION}, forged)
    assert status == 403 and headers["x-amzn-errortype"].startswith("IncompleteSignature")


@pytest.mark.parametrize(
    ("faults", "status", "code"),
    [
        (SimFaults(rate_429=1.0), 429, "ThrottlingException"),
        (SimFaults(rate_503=1.0), 503, "ServiceUnavailableException"),
        (SimFaults(rate_500=1.0), 500, "InternalServerException"),
    ],
)
def test_faults_are_bedrock_exceptions(faults: SimFaults, status: int, code: str) -> None:
    with running_sim_server(SimSettings(faults=faults)) as url, pytest.raises(ClientError) as info:
        client(url).converse(modelId=MODEL, messages=QUESTION)
    err = info.value.response
    assert err["Error"]["Code"] == code and err["ResponseMetadata"]["HTTPStatusCode"] == status


def test_malformed_fault_cuts_a_frame() -> None:
    settings = SimSettings(
        faults=SimFaults(rate_malformed=1.0), min_output_tokens=20, max_output_tokens=20
    )
    with running_sim_server(settings) as url:
        resp = client(url).converse_stream(modelId=MODEL, messages=QUESTION)
        seen: list[dict[str, Any]] = []
        with pytest.raises(ProtocolError, match="ended prematurely"):
            seen.extend(resp["stream"])
    assert seen and not any("messageStop" in e for e in seen)


# ------------------------------------------------------------------ raw HTTP helpers


def post(
    base_url: str, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=10)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"content-type": "application/json", **headers},
        )
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def post_signed(base_url: str, model: str, op: str, body: Any) -> tuple[int, dict[str, str], bytes]:
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
    from botocore.credentials import Credentials  # type: ignore[import-untyped]

    root = base_url.removesuffix("/v1")
    path = f"/model/{model}/{op}"
    request = AWSRequest(
        "POST", root + path, data=json.dumps(body), headers={"content-type": "application/json"}
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "bedrock", "us-east-1").add_auth(request)
    return post(base_url, path, body, dict(request.headers.items()))
