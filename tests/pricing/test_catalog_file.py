"""The bundled catalog is valid, versioned and covers what the docs promise; bad files are named."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from daytwo.pricing.catalog_file import load_bundled, load_catalog_file, parse_catalog
from daytwo.pricing.entry import CatalogError

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    text = resources.files("daytwo.pricing").joinpath("data/prices.json").read_text("utf-8")
    data = json.loads(text)  # plain floats would show up here: prices must be strings
    assert isinstance(data, dict)
    return data


def test_header_is_versioned_and_sourced(raw: dict[str, Any]) -> None:
    assert DATE.match(raw["version"])
    assert DATE.match(raw["updated"])
    assert raw["currency"] == "USD"
    assert raw["unit"] == "per_million_tokens"
    assert "litellm" in raw["source"].lower()
    assert all(s["url"].startswith("https://") for s in raw["sources"])


def test_every_entry_has_decimal_string_prices_and_a_source(raw: dict[str, Any]) -> None:
    for m in raw["models"]:
        where = f"{m['provider']}/{m['model']}"
        for key in ("input", "output"):
            assert isinstance(m[key], str), where
            assert Decimal(m[key]) >= 0, where
        for key in ("cached_input", "cache_write"):
            assert m[key] is None or (isinstance(m[key], str) and Decimal(m[key]) >= 0), where
        assert m["mode"] in ("chat", "embedding"), where
        assert m["source"], where
        if m["effective"] is not None:
            assert DATE.match(m["effective"]), where
            assert m["effective"] <= raw["updated"], where
        if m["mode"] == "embedding":
            assert Decimal(m["output"]) == 0, where


def test_no_duplicate_models_or_colliding_aliases(raw: dict[str, Any]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for m in raw["models"]:
        for name in (m["model"], *m["aliases"]):
            key = (m["provider"], name.lower())
            assert seen.setdefault(key, m["model"]) == m["model"], f"{key} used twice"
    assert load_bundled().version == raw["version"]


def test_cached_reads_are_cheaper_and_writes_not_cheaper_than_input() -> None:
    for entry in load_bundled().entries:
        if entry.cached_input is not None:
            assert entry.cached_input < entry.input, entry.key
        if entry.cache_write is not None:
            assert entry.cache_write >= entry.input, entry.key


REQUIRED = [
    "openai/gpt-4o",
    "openai/gpt-4o-mini",
    "openai/gpt-4.1",
    "openai/gpt-4.1-mini",
    "openai/gpt-4.1-nano",
    "openai/o1",
    "openai/o3",
    "openai/o3-mini",
    "openai/o4-mini",
    "openai/gpt-5",
    "openai/gpt-5-mini",
    "openai/gpt-5-nano",
    "openai/text-embedding-3-small",
    "openai/text-embedding-3-large",
    "openai/text-embedding-ada-002",
    "anthropic/claude-3-5-haiku",
    "anthropic/claude-3-7-sonnet",
    "anthropic/claude-sonnet-4",
    "anthropic/claude-sonnet-4-5",
    "anthropic/claude-opus-4",
    "anthropic/claude-opus-4-1",
    "anthropic/claude-haiku-4-5",
    "google/gemini-1.5-flash",
    "google/gemini-1.5-pro",
    "google/gemini-2.0-flash",
    "google/gemini-2.0-flash-lite",
    "google/gemini-2.5-flash",
    "google/gemini-2.5-flash-lite",
    "google/gemini-2.5-pro",
    "google/text-embedding-004",
    "google/gemini-embedding-001",
    "mistral/mistral-large-2512",
    "mistral/mistral-medium-2508",
    "mistral/mistral-small-2506",
    "mistral/codestral-2508",
    "mistral/mistral-embed",
    "groq/llama-3.1-8b-instant",
    "groq/llama-3.3-70b-versatile",
    "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "deepseek/deepseek-chat",
    "deepseek/deepseek-reasoner",
]


def test_coverage() -> None:
    keys = {e.key for e in load_bundled().entries}
    assert not [k for k in REQUIRED if k not in keys]


@pytest.mark.parametrize(
    ("key", "prices"),
    [
        # (input, output, cached_input, cache_write), as read from LiteLLM's price list
        ("openai/gpt-4o-mini", ("0.15", "0.60", "0.075", None)),
        ("openai/gpt-4o", ("2.50", "10.00", "1.25", None)),
        ("openai/o3", ("2.00", "8.00", "0.50", None)),
        ("openai/gpt-5", ("1.25", "10.00", "0.125", None)),
        ("anthropic/claude-sonnet-4-5", ("3.00", "15.00", "0.30", "3.75")),
        ("anthropic/claude-opus-4-1", ("15.00", "75.00", "1.50", "18.75")),
        ("anthropic/claude-haiku-4-5", ("1.00", "5.00", "0.10", "1.25")),
        ("anthropic/claude-3-5-haiku", ("0.80", "4.00", "0.08", "1.00")),
        ("google/gemini-2.5-flash", ("0.30", "2.50", "0.03", None)),
        ("groq/llama-3.1-8b-instant", ("0.05", "0.08", None, None)),
        ("deepseek/deepseek-chat", ("0.28", "0.42", "0.028", None)),
    ],
)
def test_spot_prices(key: str, prices: tuple[str, str, str | None, str | None]) -> None:
    entry = next(e for e in load_bundled().entries if e.key == key)
    expected = tuple(None if p is None else Decimal(p) for p in prices)
    assert (entry.input, entry.output, entry.cached_input, entry.cache_write) == expected
    assert entry.ref == f"catalog:{load_bundled().version}:{key}"


# ---------------------------------------------------------------- validation errors


def doc(*models: Any, **header: Any) -> dict[str, Any]:
    return {"version": "v1", "models": list(models), **header}


GOOD = {"provider": "p", "model": "m", "input": "1", "output": "2"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "top level must be an object"),
        ({"models": []}, "`version` must be a non-empty string"),
        (doc(unit="per_token"), "`unit` must be 'per_million_tokens'"),
        (doc(currency="EUR"), "`currency` must be 'USD'"),
        (doc(updated="yesterday"), "`updated` must be a date"),
        (doc("x"), r"models\[0\]: expected an object"),
        (doc({**GOOD, "outptu": "2"}), "unknown key `outptu`"),
        (doc({**GOOD, "input": 0.5}), r"models\[0\] \(p/m\): `input` must be a decimal string"),
        (doc({**GOOD, "input": "cheap"}), "`input` is not a decimal number"),
        (doc({**GOOD, "input": "-1"}), "input must be a finite, non-negative number"),
        (doc({**GOOD, "input": "NaN"}), "input must be a finite, non-negative number"),
        (doc({**GOOD, "mode": "image"}), "mode must be one of chat, embedding"),
        (doc({**GOOD, "effective": "2024"}), "effective must be a date"),
        (doc(GOOD, GOOD), r"models\[1\]: duplicate entry p/m"),
        (
            doc(GOOD, {**GOOD, "model": "n", "aliases": ["M"]}),
            r"models\[1\] \(p/n\): `M` is already used by p/m",
        ),
        (doc({**GOOD, "model": " m"}), "model must be a non-empty name"),
    ],
)
def test_invalid_catalogs_name_the_problem(data: Any, message: str) -> None:
    with pytest.raises(CatalogError, match=message) as info:
        parse_catalog(data, origin="team.json")
    assert str(info.value).startswith("team.json")


def test_same_model_at_two_providers_is_fine() -> None:
    catalog = parse_catalog(doc(GOOD, {**GOOD, "provider": "q"}), origin="x")
    assert [e.key for e in catalog.entries] == ["p/m", "q/m"]


def test_json_numbers_are_read_exactly_from_files(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        '{"version": "v", "models": [{"provider": "p", "model": "m", "input": 0.1, "output": 3}]}',
        encoding="utf-8",
    )
    entry = load_catalog_file(path).entries[0]
    assert (entry.input, entry.output) == (Decimal("0.1"), Decimal(3))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", r"c\.json:1:2: invalid JSON"),
        ("[1, 2]", r"c\.json: not a LiteLLM price file"),
        (b"\xff\xfe", r"c\.json: not UTF-8 text"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "c.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        load_catalog_file(path)
