"""PriceBook: how a model name finds its price, overrides, extra catalogs and the policy."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from daytwo.config.schema import Price, PriceOverride, PricingConfig
from daytwo.core.errors import ConfigError
from daytwo.core.types import Cost, Usage
from daytwo.pricing.catalog import PriceBook
from daytwo.pricing.entry import PriceEntry

DATA = Path(__file__).parent / "data"


def e(provider: str, model: str, input: str = "1", output: str = "2", *aliases: str) -> PriceEntry:
    return PriceEntry(
        provider=provider,
        model=model,
        input=Decimal(input),
        output=Decimal(output),
        ref=f"catalog:t:{provider}/{model}",
        aliases=aliases,
    )


def override(**fields: str) -> PriceOverride:
    return PriceOverride.model_validate(fields)


@pytest.fixture(scope="module")
def bundled() -> PriceBook:
    return PriceBook.from_config(PricingConfig())


# ---------------------------------------------------------------- matching (bundled catalog)


@pytest.mark.parametrize(
    ("asked", "found", "rule"),
    [
        ("gpt-4o-mini", "openai/gpt-4o-mini", "exact"),
        ("GPT-4o-Mini", "openai/gpt-4o-mini", "exact"),
        ("gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini", "alias"),
        ("gpt-4o-mini-2031-01-01", "openai/gpt-4o-mini", "dated"),
        ("gpt-4o-2024-05-13", "openai/gpt-4o-2024-05-13", "exact"),
        ("claude-3-5-haiku-20241022", "anthropic/claude-3-5-haiku", "alias"),
        ("claude-3-5-haiku-latest", "anthropic/claude-3-5-haiku", "alias"),
        ("claude-haiku-4-5-20991231", "anthropic/claude-haiku-4-5", "dated"),
        ("claude-sonnet-4-5@20250929", "anthropic/claude-sonnet-4-5", "dated"),
        ("claude-sonnet-4-6-latest", "anthropic/claude-sonnet-4-6", "dated"),
        ("openai/gpt-4o", "openai/gpt-4o", "prefix"),
        ("anthropic/claude-opus-4-1-20250805", "anthropic/claude-opus-4-1", "prefix"),
        ("models/gemini-2.5-flash", "google/gemini-2.5-flash", "prefix"),
        ("gemini/gemini-2.5-pro", "google/gemini-2.5-pro", "prefix"),
        ("groq/llama-3.3-70b-versatile", "groq/llama-3.3-70b-versatile", "prefix"),
        (
            "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "prefix",
        ),
        ("mistral-large-latest", "mistral/mistral-large-2512", "alias"),
    ],
)
def test_lookup_rules(bundled: PriceBook, asked: str, found: str, rule: str) -> None:
    match = bundled.resolve(asked)
    assert match is not None
    assert (match.entry.key, match.rule) == (found, rule)
    assert bundled.lookup(asked) is match.entry


@pytest.mark.parametrize(
    "asked",
    ["gpt-9", "openai/claude-sonnet-4-5", "llama-3.3-70b", "", "-latest", "gemini-flash-latest"],
)
def test_unknown_models_are_unpriced(bundled: PriceBook, asked: str) -> None:
    assert bundled.lookup(asked) is None
    assert bundled.cost(Usage(input_tokens=10), asked) == Cost(nanousd=None, price_ref=None)


def test_a_provider_prefix_only_accepts_that_providers_entries(bundled: PriceBook) -> None:
    # groq serves no gpt-4o: the prefix says where the call goes, so it must not borrow OpenAI's
    assert bundled.lookup("groq/gpt-4o") is None


def test_provider_preference_between_hosts_of_the_same_model(bundled: PriceBook) -> None:
    name = "meta-llama/Llama-4-Scout-17B-16E-Instruct"
    together = bundled.lookup(name, provider="together")
    groq = bundled.lookup(name, provider="groq")
    assert together is not None
    assert groq is not None
    assert (together.provider, together.input) == ("together", Decimal("0.18"))
    assert (groq.provider, groq.input) == ("groq", Decimal("0.11"))
    # an alias of a catalog provider name also counts
    assert bundled.lookup("openai/gpt-oss-120b", provider="together_ai") is not None
    assert bundled.lookup("openai/gpt-oss-120b", provider="together_ai").provider == "together"  # type: ignore[union-attr]


def test_provider_type_is_the_second_preference() -> None:
    book = PriceBook([e("alpha", "shared", "1"), e("beta", "shared", "5")])
    assert book.lookup("shared").provider == "alpha"  # type: ignore[union-attr]
    assert book.lookup("shared", provider="prod", provider_type="beta").provider == "beta"  # type: ignore[union-attr]
    assert (
        book.lookup("shared", provider="alpha", provider_type="beta").provider == "alpha"  # type: ignore[union-attr]
    )


def test_exact_name_beats_alias_beats_dated() -> None:
    book = PriceBook(
        [
            e("p", "m-2024-01-01", "9"),
            e("p", "m", "1"),
            e("p", "other", "2", "2", "m-2024-02-02"),
        ]
    )
    assert book.lookup("m-2024-01-01").input == Decimal(9)  # type: ignore[union-attr]
    assert book.lookup("m-2024-02-02").input == Decimal(2)  # type: ignore[union-attr]
    assert book.lookup("m-2024-03-03").input == Decimal(1)  # type: ignore[union-attr]


def test_dated_rule_uses_the_newest_snapshot_when_no_undated_name_exists() -> None:
    book = PriceBook([e("p", "x-20240101", "5"), e("p", "x-20250101", "3")])
    assert book.lookup("x-latest").input == Decimal(3)  # type: ignore[union-attr]
    assert book.lookup("x-20990101").input == Decimal(3)  # type: ignore[union-attr]
    assert book.lookup("x-20240101").input == Decimal(5)  # type: ignore[union-attr]


def test_repeated_lookups_agree_and_the_cache_stays_bounded() -> None:
    book = PriceBook([e("p", "base", "1")], cache_size=8)
    for round_ in range(3):
        for i in range(50):
            assert book.lookup(f"base-2024-01-{i % 28 + 1:02d}") is not None, round_
            assert book.lookup(f"unknown-{i}") is None
    assert len(book._cache) <= 8  # memory guarantee on the hot path


# ---------------------------------------------------------------- overrides


def test_overrides_win_and_are_recorded_as_such() -> None:
    cfg = PricingConfig(
        overrides=(
            override(model="gpt-4o", input_per_mtok="1", output_per_mtok="2"),
            override(
                model="gpt-4o-mini",
                provider="azure-eu",
                input_per_mtok="0.165",
                output_per_mtok="0.66",
            ),
            override(model="my-llama", input_per_mtok="0", output_per_mtok="0"),
        )
    )
    book = PriceBook.from_config(cfg)
    assert book.cost(Usage(input_tokens=1000, output_tokens=1000), "gpt-4o") == Cost(
        nanousd=1000 * 1000 + 1000 * 2000, price_ref="override:gpt-4o"
    )
    # provider-scoped: only calls through that provider
    scoped = book.lookup("gpt-4o-mini", provider="azure-eu")
    assert scoped is not None
    assert scoped.ref == "override:azure-eu/gpt-4o-mini"
    unscoped = book.lookup("gpt-4o-mini", provider="openai")
    assert unscoped is not None
    assert unscoped.ref.startswith("catalog:")
    assert book.cost(Usage(input_tokens=10**6), "my-llama") == Cost(0, "override:my-llama")
    assert book.resolve("my-llama").rule == "override"  # type: ignore[union-attr]


# ---------------------------------------------------------------- policy


def test_flag_records_unknown_cost() -> None:
    book = PriceBook.from_config(PricingConfig(unpriced="flag"))
    assert book.admits("gpt-9")
    assert book.cost(Usage(input_tokens=5), "gpt-9") == Cost(None, None)


def test_estimate_uses_the_default_price() -> None:
    cfg = PricingConfig(
        unpriced="estimate",
        default_price=Price.model_validate({"input_per_mtok": "1", "output_per_mtok": "3"}),
    )
    book = PriceBook.from_config(cfg)
    assert book.admits("gpt-9")
    assert book.cost(Usage(input_tokens=100, output_tokens=10), "gpt-9") == Cost(
        nanousd=100 * 1000 + 10 * 3000, price_ref="default"
    )
    # priced models keep their own price
    priced = book.cost(Usage(input_tokens=1000), "gpt-4o-mini")
    assert priced.price_ref is not None
    assert priced.price_ref.startswith("catalog:")


def test_deny_refuses_only_unpriced_models() -> None:
    book = PriceBook.from_config(PricingConfig(unpriced="deny"))
    assert not book.admits("gpt-9")
    assert not book.admits("gpt-9", provider="openai", provider_type="openai")
    assert book.admits("gpt-4o-mini-2024-07-18")
    assert book.admits("openai/gpt-4o")


def test_estimate_without_a_default_price_is_refused() -> None:
    with pytest.raises(ValueError, match="default price"):
        PriceBook([], unpriced="estimate")


# ---------------------------------------------------------------- extra catalogs


def write_catalog(path: Path, models: list[dict[str, object]], version: str = "team-1") -> Path:
    doc = {
        "version": version,
        "updated": "2026-11-01",
        "currency": "USD",
        "unit": "per_million_tokens",
        "models": models,
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_extra_catalog_replaces_bundled_entries_and_keeps_their_aliases(tmp_path: Path) -> None:
    write_catalog(
        tmp_path / "team.json",
        [
            {"provider": "openai", "model": "gpt-4o-mini", "input": "0.20", "output": "0.80"},
            {"provider": "vllm", "model": "my-llama", "input": "0", "output": "0"},
        ],
    )
    book = PriceBook.from_config(PricingConfig(catalogs=("team.json",)), base_dir=tmp_path)
    dated = book.lookup("gpt-4o-mini-2024-07-18")
    assert dated is not None
    assert (dated.input, dated.ref) == (Decimal("0.20"), "catalog:team-1:openai/gpt-4o-mini")
    assert book.lookup("my-llama").ref == "catalog:team-1:vllm/my-llama"  # type: ignore[union-attr]
    assert book.lookup("gpt-4o") is not None  # the rest of the bundled catalog stays
    assert any("team.json: team-1" in v for v in book.versions)


def test_litellm_file_as_extra_catalog(tmp_path: Path) -> None:
    path = DATA / "litellm_sample.json"
    book = PriceBook.from_config(PricingConfig(catalogs=(str(path),)))
    nova = book.lookup("amazon.nova-2-pro-preview-20251202-v1:0")
    assert nova is not None
    assert nova.provider == "bedrock_converse"
    assert (nova.input, nova.cached_input) == (Decimal("2.1875"), Decimal("0.546875"))
    assert nova.ref.startswith("catalog:litellm-")


def test_bad_extra_catalog_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    bad = write_catalog(tmp_path / "bad.json", [{"provider": "p", "model": "m", "input": "1"}])
    with pytest.raises(ConfigError, match=r"bad\.json: models\[0\] \(p/m\): `output` is required"):
        PriceBook.from_config(PricingConfig(catalogs=(str(bad),)))
    with pytest.raises(ConfigError, match=r"missing\.json: file not found"):
        PriceBook.from_config(PricingConfig(catalogs=("missing.json",)), base_dir=tmp_path)
