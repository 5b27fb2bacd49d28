"""The ``cache`` and ``idempotency`` config sections: defaults, opt-ins and clear refusals."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from daytwo.config.load import format_errors
from daytwo.config.replay import CacheConfig, IdempotencyConfig


def problems(model: type[BaseModel], data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return format_errors(info.value)


def test_defaults_match_the_documented_section() -> None:
    cache = CacheConfig()
    assert (cache.backend, cache.url, cache.prefix) == (
        "memory",
        "redis://127.0.0.1:6379/0",
        "daytwo:",
    )
    assert (cache.ttl_s, cache.max_entries, cache.max_entry_bytes) == (3600, 10_000, 1_048_576)
    assert not cache.active
    idem = IdempotencyConfig()
    assert (idem.enabled, idem.backend, idem.ttl_s, idem.lock_s, idem.max_entries) == (
        True,
        "memory",
        86_400,
        600,
        100_000,
    )


def test_a_call_is_cached_when_its_alias_or_its_project_opted_in() -> None:
    cfg = CacheConfig.model_validate(
        {
            "ttl_s": 3600,
            "aliases": {"gpt-4o-mini": {"ttl_s": 600}, "embed": {}, "bare": None},
            "projects": {"support-bot": {"ttl_s": 120}, "docs": {}},
        }
    )
    assert cfg.active
    assert cfg.applies("gpt-4o-mini", "anyone") == 600
    assert cfg.applies("embed", None) == 3600
    assert cfg.applies("bare", "x") == 3600
    assert cfg.applies("gpt-4o", "support-bot") == 120
    assert cfg.applies("gpt-4o", "docs") == 3600
    assert cfg.applies("gpt-4o-mini", "support-bot") == 600  # the alias wins on TTL
    assert cfg.applies("embed", "support-bot") == 120  # ... when it sets one
    assert cfg.applies("gpt-4o", "other") is None
    assert cfg.applies("gpt-4o", None) is None


def test_opt_ins_may_be_a_plain_list_of_names() -> None:
    cfg = CacheConfig.model_validate({"projects": ["support-bot"], "aliases": ["embed"]})
    assert cfg.applies("x", "support-bot") == cfg.ttl_s
    assert cfg.applies("embed", None) == cfg.ttl_s
    assert problems(CacheConfig, {"projects": ["ok", 3]}) == [
        "projects: expected a list of names or a mapping of name to settings"
    ]


def test_bad_values_are_refused_naming_the_key() -> None:
    assert problems(CacheConfig, {"backend": "memcached"}) == [
        "backend: Input should be 'memory' or 'redis' (got 'memcached')"
    ]
    assert problems(CacheConfig, {"ttl_s": -5}) == [
        "ttl_s: Input should be greater than 0 (got -5)"
    ]
    assert problems(CacheConfig, {"aliases": {"a": {"ttl_s": 0}}}) == [
        "aliases.a.ttl_s: Input should be greater than 0 (got 0)"
    ]
    assert problems(CacheConfig, {"aliases": {"a": {"tll_s": 5}}}) == [
        "aliases.a.tll_s: unknown key"
    ]
    assert problems(CacheConfig, {"max_entry_bytes": 0}) == [
        "max_entry_bytes: Input should be greater than 0 (got 0)"
    ]
    assert problems(IdempotencyConfig, {"ttl_s": 60, "lock_s": 600}) == [
        "lock_s cannot be longer than ttl_s"
    ]
    assert problems(IdempotencyConfig, {"backend": "disk", "lock_s": -1}) == [
        "backend: Input should be 'memory' or 'redis' (got 'disk')",
        "lock_s: Input should be greater than 0 (got -1)",
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:6379", "url: url must start with redis://, rediss:// or unix://"),
        ("127.0.0.1:6379", "url: url must start with redis://, rediss:// or unix://"),
        ("redis://:pw@:6379/0", "url: url needs a host (expected redis://host:6379/0)"),
        ("redis://h:99999/0", "url: url is not a valid URL (expected redis://host:6379/0)"),
        ("redis://h:6379/cache", "url: the url's path must be a database number"),
        ("unix://", "url: a unix:// url needs the socket path (unix:///run/redis.sock)"),
    ],
)
def test_bad_redis_urls_are_refused_without_echoing_them(url: str, problem: str) -> None:
    for model in (CacheConfig, IdempotencyConfig):
        lines = problems(model, {"backend": "redis", "url": url})
        assert len(lines) == 1
        assert lines[0].startswith(problem)
        assert ":pw@" not in lines[0]


def test_good_redis_urls_are_accepted() -> None:
    for url in (
        "redis://127.0.0.1:6379/0",
        "redis://cache.internal",
        "rediss://:token@cache.internal:6380/2",
        "unix:///run/redis.sock",
    ):
        assert CacheConfig(backend="redis", url=url).url == url


def test_sections_are_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        CacheConfig().ttl_s = 5  # type: ignore[misc]
