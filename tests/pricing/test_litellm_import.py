"""LiteLLM's price list → daytwo catalog entries, exactly (fixture entries are verbatim copies)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from daytwo.pricing.catalog_file import load_catalog_file, parse_catalog
from daytwo.pricing.entry import CatalogError
from daytwo.pricing.litellm_import import import_litellm, import_litellm_file

SAMPLE = Path(__file__).parent / "data" / "litellm_sample.json"


@pytest.fixture(scope="module")
def models() -> dict[str, dict[str, Any]]:
    result = import_litellm_file(SAMPLE, updated="2026-11-22")
    return {f"{m['provider']}/{m['model']}": m for m in result.document["models"]}


def test_per_token_floats_become_exact_per_million_strings(
    models: dict[str, dict[str, Any]],
) -> None:
    mini = models["openai/gpt-4o-mini"]
    assert (mini["input"], mini["output"], mini["cached_input"]) == ("0.15", "0.6", "0.075")
    nova = models["bedrock_converse/amazon.nova-2-pro-preview-20251202-v1:0"]
    assert (nova["input"], nova["cached_input"], nova["output"]) == ("2.1875", "0.546875", "17.5")
    assert models["google/gemini-2.0-flash-lite"]["cached_input"] == "0.01875"
    assert models["openai/gpt-5-nano"]["cached_input"] == "0.005"
    assert models["cloudflare/@cf/meta/llama-2-7b-chat-fp16"]["input"] == "1.923"


def test_cache_prices_and_modes(models: dict[str, dict[str, Any]]) -> None:
    sonnet = models["anthropic/claude-sonnet-4-5-20250929"]
    # base tier only: the *_above_200k_tokens and *_above_1hr prices are left out
    assert (sonnet["input"], sonnet["output"]) == ("3", "15")
    assert (sonnet["cached_input"], sonnet["cache_write"]) == ("0.3", "3.75")
    assert models["deepseek/deepseek-chat"]["cache_write"] == "0"
    embed = models["mistral/mistral-embed"]
    assert (embed["mode"], embed["input"], embed["output"]) == ("embedding", "0.1", "0")
    assert models["openai/text-embedding-3-small"]["input"] == "0.02"


def test_provider_prefixes_and_names(models: dict[str, dict[str, Any]]) -> None:
    assert "groq/llama-3.1-8b-instant" in models
    assert "google/gemini-2.0-flash-lite" in models  # litellm "gemini" is daytwo "google"
    assert "together/meta-llama/Llama-3.3-70B-Instruct-Turbo" in models
    assert models["groq/llama-3.1-8b-instant"]["source"] == "litellm:groq/llama-3.1-8b-instant"


def test_what_is_left_out() -> None:
    result = import_litellm_file(SAMPLE)
    skipped = dict(result.skipped)
    assert "sample_spec" not in skipped
    assert skipped["1024-x-1024/dall-e-2"] == "mode image_generation"
    assert skipped["gpt-4o-transcribe"] == "mode audio_transcription"
    assert skipped["o1-pro"] == "mode responses"
    assert skipped["gradient_ai/alibaba-qwen3-32b"] == "no prices"
    assert result.imported == 11
    assert result.skipped_by_reason()["mode image_generation"] == 1


def test_the_output_is_a_valid_daytwo_catalog() -> None:
    result = import_litellm_file(SAMPLE, updated="2026-11-22")
    document = json.loads(json.dumps(result.document))  # what `pricing import` writes
    catalog = parse_catalog(document, origin="out.json")
    assert catalog.version.startswith("litellm-")
    llama = next(e for e in catalog.entries if e.model == "llama-3.1-8b-instant")
    assert (llama.input, llama.output) == (Decimal("0.05"), Decimal("0.08"))
    # and loading the LiteLLM file directly as a catalog gives the same entries
    assert load_catalog_file(SAMPLE).entries == catalog.entries


def test_provider_filter() -> None:
    result = import_litellm_file(SAMPLE, providers=["openai", "groq"])
    assert {m["provider"] for m in result.document["models"]} == {"openai", "groq"}


def test_same_model_twice_keeps_the_first() -> None:
    spec = {
        "input_cost_per_token": Decimal("1e-06"),
        "output_cost_per_token": Decimal("2e-06"),
        "litellm_provider": "groq",
        "mode": "chat",
    }
    result = import_litellm({"groq/m": spec, "m": spec}, origin="x.json", version="v")
    assert [m["model"] for m in result.document["models"]] == ["m"]
    assert result.skipped == (("m", "same model as `groq/m`"),)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1], r"x\.json: not a LiteLLM price file"),
        ({"gpt-x": "cheap"}, r"x\.json: entry `gpt-x`: expected an object"),
        (
            {"gpt-x": {"litellm_provider": "openai", "input_cost_per_token": "0.1"}},
            r"x\.json: entry `gpt-x`: `input_cost_per_token` must be a number",
        ),
        (
            {
                "gpt-x": {
                    "litellm_provider": "openai",
                    "input_cost_per_token": Decimal("-1e-6"),
                    "output_cost_per_token": 0,
                }
            },
            r"entry `gpt-x`: `input_cost_per_token` must be a non-negative number",
        ),
    ],
)
def test_bad_data_names_file_and_entry(data: Any, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        import_litellm(data, origin="x.json", version="v")


def test_a_daytwo_catalog_is_not_imported(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text('{"version": "v", "models": []}', encoding="utf-8")
    with pytest.raises(CatalogError, match="already a daytwo catalog"):
        import_litellm_file(path)
