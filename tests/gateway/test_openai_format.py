import pytest

from daytwo.core.errors import InvalidRequest
from daytwo.gateway.openai_format import error_body, parse_chat, parse_embeddings


def _chat(body: str) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse_chat(body.encode())
    return info.value


def test_valid_chat_keeps_unknown_fields_and_detects_stream() -> None:
    req = parse_chat(
        b'{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"x_vendor":1}'
    )
    assert req.model == "m"
    assert req.stream is True
    assert req.body["x_vendor"] == 1


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ('{"messages":[]}', "model", "Missing required parameter: 'model'"),
        ('{"model":1,"messages":[]}', "model", "expected a string, but got an integer"),
        ('{"model":"m"}', "messages", "Missing required parameter: 'messages'"),
        ('{"model":"m","messages":{}}', "messages", "expected an array, but got an object"),
        ('{"model":"m","messages":[]}', "messages", "empty array"),
        ('{"model":"m","messages":[{"content":"x"}]}', "messages[0].role", "Missing"),
        ('{"model":"m","messages":[{"role":5}]}', "messages[0].role", "got an integer"),
        ('{"model":"m","messages":[{"role":"robot"}]}', "messages[0].role", "'robot'"),
        (
            '{"model":"m","messages":[{"role":"user","content":7}]}',
            "messages[0].content",
            "got an integer",
        ),
        (
            '{"model":"m","messages":[{"role":"user"}],"max_tokens":"10"}',
            "max_tokens",
            "expected an integer, but got a string",
        ),
        (
            '{"model":"m","messages":[{"role":"user"}],"temperature":"hot"}',
            "temperature",
            "expected a number",
        ),
        (
            '{"model":"m","messages":[{"role":"user"}],"stream":"yes"}',
            "stream",
            "expected a boolean",
        ),
        ('{"model":"m","messages":[{"role":"user"}],"tools":{}}', "tools", "expected an array"),
        (
            '{"model":"m","messages":[{"role":"user"}],"max_tokens":-1}',
            "max_tokens",
            "must be positive",
        ),
    ],
)
def test_wrong_fields_are_named(body: str, param: str, fragment: str) -> None:
    err = _chat(body)
    assert err.param == param
    assert fragment in err.message
    assert err.status == 400


def test_malformed_json_and_non_object() -> None:
    assert "could not parse the JSON body" in _chat('{"model": ').message
    assert "must be a JSON object" in _chat("[1,2]").message
    assert "empty" in _chat("").message


def test_embeddings_input_checked() -> None:
    assert parse_embeddings(b'{"model":"e","input":["a","b"]}').operation == "embeddings"
    with pytest.raises(InvalidRequest) as info:
        parse_embeddings(b'{"model":"e","input":5}')
    assert info.value.param == "input"


def test_error_body_is_openai_shaped() -> None:
    err = _chat('{"model":"m","messages":[{"role":"user"}],"n":"2"}')
    assert error_body(err) == (
        b'{"error":{"message":"Invalid type for \'n\': expected an integer, but got a string '
        b'instead.","type":"invalid_request_error","param":"n","code":"invalid_type"}}'
    )
