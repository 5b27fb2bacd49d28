"""The price book: every known price, how a model name finds its price, and the unpriced policy.

A :class:`PriceBook` is built once per configuration (:meth:`PriceBook.from_config`) from

1. the bundled catalog (``daytwo/pricing/data/prices.json``),
2. the extra files in ``pricing.catalogs``, in order (daytwo's format or LiteLLM's; an entry with
   the same provider and model as an earlier one replaces it and keeps its aliases),
3. ``pricing.overrides``, which win over everything.

Matching a model name (case-insensitive), first hit wins:

* an override for exactly that model (and that provider name, when the override names one);
* an entry whose model is the name, then one that lists the name among its aliases;
* the name without a date or ``-latest`` suffix (``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``,
  ``claude-3-5-haiku-20241022``, ``claude-3-5-haiku@20241022``, ``...-latest``), also against
  catalog names stripped the same way (newest snapshot first);
* the name without its leading ``prefix/`` (``openai/gpt-4o``, ``models/gemini-2.5-flash``),
  through the same rules; when the prefix is a catalog provider, only its entries qualify.

When several providers list the same name, the entry whose provider equals the call's provider
name, then its provider type, is preferred; otherwise the first in catalog order.

Lookups run on every call: exact names are one dict probe; everything else is resolved once and
kept in a bounded LRU cache (misses included).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from daytwo.config.schema import Price, PricingConfig
from daytwo.core.types import Cost, Usage
from daytwo.pricing.catalog_file import Catalog, load_bundled, load_catalog_file
from daytwo.pricing.cost import compute_cost
from daytwo.pricing.entry import PriceEntry
from daytwo.pricing.names import PROVIDER_ALIASES
from daytwo.pricing.names import strip_dated as _strip_dated

UnpricedPolicy = Literal["flag", "estimate", "deny"]
Rule = Literal["override", "exact", "alias", "dated", "prefix", "default"]

DEFAULT_CACHE_SIZE = 4096
_MAX_PREFIXES = 3


@dataclass(frozen=True, slots=True)
class Match:
    """A resolved price and the rule that found it."""

    entry: PriceEntry
    rule: Rule


_Candidates = tuple[PriceEntry, ...]
_MISS = object()


class _LRU:
    """A small thread-safe LRU map (the gateway may look prices up from worker threads)."""

    __slots__ = ("_data", "_lock", "_max")

    def __init__(self, max_size: int) -> None:
        self._data: OrderedDict[tuple[str, str | None, str | None], Match | None] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_size

    def get(self, key: tuple[str, str | None, str | None]) -> Match | object | None:
        with self._lock:
            value = self._data.get(key, _MISS)
            if value is not _MISS:
                self._data.move_to_end(key)
        return value

    def put(self, key: tuple[str, str | None, str | None], value: Match | None) -> None:
        with self._lock:
            self._data[key] = value
            if len(self._data) > self._max:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class PriceBook:
    """Immutable after construction (its lookup cache aside). Build with :meth:`from_config`."""

    def __init__(
        self,
        entries: Iterable[PriceEntry],
        *,
        overrides: Iterable[PriceEntry] = (),
        unpriced: UnpricedPolicy = "flag",
        default: PriceEntry | None = None,
        versions: tuple[str, ...] = (),
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if unpriced == "estimate" and default is None:
            raise ValueError("unpriced policy `estimate` needs a default price")
        self._entries = tuple(entries)
        self._unpriced: UnpricedPolicy = unpriced
        self._default = default
        self._versions = versions
        self._overrides: dict[tuple[str, str | None], PriceEntry] = {}
        for o in overrides:
            self._overrides[(o.model, None if o.provider == "*" else o.provider)] = o
        self._exact = _index((e.model, e) for e in self._entries)
        self._alias = _index((a, e) for e in self._entries for a in e.aliases)
        self._undated = _undated_index(self._entries)
        self._providers = frozenset(e.provider for e in self._entries)
        self._cache = _LRU(cache_size)

    # ------------------------------------------------------------------ building

    @classmethod
    def from_config(cls, cfg: PricingConfig, *, base_dir: Path | None = None) -> PriceBook:
        """The bundled catalog + ``cfg.catalogs`` (relative to ``base_dir``) + overrides.

        Raises :class:`~daytwo.pricing.entry.CatalogError` (a ``ConfigError``) for a bad file.
        """
        catalogs = [load_bundled()]
        for name in cfg.catalogs:
            path = Path(name).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            catalogs.append(load_catalog_file(path))
        overrides = [
            _from_price(
                o,
                provider=o.provider or "*",
                model=o.model,
                ref=f"override:{o.provider}/{o.model}" if o.provider else f"override:{o.model}",
            )
            for o in cfg.overrides
        ]
        default = None
        if cfg.default_price is not None:
            default = _from_price(cfg.default_price, provider="*", model="*", ref="default")
        return cls(
            merge(catalogs),
            overrides=overrides,
            unpriced=cfg.unpriced,
            default=default,
            versions=tuple(f"{c.origin}: {c.version}" for c in catalogs),
        )

    # ------------------------------------------------------------------ reading

    @property
    def unpriced(self) -> UnpricedPolicy:
        return self._unpriced

    @property
    def default(self) -> PriceEntry | None:
        return self._default

    @property
    def versions(self) -> tuple[str, ...]:
        """``origin: version`` of each catalog the book was built from."""
        return self._versions

    def entries(self) -> tuple[PriceEntry, ...]:
        """Catalog entries (after merging), in catalog order."""
        return self._entries

    def overrides(self) -> tuple[PriceEntry, ...]:
        return tuple(self._overrides.values())

    def lookup(
        self, model: str, *, provider: str | None = None, provider_type: str | None = None
    ) -> PriceEntry | None:
        """The price of ``model`` for a call through ``provider`` (a configured provider name)
        of ``provider_type``, or None when unpriced. Runs on every call."""
        if not self._overrides:
            candidates = self._exact.get(model)
            if candidates is not None and len(candidates) == 1:
                return candidates[0]
        match = self.resolve(model, provider=provider, provider_type=provider_type)
        return None if match is None else match.entry

    def resolve(
        self, model: str, *, provider: str | None = None, provider_type: str | None = None
    ) -> Match | None:
        """Like :meth:`lookup`, with the rule that matched (cached)."""
        key = (model, provider, provider_type)
        cached = self._cache.get(key)
        if cached is not _MISS:
            return cast("Match | None", cached)
        match = self._resolve(model, provider, provider_type)
        self._cache.put(key, match)
        return match

    def cost(
        self,
        usage: Usage,
        model: str,
        *,
        provider: str | None = None,
        provider_type: str | None = None,
    ) -> Cost:
        """The cost of a call, following the unpriced policy.

        Priced: ``Cost(nanos, ref)``. Unpriced: ``Cost(None, None)`` under ``flag`` (and ``deny``,
        for a call that happened anyway), the default price with ref ``default`` under
        ``estimate``.
        """
        entry = self.lookup(model, provider=provider, provider_type=provider_type)
        if entry is None:
            if self._unpriced != "estimate" or self._default is None:
                return Cost(nanousd=None, price_ref=None)
            entry = self._default
        return Cost(nanousd=compute_cost(usage, entry), price_ref=entry.ref)

    def admits(
        self, model: str, *, provider: str | None = None, provider_type: str | None = None
    ) -> bool:
        """False only when the model is unpriced and the policy is ``deny``: the gateway then
        refuses the call before sending it (``UnpricedModel``)."""
        if self._unpriced != "deny":
            return True
        return self.lookup(model, provider=provider, provider_type=provider_type) is not None

    # ------------------------------------------------------------------ matching

    def _resolve(self, model: str, provider: str | None, provider_type: str | None) -> Match | None:
        if self._overrides:
            found = self._overrides.get((model, provider)) if provider else None
            found = found or self._overrides.get((model, None))
            if found is not None:
                return Match(found, "override")
        prefer = tuple(
            PROVIDER_ALIASES.get(p.lower(), p.lower()) for p in (provider, provider_type) if p
        )
        name = model.strip().lower()
        match = self._find(name, prefer, None)
        restrict: str | None = None
        for _ in range(_MAX_PREFIXES):
            if match is not None or "/" not in name:
                break
            head, _, name = name.partition("/")
            head = PROVIDER_ALIASES.get(head, head)
            if head in self._providers:
                restrict = head
            match = self._find(name, prefer, restrict)
            if match is not None:
                match = Match(match.entry, "prefix")
        return match

    def _find(self, name: str, prefer: tuple[str, ...], restrict: str | None) -> Match | None:
        for rule, index in (("exact", self._exact), ("alias", self._alias)):
            entry = _pick(index.get(name), prefer, restrict)
            if entry is not None:
                return Match(entry, "exact" if rule == "exact" else "alias")
        base = _strip_dated(name)
        if base is not None:
            for index in (self._exact, self._alias, self._undated):
                entry = _pick(index.get(base), prefer, restrict)
                if entry is not None:
                    return Match(entry, "dated")
        return None


def merge(catalogs: Iterable[Catalog]) -> list[PriceEntry]:
    """Later catalogs replace earlier entries with the same provider and model (their aliases
    are kept, so dated names keep resolving); new entries are appended."""
    merged: dict[tuple[str, str], PriceEntry] = {}
    for catalog in catalogs:
        for entry in catalog.entries:
            key = (entry.provider, entry.model.lower())
            old = merged.get(key)
            if old is not None:
                aliases = tuple(dict.fromkeys((*entry.aliases, *old.aliases)))
                entry = _with_aliases(entry, aliases)
            merged[key] = entry
    return list(merged.values())


def _with_aliases(entry: PriceEntry, aliases: tuple[str, ...]) -> PriceEntry:
    return PriceEntry(
        provider=entry.provider,
        model=entry.model,
        input=entry.input,
        output=entry.output,
        cached_input=entry.cached_input,
        cache_write=entry.cache_write,
        ref=entry.ref,
        mode=entry.mode,
        aliases=aliases,
        effective=entry.effective,
        note=entry.note,
    )


def _from_price(price: Price, *, provider: str, model: str, ref: str) -> PriceEntry:
    return PriceEntry(
        provider=provider,
        model=model,
        input=price.input_per_mtok,
        output=price.output_per_mtok,
        cached_input=price.cached_input_per_mtok,
        cache_write=price.cache_write_per_mtok,
        ref=ref,
    )


def _index(pairs: Iterable[tuple[str, PriceEntry]]) -> dict[str, _Candidates]:
    index: dict[str, _Candidates] = {}
    for name, entry in pairs:
        key = name.lower()
        current = index.get(key, ())
        if entry not in current:
            index[key] = (*current, entry)
    return index


def _undated_index(entries: Iterable[PriceEntry]) -> dict[str, _Candidates]:
    """Catalog names without their date suffix → entries, newest snapshot first."""
    dated: dict[str, list[tuple[str, PriceEntry]]] = {}
    for entry in entries:
        for name in (entry.model, *entry.aliases):
            lowered = name.lower()
            base = _strip_dated(lowered)
            if base is not None:
                suffix = lowered[len(base) :]
                dated.setdefault(base, []).append((_date_key(suffix), entry))
    index: dict[str, _Candidates] = {}
    for base, found in dated.items():
        found.sort(key=lambda pair: pair[0], reverse=True)  # stable: catalog order within a date
        index[base] = tuple(dict.fromkeys(entry for _, entry in found))
    return index


def _date_key(suffix: str) -> str:
    digits = "".join(ch for ch in suffix if ch.isdigit())
    return digits or "99999999"  # -latest sorts as the newest


def _pick(
    candidates: _Candidates | None, prefer: tuple[str, ...], restrict: str | None
) -> PriceEntry | None:
    if not candidates:
        return None
    if restrict is not None:
        for entry in candidates:
            if entry.provider == restrict:
                return entry
        return None
    if len(candidates) > 1:
        for wanted in prefer:
            for entry in candidates:
                if entry.provider == wanted:
                    return entry
    return candidates[0]
