"""The lifecycle catalog: announced deprecation and retirement dates, and how a name finds them.

The bundled file (``daytwo/lifecycle/data/lifecycle.json``)::

    {"version": "2026-11-22", "updated": "2026-11-22", "source": "...", "sources": [...],
     "notes": [...],
     "models": [{"provider": "openai", "model": "gpt-3.5-turbo",
                 "aliases": ["gpt-3.5-turbo-0125"], "announced": "2026-04-22",
                 "deprecated": "2026-04-22", "retires": "2026-10-23",
                 "successor": "gpt-4.1-mini", "source": "https://...", "note": null}]}

Every entry names the page its dates come from (``source``); dates are ISO ``YYYY-MM-DD``.

Matching a model name (case-insensitive), first hit wins. The rules are the price book's where
a lifecycle allows it (:mod:`daytwo.pricing.names`):

* an entry whose model or one of whose aliases is the name (Vertex's ``name@20241022`` is read
  as ``name-20241022``);
* the name without a date or ``-latest`` suffix, against entry names and aliases (an entry for
  ``gpt-5`` covers ``gpt-5-2025-08-07``). Never the other way round: ``gpt-4o`` does not match
  an entry for the snapshot ``gpt-4o-2024-05-13``, which retires on its own date;
* the name without its leading ``prefix/`` (``openai/gpt-5``, ``models/gemini-2.0-flash``, an
  ARN's ``.../inference-profile/``); a prefix that is a catalog provider restricts to it.

A Bedrock model id (``anthropic.claude-3-sonnet-20240229-v1:0``, also behind an inference
profile prefix such as ``us.`` or ``global.``) only ever matches ``bedrock`` entries: Bedrock
publishes its own dates, which differ from the model vendor's. A call's provider type narrows
the search to that provider's entries (``azure_openai`` → ``azure``: Azure retires on its own
schedule, unlike the price book where Azure bills as OpenAI).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from types import MappingProxyType
from typing import Any

from daytwo.core.errors import ConfigError
from daytwo.pricing.names import strip_dated

BUNDLED_ORIGIN = "bundled lifecycle catalog"

#: Config provider ``type`` → the catalog provider whose schedule applies (``sim`` has none).
PROVIDER_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "openai": "openai",
        "azure_openai": "azure",
        "anthropic": "anthropic",
        "gemini": "google",
        "bedrock": "bedrock",
    }
)
#: ``prefix/`` names that mean a catalog provider by another name.
_PREFIXES: Mapping[str, str] = MappingProxyType(
    {"gemini": "google", "vertex_ai": "google", "azure_openai": "azure", "amazon": "bedrock"}
)
_KEYS = frozenset(
    {
        "provider",
        "model",
        "aliases",
        "announced",
        "deprecated",
        "retires",
        "successor",
        "source",
        "note",
    }
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_VERTEX_DATE = re.compile(r"@(\d{8})$")
#: Bedrock cross-region inference profile prefixes (``us.anthropic.claude-...``).
_PROFILE = re.compile(r"^(?:us|us-gov|eu|apac|jp|au|ca|global)\.(?=[a-z][a-z0-9]*\.)")
#: ``vendor.model...``: a vendor without digits-and-dashes, so ``gpt-4.1`` is not one.
_BEDROCK_ID = re.compile(r"^[a-z][a-z0-9]*\.[a-z]")
_MAX_PREFIXES = 3


class LifecycleCatalogError(ConfigError):
    """The lifecycle catalog file is invalid; the message names the entry and the field."""

    def __init__(self, message: str) -> None:
        super().__init__([message])


@dataclass(frozen=True, slots=True)
class LifecycleEntry:
    """One model's announced lifecycle at one provider."""

    provider: str
    model: str
    aliases: tuple[str, ...]
    announced: date | None
    deprecated: date | None
    retires: date | None
    successor: str | None
    source: str
    note: str | None = None

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "aliases": list(self.aliases),
            "announced": _iso(self.announced),
            "deprecated": _iso(self.deprecated),
            "retires": _iso(self.retires),
            "successor": self.successor,
            "source": self.source,
            "note": self.note,
        }


class LifecycleCatalog:
    """Immutable; build with :func:`load_bundled` or :func:`parse_lifecycle`."""

    def __init__(self, entries: Iterable[LifecycleEntry], *, version: str, origin: str) -> None:
        self._entries = tuple(entries)
        self.version = version
        self.origin = origin
        names: dict[str, tuple[LifecycleEntry, ...]] = {}
        for entry in self._entries:
            for name in dict.fromkeys(n.lower() for n in (entry.model, *entry.aliases)):
                names[name] = (*names.get(name, ()), entry)
        self._names = names
        self._providers = frozenset(e.provider for e in self._entries)

    def entries(self) -> tuple[LifecycleEntry, ...]:
        return self._entries

    def match(self, model: str, *, provider_type: str | None = None) -> LifecycleEntry | None:
        """The entry for ``model`` served by a provider of ``provider_type`` (a config provider
        ``type``; None when unknown), or None when the catalog has nothing on it."""
        restrict = PROVIDER_TYPES.get(provider_type) if provider_type else None
        if provider_type is not None and restrict is None:
            return None  # a provider type with no published schedule (sim)
        name = model.strip().lower()
        for _ in range(_MAX_PREFIXES):
            found = self._find(name, restrict)
            if found is not None or "/" not in name:
                return found
            head, _, name = name.partition("/")
            head = _PREFIXES.get(head, head)
            if restrict is None and head in self._providers:
                restrict = head
        return self._find(name, restrict)

    def _find(self, name: str, restrict: str | None) -> LifecycleEntry | None:
        name = _VERTEX_DATE.sub(r"-\1", name)
        unprofiled = _PROFILE.sub("", name)
        if _BEDROCK_ID.match(unprofiled) and restrict in (None, "bedrock"):
            name, restrict = unprofiled, "bedrock"
        elif restrict is None:
            restrict = "!bedrock"  # only a Bedrock-shaped id may match a Bedrock entry
        found = _pick(self._names.get(name), restrict)
        if found is None:
            base = strip_dated(name)
            if base is not None:
                found = _pick(self._names.get(base), restrict)
        return found


def _pick(candidates: tuple[LifecycleEntry, ...] | None, restrict: str) -> LifecycleEntry | None:
    for entry in candidates or ():
        if restrict == "!bedrock" and entry.provider != "bedrock":
            return entry
        if entry.provider == restrict:
            return entry
    return None


# ---------------------------------------------------------------------- loading


def load_bundled() -> LifecycleCatalog:
    """The catalog shipped inside the package."""
    text = resources.files("daytwo.lifecycle").joinpath("data/lifecycle.json").read_text("utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LifecycleCatalogError(f"{BUNDLED_ORIGIN}: invalid JSON: {exc}") from None
    return parse_lifecycle(data, origin=BUNDLED_ORIGIN)


def parse_lifecycle(data: Any, *, origin: str) -> LifecycleCatalog:
    """Validate a lifecycle document. Raises :class:`LifecycleCatalogError` naming the problem."""
    if not isinstance(data, dict):
        raise LifecycleCatalogError(f"{origin}: the top level must be an object")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise LifecycleCatalogError(f"{origin}: `version` must be a non-empty string")
    _date(data.get("updated"), f"{origin}: updated")
    models = data.get("models")
    if not isinstance(models, list):
        raise LifecycleCatalogError(f"{origin}: `models` must be a list")
    entries: list[LifecycleEntry] = []
    owners: dict[tuple[str, str], str] = {}
    for i, raw in enumerate(models):
        entry = _entry(raw, f"{origin}: models[{i}]")
        for name in (entry.model, *entry.aliases):
            owner = owners.setdefault((entry.provider, name.lower()), entry.key)
            if owner != entry.key:
                raise LifecycleCatalogError(
                    f"{origin}: models[{i}] ({entry.key}): `{name}` is already used by {owner}"
                )
        entries.append(entry)
    return LifecycleCatalog(entries, version=version, origin=origin)


def _entry(raw: Any, where: str) -> LifecycleEntry:
    if not isinstance(raw, dict):
        raise LifecycleCatalogError(f"{where}: expected an object")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise LifecycleCatalogError(f"{where}: unknown key `{unknown[0]}`")
    provider = _name(raw.get("provider"), f"{where}: provider")
    if provider != provider.lower():
        raise LifecycleCatalogError(f"{where}: provider must be lower case")
    model = _name(raw.get("model"), f"{where}: model")
    where = f"{where} ({provider}/{model})"
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list):
        raise LifecycleCatalogError(f"{where}: aliases must be a list of names")
    source = raw.get("source")
    if not isinstance(source, str) or not source.startswith("https://"):
        raise LifecycleCatalogError(f"{where}: source must name the https:// page of the dates")
    announced = _date(raw.get("announced"), f"{where}: announced")
    deprecated = _date(raw.get("deprecated"), f"{where}: deprecated")
    retires = _date(raw.get("retires"), f"{where}: retires")
    if retires is None and deprecated is None:
        raise LifecycleCatalogError(f"{where}: needs a `retires` or a `deprecated` date")
    for label, earlier in (("announced", announced), ("deprecated", deprecated)):
        if earlier is not None and retires is not None and earlier > retires:
            raise LifecycleCatalogError(f"{where}: {label} is after retires")
    successor = raw.get("successor")
    if successor is not None:
        successor = _name(successor, f"{where}: successor")
    note = raw.get("note")
    if note is not None and not isinstance(note, str):
        raise LifecycleCatalogError(f"{where}: note must be a string")
    return LifecycleEntry(
        provider=provider,
        model=model,
        aliases=tuple(_name(a, f"{where}: aliases") for a in aliases),
        announced=announced,
        deprecated=deprecated,
        retires=retires,
        successor=successor,
        source=source,
        note=note,
    )


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise LifecycleCatalogError(f"{where} must be a non-empty name without surrounding spaces")
    return value


def _date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DATE.match(value):
        raise LifecycleCatalogError(f"{where} must be a date YYYY-MM-DD or null (got {value!r})")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise LifecycleCatalogError(f"{where} is not a calendar date (got {value!r})") from None


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()
