"""Who and what caused a call, said by the application: the ``X-Daytwo-*`` headers.

Two ways to say it, which combine:

- :func:`attribute` returns a copy of an ``openai`` / ``anthropic`` client whose every request
  carries the headers (the SDKs' own ``with_options(default_headers=...)``): for what is fixed
  for the client's life, such as the project and the environment.
- :func:`attribution` is a context manager (or decorator) that sets the headers for the calls
  made inside it, through a :class:`contextvars.ContextVar` (each thread and asyncio task has its
  own): for what changes per request, such as the workflow, session and user.
  Only clients passed through :func:`daytwo.sdk.instrument` read it. Nested scopes override
  their outer scope field by field; tags merge.

A header already on a request wins over the scope: per-call ``extra_headers`` first, then the
client's headers, then the innermost :func:`attribution`.

Values are checked here, where the mistake is made, with the gateway's own limits (128
characters, 16 tags), and must be printable ASCII: header values travel as bytes and the gateway
reads them as Latin-1, so anything else would be recorded garbled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, TypeVar

from daytwo.sdk._wrap import decorate

#: The gateway's limits (``daytwo.gateway.attribution``): longer values are refused there.
MAX_VALUE_LEN = 128
MAX_TAGS = 16
FIELDS = ("project", "workflow", "feature", "agent", "session", "user", "environment")
HEADER_PREFIX = "x-daytwo-"
TAGS_HEADER = "x-daytwo-tags"
_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")

C = TypeVar("C")
F = TypeVar("F", bound=Callable[..., Any])


def _check(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}.")
    value = value.strip()
    if not value:
        raise ValueError(f"{what} is empty.")
    if len(value) > MAX_VALUE_LEN:
        raise ValueError(f"{what} is longer than {MAX_VALUE_LEN} characters ({len(value)}).")
    if not _PRINTABLE.match(value):
        raise ValueError(
            f"{what} must be printable ASCII (it travels in an HTTP header): {value!r}"
        )
    return value


def _check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise ValueError(f"tags must be a mapping of strings, not {type(tags).__name__}.")
    out: dict[str, str] = {}
    for key, value in tags.items():
        k = _check(key, "a tag name")
        if "=" in k or "," in k:
            raise ValueError(f"tag name {k!r} contains '=' or ',' (tags travel as k=v,k2=v2).")
        v = _check(value, f"tag {k!r}")
        if "," in v:
            raise ValueError(f"tag {k!r} contains ',' (tags travel as k=v,k2=v2): {v!r}")
        out[k] = v
    if len(out) > MAX_TAGS:
        raise ValueError(f"{len(out)} tags: the gateway accepts at most {MAX_TAGS}.")
    return out


def encode_tags(tags: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in tags.items())


def decode_tags(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` → dict, read as the gateway reads it (a bare word is ``word=true``)."""
    tags: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        if key.strip():
            tags[key.strip()] = value.strip() if sep else "true"
    return tags


@dataclass(frozen=True)
class Attribution:
    """Checked attribution values: the fields that are set, and the tags."""

    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, tags: Mapping[str, str] | None = None, **values: str | None) -> Attribution:
        """Check ``values`` (the fields in :data:`FIELDS`; ``None`` = not set) and ``tags``.

        Raises ValueError naming the field and the problem."""
        fields: dict[str, str] = {}
        for name, value in values.items():
            if name not in FIELDS:
                raise ValueError(f"unknown attribution field {name!r}; known: {', '.join(FIELDS)}")
            if value is not None:
                fields[name] = _check(value, name)
        checked = _check_tags(tags) if tags is not None else {}
        return cls(MappingProxyType(fields), MappingProxyType(checked))

    def merged(
        self, inner: Attribution, outer_is: str = "the enclosing attribution"
    ) -> Attribution:
        """``inner`` over ``self``: its fields replace, its tags add (or replace by name)."""
        tags = {**self.tags, **inner.tags}
        if len(tags) > MAX_TAGS:
            raise ValueError(
                f"{len(tags)} tags with those of {outer_is}: the gateway accepts at most "
                f"{MAX_TAGS}."
            )
        return Attribution(
            MappingProxyType({**self.fields, **inner.fields}), MappingProxyType(tags)
        )

    def headers(self) -> dict[str, str]:
        out = {HEADER_PREFIX + name: value for name, value in self.fields.items()}
        if self.tags:
            out[TAGS_HEADER] = encode_tags(self.tags)
        return out


_EMPTY = Attribution()
_current: ContextVar[Attribution] = ContextVar("daytwo_sdk_attribution", default=_EMPTY)


def current_attribution() -> Attribution:
    """The attribution in effect here (the innermost :func:`attribution` scopes, merged)."""
    return _current.get()


def attribute(
    client: C,
    *,
    project: str | None = None,
    workflow: str | None = None,
    feature: str | None = None,
    agent: str | None = None,
    session: str | None = None,
    user: str | None = None,
    environment: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> C:
    """A copy of ``client`` (``openai.OpenAI`` / ``AsyncOpenAI``, ``anthropic.Anthropic`` /
    ``AsyncAnthropic``) that sends the given attribution on every request.

    The copy shares the original's connection pool (and so its :func:`instrument` hooks).
    Tags add to tags the client already sends. Raises ValueError for a bad value, TypeError for
    something that is not such a client."""
    with_options = getattr(client, "with_options", None)
    if not callable(with_options):
        raise TypeError(
            "attribute() takes an openai or anthropic client (OpenAI, AsyncOpenAI, Anthropic, "
            f"AsyncAnthropic), not {type(client).__name__}."
        )
    given = Attribution.of(
        tags,
        project=project,
        workflow=workflow,
        feature=feature,
        agent=agent,
        session=session,
        user=user,
        environment=environment,
    )
    headers = given.headers()
    if given.tags:
        existing = _header(getattr(client, "default_headers", None), TAGS_HEADER)
        if existing:
            merged = Attribution(tags=decode_tags(existing)).merged(given, "the client")
            headers[TAGS_HEADER] = encode_tags(merged.tags)
    copy: C = with_options(default_headers=headers)
    return copy


def _header(headers: object, name: str) -> str | None:
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None


class AttributionScope:
    """What :func:`attribution` returns: a context manager (``with`` / ``async with``) and a
    decorator for sync and async functions (each call gets its own scope)."""

    def __init__(self, values: Attribution) -> None:
        self._values = values
        self._tokens: list[Token[Attribution]] = []

    def __enter__(self) -> Attribution:
        merged = _current.get().merged(self._values)
        self._tokens.append(_current.set(merged))
        return merged

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _current.reset(self._tokens.pop())

    async def __aenter__(self) -> Attribution:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        return decorate(fn, self._fresh)

    def _fresh(self) -> AttributionScope:
        return AttributionScope(self._values)


def attribution(
    *,
    project: str | None = None,
    workflow: str | None = None,
    feature: str | None = None,
    agent: str | None = None,
    session: str | None = None,
    user: str | None = None,
    environment: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> AttributionScope:
    """Attribute the calls made inside ``with attribution(...)`` (or a decorated function)
    through instrumented clients. Values are checked now: ValueError for a bad one."""
    return AttributionScope(
        Attribution.of(
            tags,
            project=project,
            workflow=workflow,
            feature=feature,
            agent=agent,
            session=session,
            user=user,
            environment=environment,
        )
    )
