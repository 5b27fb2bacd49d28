"""Which requests share a cache entry, and whose idempotency keys meet."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from daytwo.core.errors import InvalidRequest
from daytwo.replay.keys import (
    cache_key,
    check_idempotency_key,
    fingerprint,
    idempotency_scope,
    normalize_body,
)

BODY: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Hi"}],
    "temperature": 0.2,
}


def key(body: dict[str, Any], project: str = "p", op: str = "chat", alias: str = "a") -> str:
    return cache_key(project, op, alias, body)


def test_key_is_sha256_of_the_documented_canonical_json() -> None:
    canonical = (
        '{"alias":"a","body":{"messages":[{"content":"Grüß","role":"user"}],"model":"m",'
        '"temperature":1},"op":"chat","project":"p","v":1}'
    ).encode()
    body = {"temperature": 1.0, "model": "m", "messages": [{"role": "user", "content": "Grüß"}]}
    assert key(body) == hashlib.sha256(canonical).hexdigest()


def test_field_order_and_delivery_fields_do_not_change_the_key() -> None:
    reordered = {"temperature": 0.2, "messages": BODY["messages"], "model": "gpt-4o-mini"}
    assert key(reordered) == key(BODY)
    delivery = {
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u-42",
        "safety_identifier": "h",
        "metadata": {"trace": "t"},
        "store": False,
        "service_tier": "flex",
        "prompt_cache_key": "k",
    }
    assert key({**BODY, **delivery}) == key(BODY)
    assert key({**BODY, "stream": False}) == key(BODY)


def test_numbers_compare_by_value_but_booleans_stay_booleans() -> None:
    assert key({**BODY, "temperature": 1}) == key({**BODY, "temperature": 1.0})
    assert key({**BODY, "seed": 0}) == key({**BODY, "seed": -0.0})
    assert key({**BODY, "n": 1}) != key({**BODY, "n": True})
    assert key({**BODY, "temperature": 0.2}) != key({**BODY, "temperature": 0.20001})
    # a huge integer keys like the float the same JSON digits decode to
    assert key({**BODY, "seed": 2**70}) == key({**BODY, "seed": float(2**70)})


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.3},
        {"messages": [{"role": "user", "content": "Hi!"}]},
        {"messages": [{"role": "system", "content": "Hi"}]},
        {"model": "gpt-4o"},
        {"seed": 7},
        {"n": 2},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
    ],
)
def test_anything_that_shapes_the_answer_changes_the_key(change: dict[str, Any]) -> None:
    assert key({**BODY, **change}) != key(BODY)


def test_project_operation_and_alias_are_always_in_the_key() -> None:
    base = key(BODY)
    assert key(BODY, project="q") != base
    assert key(BODY, op="responses") != base
    assert key(BODY, alias="b") != base


def test_only_top_level_fields_are_dropped() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"metadata": {}}}}
    other = {"type": "function", "function": {"name": "f", "parameters": {"user": {}}}}
    assert key({**BODY, "tools": [tool]}) != key({**BODY, "tools": [other]})
    normalized = normalize_body({**BODY, "tools": [tool], "user": "x"})
    assert "user" not in normalized
    assert normalized["tools"] == [tool]


def test_bodies_that_are_not_json_are_refused() -> None:
    with pytest.raises(TypeError, match="holding bytes"):
        key({**BODY, "x": b"raw"})


def test_idempotency_scope_separates_principals_routes_and_keys() -> None:
    base = idempotency_scope("vk_1", "/v1/chat/completions", "abc")
    assert base == idempotency_scope("vk_1", "/v1/chat/completions", "abc")
    assert (
        len(
            {
                base,
                idempotency_scope("vk_2", "/v1/chat/completions", "abc"),
                idempotency_scope("vk_1", "/v1/embeddings", "abc"),
                idempotency_scope("vk_1", "/v1/chat/completions", "abd"),
                # the separator keeps the parts apart
                idempotency_scope("vk_1/v1", "/chat/completions", "abc"),
            }
        )
        == 5
    )


def test_fingerprint_is_over_the_raw_bytes() -> None:
    assert fingerprint(b'{"a":1}') == hashlib.sha256(b'{"a":1}').hexdigest()
    assert fingerprint(b'{"a":1}') != fingerprint(b'{"a": 1}')


def test_idempotency_key_header_is_checked() -> None:
    assert check_idempotency_key("order-7f3a") == "order-7f3a"
    for bad, problem in [
        ("", "is empty"),
        ("k" * 256, "longer than 255"),
        ("a\nb", "control characters"),
    ]:
        with pytest.raises(InvalidRequest, match=problem) as info:
            check_idempotency_key(bad)
        assert info.value.param == "Idempotency-Key"
        assert info.value.status == 400
