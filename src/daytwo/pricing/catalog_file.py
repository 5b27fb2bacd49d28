"""Price catalog files: daytwo's own format, the bundled catalog, and format detection.

daytwo's format (the bundled ``data/prices.json`` is one)::

    {"version": "2026-11-22", "updated": "2026-11-22", "currency": "USD",
     "unit": "per_million_tokens", "source": "...", "sources": [...], "notes": [...],
     "models": [{"provider": "openai", "model": "gpt-4o-mini", "input": "0.15",
                 "output": "0.60", "cached_input": "0.075", "cache_write": null,
                 "effective": "2024-07-18", "aliases": ["gpt-4o-mini-2024-07-18"],
                 "mode": "chat"}]}

Prices are decimal strings (JSON numbers are accepted too and read exactly, never as floats).
Files are read with ``parse_float=Decimal``. A file that is not in daytwo's format but looks like
LiteLLM's ``model_prices_and_context_window.json`` is converted by
:mod:`daytwo.pricing.litellm_import`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from daytwo.pricing.entry import MODES, CatalogError, Mode, PriceEntry, check_price

CURRENCY = "USD"
UNIT = "per_million_tokens"
BUNDLED_ORIGIN = "bundled catalog"

_ENTRY_KEYS = frozenset(
    {
        "provider",
        "model",
        "input",
        "output",
        "cached_input",
        "cache_write",
        "effective",
        "aliases",
        "mode",
        "note",
        "source",
    }
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class Catalog:
    """A parsed, validated catalog. ``origin`` names where it was read from."""

    version: str
    updated: str | None
    entries: tuple[PriceEntry, ...]
    origin: str
    source: str | None = None


def read_json_exact(path: Path) -> tuple[Any, str]:
    """Parse a JSON file with every non-integer number as an exact Decimal.

    Returns the data and the first 12 hex digits of the file's SHA-256 (used to version
    catalogs that carry no version of their own).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CatalogError(f"{path}: file not found") from None
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None
    digest = hashlib.sha256(raw).hexdigest()[:12]
    try:
        data = json.loads(raw.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    return data, digest


def is_daytwo_format(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("models"), list)


def load_bundled() -> Catalog:
    """The catalog shipped inside the package (``daytwo/pricing/data/prices.json``)."""
    text = resources.files("daytwo.pricing").joinpath("data/prices.json").read_text("utf-8")
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{BUNDLED_ORIGIN}: invalid JSON: {exc}") from None
    return parse_catalog(data, origin=BUNDLED_ORIGIN)


def load_catalog_file(path: Path) -> Catalog:
    """An extra catalog file, in daytwo's format or LiteLLM's (detected from the content)."""
    data, digest = read_json_exact(path)
    if is_daytwo_format(data):
        return parse_catalog(data, origin=str(path))
    # imported here: litellm_import builds daytwo-format documents with this module's helpers
    from daytwo.pricing.litellm_import import import_litellm

    result = import_litellm(data, origin=str(path), version=f"litellm-{digest}")
    return parse_catalog(result.document, origin=str(path))


def parse_catalog(data: Any, *, origin: str) -> Catalog:
    """Validate a daytwo-format document. Raises :class:`CatalogError` naming the problem."""
    if not isinstance(data, dict):
        raise CatalogError(f"{origin}: the top level must be an object")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise CatalogError(f"{origin}: `version` must be a non-empty string")
    updated = data.get("updated")
    if updated is not None and not (isinstance(updated, str) and _DATE.match(updated)):
        raise CatalogError(f"{origin}: `updated` must be a date YYYY-MM-DD")
    if data.get("currency", CURRENCY) != CURRENCY:
        raise CatalogError(f"{origin}: `currency` must be {CURRENCY!r}")
    if data.get("unit", UNIT) != UNIT:
        raise CatalogError(f"{origin}: `unit` must be {UNIT!r}")
    source = data.get("source")
    if source is not None and not isinstance(source, str):
        raise CatalogError(f"{origin}: `source` must be a string")
    models = data.get("models")
    if not isinstance(models, list):
        raise CatalogError(f"{origin}: `models` must be a list")

    entries: list[PriceEntry] = []
    owners: dict[tuple[str, str], str] = {}  # (provider, lowercased model or alias) -> owner
    for i, raw in enumerate(models):
        entry = _parse_entry(raw, version=version, where=f"{origin}: models[{i}]")
        own = (entry.provider, entry.model.lower())
        if own in owners:
            raise CatalogError(
                f"{origin}: models[{i}]: duplicate entry {entry.key} "
                f"(the name is already used by {owners[own]})"
            )
        for name in (entry.model, *entry.aliases):
            owner = owners.setdefault((entry.provider, name.lower()), entry.key)
            if owner != entry.key:
                raise CatalogError(
                    f"{origin}: models[{i}] ({entry.key}): `{name}` is already used by {owner}"
                )
        entries.append(entry)
    return Catalog(
        version=version, updated=updated, entries=tuple(entries), origin=origin, source=source
    )


def _parse_entry(raw: Any, *, version: str, where: str) -> PriceEntry:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected an object")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise CatalogError(f"{where}: unknown key `{unknown[0]}`")
    provider = _name(raw.get("provider"), f"{where}: provider")
    model = _name(raw.get("model"), f"{where}: model")
    where = f"{where} ({provider}/{model})"
    mode = raw.get("mode", "chat")
    if mode not in MODES:
        raise CatalogError(f"{where}: mode must be one of {', '.join(MODES)} (got {mode!r})")
    aliases = raw.get("aliases", [])
    if aliases is None:
        aliases = []
    if not isinstance(aliases, list):
        raise CatalogError(f"{where}: aliases must be a list of names")
    alias_names = tuple(_name(a, f"{where}: aliases") for a in aliases)
    effective = raw.get("effective")
    if effective is not None and not (isinstance(effective, str) and _DATE.match(effective)):
        raise CatalogError(f"{where}: effective must be a date YYYY-MM-DD or null")
    note = raw.get("note")
    if note is not None and not isinstance(note, str):
        raise CatalogError(f"{where}: note must be a string")
    source = raw.get("source")
    if source is not None and not isinstance(source, str):
        raise CatalogError(f"{where}: source must be a string")
    mode_value: Mode = "embedding" if mode == "embedding" else "chat"
    return PriceEntry(
        provider=provider.lower(),
        model=model,
        input=_price(raw, "input", where, required=True),
        output=_price(raw, "output", where, required=True),
        cached_input=_price(raw, "cached_input", where),
        cache_write=_price(raw, "cache_write", where),
        ref=f"catalog:{version}:{provider.lower()}/{model}",
        mode=mode_value,
        aliases=alias_names,
        effective=effective,
        note=note,
    )


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise CatalogError(f"{where} must be a non-empty name without surrounding spaces")
    return value


def _price(raw: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> Any:
    value = raw.get(key)
    if value is None:
        if required:
            raise CatalogError(f"{where}: `{key}` is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise CatalogError(f"{where}: `{key}` must be a decimal string (got {value!r})")
    try:
        price = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except ArithmeticError:
        raise CatalogError(f"{where}: `{key}` is not a decimal number (got {value!r})") from None
    try:
        check_price(price, key)
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    return price


def format_decimal(value: Decimal) -> str:
    """Plain notation, no exponent, no trailing zeros: ``Decimal('1.5E-7')`` → ``'0.00000015'``."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def entry_to_json(entry: PriceEntry, *, source: str | None = None) -> dict[str, Any]:
    """One entry in daytwo's format (prices as decimal strings)."""
    out: dict[str, Any] = {
        "provider": entry.provider,
        "model": entry.model,
        "input": format_decimal(entry.input),
        "output": format_decimal(entry.output),
        "cached_input": None if entry.cached_input is None else format_decimal(entry.cached_input),
        "cache_write": None if entry.cache_write is None else format_decimal(entry.cache_write),
        "effective": entry.effective,
        "aliases": list(entry.aliases),
        "mode": entry.mode,
    }
    if entry.note is not None:
        out["note"] = entry.note
    if source is not None:
        out["source"] = source
    return out
