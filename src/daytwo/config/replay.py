"""The ``cache`` and ``idempotency`` sections of ``daytwo.yaml``: answering a call again without
calling upstream.

::

    cache:
      backend: redis                    # memory (one process, the default) | redis (shared)
      url: redis://127.0.0.1:6379/0
      ttl_s: 3600
      aliases: {gpt-4o-mini: {ttl_s: 600}, embed: {}}
      projects: [support-bot]          # a list of names, or a mapping with overrides
    idempotency:
      backend: redis
      url: redis://127.0.0.1:6379/0
      ttl_s: 86400

The response cache is opt-in: nothing is cached until an alias or a project is named. A call is
cached when its alias OR its project opted in; the alias's ``ttl_s`` wins over the project's,
and both over the section's. Idempotency is on by default but only acts on requests that carry
an ``Idempotency-Key`` header.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DAY_S = 86_400
#: Upper bounds that catch unit mistakes (a TTL in milliseconds) rather than real limits.
Ttl = Annotated[float, Field(gt=0, le=30 * DAY_S)]
Backend = Literal["memory", "redis"]
Prefix = Annotated[str, Field(min_length=1, max_length=64)]


def check_redis_url(url: str) -> str:
    """``redis://host[:port][/db]``, ``rediss://...`` or ``unix:///path``; the message never
    repeats the URL (it may carry a password)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("url is not a valid URL (expected redis://host:6379/0)") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError("url must start with redis://, rediss:// or unix://")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// url needs the socket path (unix:///run/redis.sock)")
        return url
    if not parts.hostname:
        raise ValueError("url needs a host (expected redis://host:6379/0)")
    if port == 0:
        raise ValueError("url has port 0")
    db = parts.path.lstrip("/")
    if db and not db.isdigit():
        raise ValueError("the url's path must be a database number (redis://host:6379/0)")
    return url


class _Backed(_Model):
    #: ``memory``: one gateway process. ``redis``: shared by every replica.
    backend: Backend = "memory"
    url: str = "redis://127.0.0.1:6379/0"
    #: Prefix of every Redis key (several gateways may share one Redis).
    prefix: Prefix = "daytwo:"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_redis_url(value)


class CacheScope(_Model):
    """One alias's or project's opt-in; an empty mapping takes the section's TTL."""

    ttl_s: Ttl | None = None


def _opt_ins(value: Any) -> Any:
    # `projects: [a, b]` and `aliases: {a: }` (a YAML null) both mean "opted in, defaults".
    if isinstance(value, list | tuple):
        if not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of names or a mapping of name to settings")
        return {name: {} for name in value}
    if isinstance(value, dict):
        return {k: {} if v is None else v for k, v in value.items()}
    return value


class CacheConfig(_Backed):
    #: How long an answer is kept unless the alias or project says otherwise.
    ttl_s: Ttl = 3600.0
    #: Memory backend: the least recently used answers are dropped above this many.
    max_entries: int = Field(10_000, gt=0, le=10_000_000)
    #: Larger answers (serialized) are not cached.
    max_entry_bytes: int = Field(1_048_576, gt=0, le=64 * 1_048_576)
    #: Opted-in model aliases (the names under ``models``) → overrides.
    aliases: dict[str, CacheScope] = Field(default_factory=dict)
    #: Opted-in projects → overrides.
    projects: dict[str, CacheScope] = Field(default_factory=dict)

    @field_validator("aliases", "projects", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return _opt_ins(value)

    @property
    def active(self) -> bool:
        return bool(self.aliases or self.projects)

    def applies(self, alias: str, project: str | None) -> float | None:
        """The TTL for a call to ``alias`` by ``project``; None: the call is not cached."""
        by_alias = self.aliases.get(alias)
        by_project = self.projects.get(project) if project is not None else None
        if by_alias is None and by_project is None:
            return None
        for scope in (by_alias, by_project):
            if scope is not None and scope.ttl_s is not None:
                return scope.ttl_s
        return self.ttl_s


class IdempotencyConfig(_Backed):
    #: Only requests that send an ``Idempotency-Key`` header are affected.
    enabled: bool = True
    #: How long a completed outcome is replayed, from its completion.
    ttl_s: Ttl = float(DAY_S)
    #: A claim still in progress after this long is abandoned (a crashed replica's); the next
    #: request with the key runs. Longer than any call.
    lock_s: Ttl = 600.0
    #: Memory backend: the least recently used keys are forgotten above this many.
    max_entries: int = Field(100_000, gt=0, le=10_000_000)

    @model_validator(mode="after")
    def _consistent(self) -> IdempotencyConfig:
        if self.lock_s > self.ttl_s:
            raise ValueError("lock_s cannot be longer than ttl_s")
        return self
