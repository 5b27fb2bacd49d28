"""Prompts for applications that render client-side: fetched from the gateway
(``GET /v1/prompts/{name}``), cached with a TTL and stale-while-revalidate, with a bundled
fallback that still knows its content hash.

::

    from daytwo.sdk.prompts import PromptClient

    prompts = PromptClient("http://localhost:4000", api_key=key, fallback="prompts.bundle.json")
    p = prompts.get("support-reply", label="production")
    answer = openai_client.chat.completions.create(
        **p.request([{"role": "user", "content": question}], customer="Ann", topic="refund"),
        extra_headers=p.headers,   # the ledger records name, version, label and hash
    )

Or, with one client per process configured from the environment (``DAYTWO_BASE_URL``,
``DAYTWO_API_KEY``, ``DAYTWO_PROMPTS_FALLBACK``) or by :func:`configure`::

    from daytwo.sdk import prompts

    p = prompts.get("support-reply", label="production")

* ``get`` answers from the cache while it is fresh (``ttl_s``); past it, the stale copy is
  returned at once and one background refresh fetches the new one; with no copy, it fetches,
  and when the gateway cannot answer (down, or refusing) the bundle is used.
* A bundle is what ``PromptClient.bundle`` writes: the gateway's own answers, hash included, so
  a call made from the fallback is still attributed to its exact version.

Rendering uses Jinja2's immutable sandbox with ``StrictUndefined`` (the gateway's templates
passed its stricter load-time checks). Imports nothing of the gateway.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The header a call made with a client-rendered prompt carries.
PROMPT_HEADER = "X-Daytwo-Prompt"


class PromptUnavailable(Exception):
    """Neither the gateway, the cache nor the bundle has the prompt asked for."""


@dataclass(frozen=True)
class Prompt:
    """One prompt version as the gateway serves it. ``source``: ``gateway`` (just fetched),
    ``cache`` (fresh), ``stale`` (past its TTL, being refreshed) or ``fallback`` (the bundle)."""

    name: str
    version: int
    label: str | None
    hash: str
    model: str
    system: str | None
    messages: tuple[Mapping[str, str], ...]
    variables: Mapping[str, Mapping[str, Any]]
    params: Mapping[str, Any]
    source: str = "gateway"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str) -> Prompt:
        return cls(
            name=data["name"],
            version=int(data["version"]),
            label=data.get("label"),
            hash=data["hash"],
            model=data["model"],
            system=data.get("system"),
            messages=tuple(data.get("messages") or ()),
            variables=data.get("variables") or {},
            params=data.get("params") or {},
            source=source,
            raw=data,
        )

    @property
    def headers(self) -> dict[str, str]:
        """What a call made with this prompt sends, so the gateway records its identity."""
        value = f"{self.name}@v{self.version}; hash={self.hash}"
        if self.label:
            value += f"; label={self.label}"
        return {PROMPT_HEADER: value}

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """The prompt's messages with ``variables`` (defaults filled in). Raises ValueError
        naming an unknown or missing variable."""
        from jinja2 import StrictUndefined
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        values: dict[str, Any] = {}
        for key in variables:
            if key not in self.variables:
                raise ValueError(f"unknown variable {key!r} of prompt {self.name} v{self.version}")
        for key, spec in self.variables.items():
            value = variables.get(key, spec.get("default"))
            required = spec.get("required")
            if value is None and (required or (required is None and spec.get("default") is None)):
                raise ValueError(f"missing variable {key!r} of prompt {self.name} v{self.version}")
            values[key] = value
        env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        out: list[dict[str, str]] = []
        if self.system is not None:
            out.append({"role": "system", "content": env.from_string(self.system).render(values)})
        for m in self.messages:
            out.append({"role": m["role"], "content": env.from_string(m["content"]).render(values)})
        return out

    def request(
        self, messages: Sequence[Mapping[str, Any]] = (), **variables: Any
    ) -> dict[str, Any]:
        """Keyword arguments for ``chat.completions.create``: the prompt's model, its rendered
        messages then ``messages``, and its parameters."""
        return {
            "model": self.model,
            "messages": [*self.render(**variables), *messages],
            **self.params,
        }


Fetch = Callable[[str, str | None, int | None], Mapping[str, Any]]


class PromptClient:
    """Gets prompt versions from a daytwo gateway (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        ttl_s: float = 60.0,
        fallback: str | Path | Iterable[Mapping[str, Any]] | None = None,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str | None, int | None], tuple[float, Prompt]] = {}
        self._refreshing: set[tuple[str, str | None, int | None]] = set()
        self._bundle = _read_bundle(fallback)

    def get(self, name: str, *, label: str | None = None, version: int | None = None) -> Prompt:
        key = (name, label, version)
        with self._lock:
            hit = self._cache.get(key)
        now = self._clock()
        if hit is not None:
            at, prompt = hit
            if now - at < self.ttl_s:
                return _as(prompt, "cache")
            self._refresh_in_background(key)
            return _as(prompt, "stale")
        try:
            prompt = Prompt.from_json(self._fetch(*key), "gateway")
        except PromptUnavailable:
            fallback = self._from_bundle(*key)
            if fallback is None:
                raise
            return fallback
        with self._lock:
            self._cache[key] = (now, prompt)
        return prompt

    def bundle(self, refs: Iterable[tuple[str, str | None]], path: str | Path) -> Path:
        """Write a fallback bundle: the gateway's answers for ``(name, label)`` pairs."""
        bodies = [dict(self._fetch(name, label, None)) for name, label in refs]
        out = Path(path)
        out.write_text(json.dumps({"prompts": bodies}, indent=1, sort_keys=True))
        return out

    # -- internals ----------------------------------------------------------------------------

    def _fetch(self, name: str, label: str | None, version: int | None) -> Mapping[str, Any]:
        query = {k: str(v) for k, v in (("label", label), ("version", version)) if v is not None}
        url = f"{self.base_url}/v1/prompts/{urllib.parse.quote(name)}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"accept": "application/json"}
        if self._key:
            headers["authorization"] = f"Bearer {self._key}"
        req = urllib.request.Request(url, headers=headers)  # noqa: S310  # http(s) base URL
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310
                data = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise PromptUnavailable(f"{url}: HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:
            raise PromptUnavailable(f"{url}: {exc}") from None
        if not isinstance(data, dict) or "hash" not in data:
            raise PromptUnavailable(f"{url}: not a prompt")
        return data

    def _refresh_in_background(self, key: tuple[str, str | None, int | None]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            try:
                prompt = Prompt.from_json(self._fetch(*key), "gateway")
            except PromptUnavailable:
                return  # the stale copy stays; the next get past the TTL tries again
            finally:
                with self._lock:
                    self._refreshing.discard(key)
            with self._lock:
                self._cache[key] = (self._clock(), prompt)

        threading.Thread(target=refresh, name="daytwo-prompt-refresh", daemon=True).start()

    def _from_bundle(self, name: str, label: str | None, version: int | None) -> Prompt | None:
        for data in self._bundle:
            if data.get("name") != name:
                continue
            if version is not None and data.get("version") != version:
                continue
            if version is None and label is not None and data.get("label") != label:
                continue
            return Prompt.from_json(data, "fallback")
        return None


def _as(prompt: Prompt, source: str) -> Prompt:
    if prompt.source == source:
        return prompt
    return Prompt(**{**prompt.__dict__, "source": source})


def _read_bundle(
    fallback: str | Path | Iterable[Mapping[str, Any]] | None,
) -> tuple[Mapping[str, Any], ...]:
    if fallback is None:
        return ()
    if isinstance(fallback, str | Path):
        data = json.loads(Path(fallback).read_text())
        items = data.get("prompts", []) if isinstance(data, dict) else data
        return tuple(items)
    return tuple(fallback)


# -- one client per process ---------------------------------------------------------------------

#: Where :func:`get` finds the gateway, its key and a fallback bundle unless :func:`configure`
#: was called.
BASE_URL_ENV = "DAYTWO_BASE_URL"
API_KEY_ENV = "DAYTWO_API_KEY"
FALLBACK_ENV = "DAYTWO_PROMPTS_FALLBACK"
DEFAULT_BASE_URL = "http://localhost:4000"

_default: PromptClient | None = None
_default_lock = threading.Lock()


def configure(
    base_url: str | None = None,
    api_key: str | None = None,
    **options: Any,
) -> PromptClient:
    """Set the process's client (``options``: :class:`PromptClient`'s ``ttl_s``,
    ``fallback``, ``timeout_s``); unset arguments come from the environment."""
    global _default
    client = PromptClient(
        base_url or os.environ.get(BASE_URL_ENV, DEFAULT_BASE_URL),
        api_key if api_key is not None else os.environ.get(API_KEY_ENV),
        **{"fallback": os.environ.get(FALLBACK_ENV) or None, **options},
    )
    with _default_lock:
        _default = client
    return client


def get(name: str, *, label: str | None = None, version: int | None = None) -> Prompt:
    """:meth:`PromptClient.get` on the process's client (:func:`configure`d, or built from the
    environment on first use)."""
    with _default_lock:
        client = _default
    if client is None:
        client = configure()
    return client.get(name, label=label, version=version)
