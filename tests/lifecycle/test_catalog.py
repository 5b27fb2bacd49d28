"""The lifecycle catalog: matching rules, status by date, and the bundled data file."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from daytwo.config.schema import PricingConfig
from daytwo.lifecycle.catalog import (
    LifecycleCatalog,
    LifecycleCatalogError,
    load_bundled,
    parse_lifecycle,
)
from daytwo.lifecycle.check import ModelUse, check
from daytwo.pricing.catalog import PriceBook

SRC = "https://example.test/deprecations"


def _doc(*models: dict[str, Any]) -> dict[str, Any]:
    return {"version": "test", "models": list(models)}


def _entry(provider: str, model: str, **kw: Any) -> dict[str, Any]:
    return {"provider": provider, "model": model, "retires": "2026-01-05", "source": SRC, **kw}


@pytest.fixture
def catalog() -> LifecycleCatalog:
    return parse_lifecycle(
        _doc(
            _entry("anthropic", "claude-3-sonnet-20240229"),
            _entry("bedrock", "anthropic.claude-3-sonnet-20240229-v1:0", retires="2025-10-21"),
            _entry("openai", "gpt-5", aliases=["gpt-5-2025-08-07"]),
            _entry("openai", "gpt-4o-2024-05-13"),
            _entry("azure", "gpt-4.5-preview", retires="2025-07-14"),
            _entry("openai", "gpt-4.5-preview", retires="2025-07-14"),
            _entry("google", "gemini-2.0-flash", aliases=["gemini-2.0-flash-001"]),
        ),
        origin="test",
    )


def _key(catalog: LifecycleCatalog, model: str, provider_type: str | None = None) -> str | None:
    entry = catalog.match(model, provider_type=provider_type)
    return None if entry is None else entry.key


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-3-sonnet-20240229", "anthropic/claude-3-sonnet-20240229"),
        ("CLAUDE-3-Sonnet-20240229", "anthropic/claude-3-sonnet-20240229"),
        ("claude-3-sonnet@20240229", "anthropic/claude-3-sonnet-20240229"),  # Vertex style
        ("anthropic/claude-3-sonnet-20240229", "anthropic/claude-3-sonnet-20240229"),
        ("gpt-5-2025-08-07", "openai/gpt-5"),  # alias
        ("gpt-5-2025-12-01", "openai/gpt-5"),  # another snapshot of a retiring family name
        ("openai/gpt-5", "openai/gpt-5"),
        ("models/gemini-2.0-flash-001", "google/gemini-2.0-flash"),
        ("gemini/gemini-2.0-flash", "google/gemini-2.0-flash"),
        # Bedrock ids match Bedrock's own dates, also behind an inference profile prefix
        (
            "anthropic.claude-3-sonnet-20240229-v1:0",
            "bedrock/anthropic.claude-3-sonnet-20240229-v1:0",
        ),
        (
            "us.anthropic.claude-3-sonnet-20240229-v1:0",
            "bedrock/anthropic.claude-3-sonnet-20240229-v1:0",
        ),
        (
            "global.anthropic.claude-3-sonnet-20240229-v1:0",
            "bedrock/anthropic.claude-3-sonnet-20240229-v1:0",
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
            "eu.anthropic.claude-3-sonnet-20240229-v1:0",
            "bedrock/anthropic.claude-3-sonnet-20240229-v1:0",
        ),
        # an undated name is not a retiring snapshot of it; unrelated names match nothing
        ("gpt-4o", None),
        ("gpt-4o-2024-08-06", None),
        ("gpt-5-mini", None),
        ("gpt-4.1", None),
        ("anthropic.claude-3-haiku-20240307-v1:0", None),
    ],
)
def test_matching_rules(catalog: LifecycleCatalog, model: str, expected: str | None) -> None:
    assert _key(catalog, model) == expected


def test_provider_type_picks_that_providers_schedule(catalog: LifecycleCatalog) -> None:
    assert _key(catalog, "gpt-4.5-preview", "azure_openai") == "azure/gpt-4.5-preview"
    assert _key(catalog, "gpt-4.5-preview", "openai") == "openai/gpt-4.5-preview"
    assert _key(catalog, "claude-3-sonnet-20240229", "openai") is None
    # A Bedrock deployment of a vendor model id does not take the vendor's dates.
    assert _key(catalog, "claude-3-sonnet-20240229", "bedrock") is None
    assert _key(catalog, "us.anthropic.claude-3-sonnet-20240229-v1:0", "bedrock") == (
        "bedrock/anthropic.claude-3-sonnet-20240229-v1:0"
    )
    assert _key(catalog, "gpt-5", "sim") is None  # simulated models never retire


@pytest.mark.parametrize(
    ("today", "status", "days_left"),
    [
        (date(2025, 6, 1), None, None),  # announced later, retiring beyond 90 days
        (date(2025, 12, 1), "retiring", 35),
        (date(2026, 1, 4), "retiring", 1),
        (date(2026, 1, 5), "retired", 0),
        (date(2026, 3, 1), "retired", -55),
    ],
)
def test_status_by_date(
    catalog: LifecycleCatalog, today: date, status: str | None, days_left: int | None
) -> None:
    findings = check(
        [ModelUse("gpt-5", "alias smart → oa/gpt-5", "oa", "openai")], today, catalog=catalog
    )
    assert [(f.status, f.days_left) for f in findings] == (
        [] if status is None else [(status, days_left)]
    )
    if findings:
        assert findings[0].failing
        assert findings[0].used_in == ("alias smart → oa/gpt-5",)


def test_deprecated_beyond_the_window_is_listed_but_does_not_fail() -> None:
    cat = parse_lifecycle(
        _doc(_entry("openai", "gpt-5", deprecated="2026-06-11", retires="2026-12-11")),
        origin="test",
    )
    uses = [ModelUse("gpt-5", "alias a → oa/gpt-5", "oa", "openai")]
    (finding,) = check(uses, date(2026, 7, 1), 90, catalog=cat)
    assert (finding.status, finding.failing, finding.date) == (
        "deprecated",
        False,
        date(2026, 12, 11),
    )
    (finding,) = check(uses, date(2026, 7, 1), 200, catalog=cat)
    assert (finding.status, finding.failing) == ("retiring", True)


def test_uses_of_one_model_are_merged_into_one_finding(catalog: LifecycleCatalog) -> None:
    uses = [
        ModelUse("gpt-5", "alias a → oa/gpt-5", "oa", "openai"),
        ModelUse("gpt-5", "alias b → oa/gpt-5", "oa", "openai"),
        ModelUse("gpt-4.1", "alias c → oa/gpt-4.1", "oa", "openai"),
    ]
    (finding,) = check(uses, date(2026, 1, 1), catalog=catalog)
    assert finding.used_in == ("alias a → oa/gpt-5", "alias b → oa/gpt-5")
    assert "retires on 2026-01-05 (in 4 days)" in finding.message()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"provider": "openai", "model": "x", "retires": "2026-01-05"}, "source"),
        (_entry("openai", "x", retires="05/01/2026"), "retires must be a date"),
        (_entry("openai", "x", retires="2026-02-30"), "not a calendar date"),
        (_entry("openai", "x", deprecated="2026-02-01"), "deprecated is after retires"),
        (_entry("openai", "x", retires=None), "needs a `retires`"),
        (_entry("openai", "x", successr="y"), "unknown key `successr`"),
    ],
)
def test_invalid_entries_are_refused_naming_the_problem(
    entry: dict[str, Any], problem: str
) -> None:
    with pytest.raises(LifecycleCatalogError, match=re.escape(problem)):
        parse_lifecycle(_doc(entry), origin="f.json")


def test_a_name_used_twice_by_one_provider_is_refused() -> None:
    with pytest.raises(LifecycleCatalogError, match="already used by openai/gpt-5"):
        parse_lifecycle(
            _doc(_entry("openai", "gpt-5", aliases=["gpt-5-x"]), _entry("openai", "gpt-5-x")),
            origin="f.json",
        )


# ---------------------------------------------------------------------- the bundled file


def test_bundled_file_validates_and_every_entry_cites_a_provider_page() -> None:
    cat = load_bundled()
    assert cat.entries()
    official = (
        "https://developers.openai.com/",
        "https://platform.openai.com/",
        "https://docs.anthropic.com/",
        "https://platform.claude.com/",
        "https://ai.google.dev/",
        "https://firebase.google.com/",
        "https://learn.microsoft.com/",
        "https://docs.aws.amazon.com/",
    )
    for entry in cat.entries():
        assert entry.source.startswith(official), entry.key
        assert entry.retires is not None or entry.deprecated is not None


def test_bundled_successors_resolve_to_priced_models() -> None:
    cat = load_bundled()
    book = PriceBook.from_config(PricingConfig())
    names = {n.lower() for e in cat.entries() for n in (e.model, *e.aliases)}
    for entry in cat.entries():
        if entry.successor is None:
            continue
        priced = book.lookup(entry.successor, provider=entry.provider) is not None
        assert priced or entry.successor.lower() in names, (entry.key, entry.successor)
        # a successor that itself retired would be bad advice
        successor = cat.match(entry.successor, provider_type=None)
        assert successor is None or successor.retires is None or successor.retires > entry.retires  # type: ignore[operator]


def test_bundled_catalog_knows_published_retirements() -> None:
    cat = load_bundled()
    # Anthropic model deprecations page: Claude 3 Opus retires 2026-01-05.
    opus = cat.match("claude-3-opus-20240229", provider_type="anthropic")
    assert opus is not None and opus.retires == date(2026, 1, 5)
    # OpenAI deprecations page (2026-04-22): gpt-3.5-turbo shuts down 2026-10-23 → gpt-4.1-mini.
    turbo = cat.match("gpt-3.5-turbo-0125", provider_type="openai")
    assert turbo is not None and (turbo.retires, turbo.successor) == (
        date(2026, 10, 23),
        "gpt-4.1-mini",
    )


def test_startup_findings_warn_only_for_configured_models_retiring_soon() -> None:
    from daytwo.config.schema import Config
    from daytwo.lifecycle.check import startup_findings

    config = Config.model_validate(
        {
            "providers": {"oa": {"type": "openai"}, "sim": {"type": "sim"}},
            "models": {
                "smart": {"deployments": [{"provider": "oa", "model": "gpt-5"}]},
                "old": {"deployments": [{"provider": "sim", "model": "gpt-3.5-turbo"}]},
            },
        }
    )
    # Bundled catalog: gpt-5 retires 2026-12-11 (OpenAI deprecations page).
    assert startup_findings(config, date(2026, 6, 1)) == []  # 193 days out
    (finding,) = startup_findings(config, date(2026, 11, 22))
    assert finding.message().startswith("model gpt-5 (openai/gpt-5) retires on 2026-12-11")
    assert "alias smart → oa/gpt-5" in finding.message()
