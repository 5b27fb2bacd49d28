"""Import LiteLLM's ``model_prices_and_context_window.json`` into daytwo's catalog format.

LiteLLM keeps one object per model name with per-token USD prices as JSON floats::

    "groq/llama-3.1-8b-instant": {"input_cost_per_token": 5e-08,
                                  "output_cost_per_token": 8e-08,
                                  "litellm_provider": "groq", "mode": "chat", ...}

What is kept: ``mode`` chat (or no mode) and embedding, with an input price (and, for chat, an
output price). ``cache_read_input_token_cost`` becomes ``cached_input`` and
``cache_creation_input_token_cost`` becomes ``cache_write``. Everything else (images, audio,
rerank, batch and priority tiers, prices above a context threshold) is left out: daytwo prices
the base tier.

Prices are never floats here: the file is parsed with ``parse_float=Decimal`` and per-token
prices become per-million strings by moving the decimal point (``1.5e-07`` → ``"0.15"``).

The model name loses its provider prefix when the prefix is the entry's ``litellm_provider``
(``groq/llama-3.1-8b-instant`` → provider ``groq``, model ``llama-3.1-8b-instant``), and a few
LiteLLM provider names map to daytwo's (``gemini`` → ``google``, ``together_ai`` → ``together``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from daytwo.pricing.catalog_file import (
    CURRENCY,
    UNIT,
    format_decimal,
    is_daytwo_format,
    read_json_exact,
)
from daytwo.pricing.entry import CatalogError

#: LiteLLM provider name → daytwo catalog provider name (others are kept as they are).
PROVIDER_NAMES: Mapping[str, str] = MappingProxyType(
    {"gemini": "google", "together_ai": "together"}
)
_KEPT_MODES = frozenset({"chat", "embedding"})


@dataclass(frozen=True, slots=True)
class ImportResult:
    """A daytwo-format catalog ``document`` and what was left out, as (key, reason) pairs."""

    document: dict[str, Any]
    skipped: tuple[tuple[str, str], ...]

    @property
    def imported(self) -> int:
        models = self.document["models"]
        assert isinstance(models, list)
        return len(models)

    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(reason for _, reason in self.skipped).most_common())


def import_litellm_file(
    path: Path, *, updated: str | None = None, providers: Collection[str] | None = None
) -> ImportResult:
    """Read and convert a LiteLLM price file; the version is ``litellm-<sha256 prefix>``."""
    data, digest = read_json_exact(path)
    if is_daytwo_format(data):
        raise CatalogError(f"{path}: this is already a daytwo catalog, not a LiteLLM price file")
    return import_litellm(
        data, origin=str(path), version=f"litellm-{digest}", updated=updated, providers=providers
    )


def import_litellm(
    data: Any,
    *,
    origin: str,
    version: str,
    updated: str | None = None,
    providers: Collection[str] | None = None,
) -> ImportResult:
    """Convert parsed LiteLLM data (floats already Decimal) into a daytwo-format document.

    ``providers`` keeps only entries of those (daytwo) provider names. Raises
    :class:`CatalogError` naming ``origin`` and the entry for data that is not a price list.
    """
    if not isinstance(data, dict):
        raise CatalogError(f"{origin}: not a LiteLLM price file (the top level must be an object)")
    wanted = None if providers is None else {p.lower() for p in providers}
    models: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], str] = {}
    for key, spec in data.items():
        if key == "sample_spec":
            continue
        if not isinstance(spec, dict):
            raise CatalogError(f"{origin}: entry `{key}`: expected an object")
        converted = _convert(key, spec, origin)
        if isinstance(converted, str):
            skipped.append((key, converted))
            continue
        provider, model = converted["provider"], converted["model"]
        if wanted is not None and provider not in wanted:
            skipped.append((key, "provider not selected"))
            continue
        first = seen.setdefault((provider, model.lower()), key)
        if first != key:
            skipped.append((key, f"same model as `{first}`"))
            continue
        models.append(converted)
    document: dict[str, Any] = {
        "version": version,
        "updated": updated,
        "currency": CURRENCY,
        "unit": UNIT,
        "source": f"LiteLLM model_prices_and_context_window.json ({Path(origin).name})",
        "notes": [
            "Imported from LiteLLM: base-tier token prices only (no batch, priority, flex, "
            "audio, image or above-threshold tiers)."
        ],
        "models": models,
    }
    return ImportResult(document=document, skipped=tuple(skipped))


def _convert(key: str, spec: Mapping[str, Any], origin: str) -> dict[str, Any] | str:
    """A daytwo entry, or the reason the LiteLLM entry is left out."""
    where = f"{origin}: entry `{key}`"
    mode = spec.get("mode", "chat")
    if mode not in _KEPT_MODES:
        return f"mode {mode}"
    litellm_provider = spec.get("litellm_provider")
    if not isinstance(litellm_provider, str) or not litellm_provider:
        return "no litellm_provider"
    input_price = _per_million(spec, "input_cost_per_token", where)
    output_price = _per_million(spec, "output_cost_per_token", where)
    if input_price is None or (output_price is None and mode == "chat"):
        return "no prices"
    model = _strip_provider(key, litellm_provider)
    if not model:
        return "no model name"
    return {
        "provider": PROVIDER_NAMES.get(litellm_provider, litellm_provider).lower(),
        "model": model,
        "input": input_price,
        "output": output_price if output_price is not None else "0",
        "cached_input": _per_million(spec, "cache_read_input_token_cost", where),
        "cache_write": _per_million(spec, "cache_creation_input_token_cost", where),
        "effective": None,
        "aliases": [],
        "mode": mode,
        "source": f"litellm:{key}",
    }


def _strip_provider(key: str, litellm_provider: str) -> str:
    prefix, sep, rest = key.partition("/")
    if sep and (litellm_provider == prefix or litellm_provider.startswith(prefix + "-")):
        return rest
    return key


def _per_million(spec: Mapping[str, Any], field: str, where: str) -> str | None:
    """A per-token price as an exact per-million decimal string, or None when absent."""
    value = spec.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise CatalogError(f"{where}: `{field}` must be a number (got {value!r})")
    price = Decimal(value)
    if not price.is_finite() or price < 0:
        raise CatalogError(f"{where}: `{field}` must be a non-negative number (got {value})")
    return format_decimal(price.scaleb(6))
