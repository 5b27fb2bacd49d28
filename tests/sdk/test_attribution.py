"""``sdk.attribute`` / ``sdk.attribution``: checked values, client copies, scopes that nest and
follow asyncio tasks, and agreement with what the gateway reads."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daytwo import sdk
from daytwo.gateway import attribution as gateway_attribution
from daytwo.sdk.attribution import FIELDS, Attribution, decode_tags, encode_tags


def clients() -> list[Any]:
    return [
        openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k"),
        openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k"),
        anthropic.Anthropic(base_url="http://127.0.0.1:9", api_key="k"),
        anthropic.AsyncAnthropic(base_url="http://127.0.0.1:9", api_key="k"),
    ]


@pytest.mark.parametrize("client", clients(), ids=lambda c: type(c).__name__)
def test_attribute_returns_a_copy_with_the_headers(client: Any) -> None:
    copy = sdk.attribute(client, project="helpdesk", workflow="rag", tags={"team": "support"})
    assert type(copy) is type(client) and copy is not client
    headers = copy.default_headers
    assert headers["x-daytwo-project"] == "helpdesk"
    assert headers["x-daytwo-workflow"] == "rag"
    assert headers["x-daytwo-tags"] == "team=support"
    assert "x-daytwo-project" not in client.default_headers  # the original is untouched
    assert copy.api_key == client.api_key and str(copy.base_url) == str(client.base_url)


def test_attribute_adds_tags_to_the_clients_own() -> None:
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k")
    first = sdk.attribute(client, tags={"team": "support", "tier": "gold"})
    second = sdk.attribute(first, user="u-1", tags={"tier": "silver"})
    assert decode_tags(str(second.default_headers["x-daytwo-tags"])) == {
        "team": "support",
        "tier": "silver",
    }
    assert second.default_headers["x-daytwo-user"] == "u-1"
    with pytest.raises(ValueError, match="18 tags with those of the client"):
        sdk.attribute(second, tags={f"t{i}": "v" for i in range(16)})


def test_attribute_refuses_what_is_not_a_client() -> None:
    with pytest.raises(TypeError, match=r"openai or anthropic client.*not dict"):
        sdk.attribute({}, project="x")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workflow": "x" * 129}, "workflow is longer than 128 characters"),
        ({"session": "a\nb"}, "session must be printable ASCII"),
        ({"user": "josé"}, "user must be printable ASCII"),
        ({"project": "   "}, "project is empty"),
        ({"agent": 5}, "agent must be a string, not int"),
        ({"tags": {"a=b": "1"}}, "tag name 'a=b' contains '=' or ','"),
        ({"tags": {"team": "a,b"}}, "tag 'team' contains ','"),
        ({"tags": {"team": ""}}, "tag 'team' is empty"),
        ({"tags": {f"t{i}": "v" for i in range(17)}}, "17 tags: the gateway accepts at most 16"),
        ({"tags": ["team"]}, "tags must be a mapping"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(kwargs: dict[str, Any], message: str) -> None:
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k")
    with pytest.raises(ValueError, match=message):
        sdk.attribution(**kwargs)
    with pytest.raises(ValueError, match=message):
        sdk.attribute(client, **kwargs)


def test_values_are_trimmed_and_the_longest_allowed_passes() -> None:
    values = Attribution.of(workflow="  rag  ", session="s" * 128)
    assert dict(values.fields) == {"workflow": "rag", "session": "s" * 128}


def test_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown attribution field 'team'"):
        Attribution.of(team="x")


def test_limits_and_fields_are_the_gateways() -> None:
    assert sdk.MAX_VALUE_LEN == gateway_attribution.MAX_VALUE_LEN
    assert sdk.MAX_TAGS == gateway_attribution.MAX_TAGS
    assert {f"x-daytwo-{f}".encode() for f in FIELDS} == set(gateway_attribution.HEADER_FIELDS)
    assert gateway_attribution.TAGS_HEADER == b"x-daytwo-tags"


_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=",="),
    min_size=1,
    max_size=20,
)


@given(st.dictionaries(_TEXT, _TEXT, max_size=16))
def test_the_gateway_reads_the_tags_the_sdk_writes(tags: dict[str, str]) -> None:
    checked = Attribution.of(tags).tags
    header = Attribution(tags=checked).headers().get("x-daytwo-tags", "")
    assert gateway_attribution.parse_tags(header, "x-daytwo-tags") == dict(checked)
    assert decode_tags(encode_tags(checked)) == dict(checked)


def test_scopes_nest_field_by_field_and_restore_on_exit() -> None:
    assert sdk.current_attribution().headers() == {}
    with sdk.attribution(workflow="rag", session="s1", tags={"a": "1"}):
        with sdk.attribution(session="s2", user="u", tags={"b": "2"}) as inner:
            assert dict(inner.fields) == {"workflow": "rag", "session": "s2", "user": "u"}
            assert sdk.current_attribution().headers() == {
                "x-daytwo-workflow": "rag",
                "x-daytwo-session": "s2",
                "x-daytwo-user": "u",
                "x-daytwo-tags": "a=1,b=2",
            }
        assert dict(sdk.current_attribution().fields) == {"workflow": "rag", "session": "s1"}
    assert sdk.current_attribution().headers() == {}


def test_scope_is_restored_when_the_block_raises() -> None:
    with pytest.raises(KeyError), sdk.attribution(workflow="rag"):
        raise KeyError("boom")
    assert sdk.current_attribution().headers() == {}


def test_nested_tags_past_the_limit_are_refused_on_entry() -> None:
    outer = {f"o{i}": "v" for i in range(10)}
    inner = {f"i{i}": "v" for i in range(7)}
    with sdk.attribution(tags=outer):
        scope = sdk.attribution(tags=inner)  # fine alone
        with (
            pytest.raises(ValueError, match="17 tags with those of the enclosing attribution"),
            scope,
        ):
            pass
        assert len(sdk.current_attribution().tags) == 10


def test_each_asyncio_task_sees_its_own_scope() -> None:
    async def request(session: str) -> str | None:
        async with sdk.attribution(session=session):
            await asyncio.sleep(0.01)  # let the other tasks enter their scopes meanwhile
            return sdk.current_attribution().fields.get("session")

    async def run() -> list[str | None]:
        return await asyncio.gather(*(request(f"s{i}") for i in range(5)))

    assert asyncio.run(run()) == [f"s{i}" for i in range(5)]


def test_attribution_decorates_sync_and_async_functions() -> None:
    @sdk.attribution(workflow="batch")
    def sync_job(n: int) -> tuple[int, str | None]:
        return n * 2, sdk.current_attribution().fields.get("workflow")

    @sdk.attribution(workflow="stream")
    async def async_job(n: int) -> tuple[int, str | None]:
        await asyncio.sleep(0)
        return n * 3, sdk.current_attribution().fields.get("workflow")

    assert sync_job(2) == (4, "batch")
    assert sync_job(3) == (6, "batch")  # a fresh scope per call
    assert asyncio.run(async_job(2)) == (6, "stream")
    assert sdk.current_attribution().headers() == {}
    assert sync_job.__name__ == "sync_job"
