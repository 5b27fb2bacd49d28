"""Image sizes read from header bytes, and the providers' image token formulas."""

from __future__ import annotations

import base64
import math

import pytest
from tests.media_samples import gif, jpeg, png, webp_vp8x

from daytwo.core.media import (
    UNKNOWN_IMAGE_TOKENS,
    base64_image_tokens,
    data_url_payload,
    image_size,
    image_tokens,
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    "data",
    [
        png(300, 200),
        gif(300, 200),
        webp_vp8x(300, 200),
        jpeg(300, 200),
        jpeg(300, 200, exif=60_000),
    ],
    ids=["png", "gif", "webp", "jpeg", "jpeg-after-60KB-of-exif"],
)
def test_image_dimensions_are_read_from_the_header_of_every_common_format(data: bytes) -> None:
    assert image_size(b64(data)) == (300, 200)


def test_openai_and_anthropic_formulas_and_the_larger_one_counts() -> None:
    # OpenAI high detail: 2048x4096 -> 1024x2048 -> 768x1536: 2x3 tiles = 170*6 + 85
    # Anthropic: long edge 1568 -> 784x1568 / 750 = 1640 -> capped at 1600
    assert image_tokens(2048, 4096, "high") == max(170 * 6 + 85, 1600)
    # a small image: OpenAI's base tile wins over Anthropic's pixel count
    assert image_tokens(64, 64, "high") == 85 + 170
    assert image_tokens(64, 64, "low") == 85
    # low detail on OpenAI, but the same image on Anthropic costs its pixels
    assert image_tokens(1000, 750, "low") == 1000
    # a header claiming absurd dimensions is bounded by the formulas' own scaling
    assert image_tokens(100_000, 100_000, None) == UNKNOWN_IMAGE_TOKENS


def test_unreadable_images_count_the_most_any_formula_gives() -> None:
    assert base64_image_tokens("not base64 at all!", "high") == UNKNOWN_IMAGE_TOKENS
    assert base64_image_tokens(b64(b"GARBAGE" * 20), "low") == UNKNOWN_IMAGE_TOKENS
    assert base64_image_tokens(b64(jpeg(10, 10))[:12], None) == UNKNOWN_IMAGE_TOKENS
    assert base64_image_tokens("é" * 40, None) == UNKNOWN_IMAGE_TOKENS
    assert data_url_payload("https://example.com/cat.png") is None
    assert data_url_payload("data:image/png,rawbytes") is None
    assert data_url_payload("data:image/png;base64,QUJD") == "QUJD"


def test_openai_models_with_their_own_image_formula_count_by_it() -> None:
    # gpt-4o-mini: 2,833 + 5,667 a tile, whatever its dated or fine-tuned name
    for name in ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "ft:gpt-4o-mini:acme::abc"):
        assert image_tokens(1024, 1024, "high", (name,)) == 2833 + 4 * 5667
    assert image_tokens(1024, 1024, "low", ("gpt-4o-mini",)) == 2833
    assert image_tokens(None, None, None, ("gpt-4o-mini",)) == 2833 + 8 * 5667
    # patch-counted: 32-pixel patches (at most 1,536) times the model's multiplier
    assert image_tokens(1024, 1024, None, ("gpt-4.1-nano",)) == math.ceil(32 * 32 * 2.46)
    assert image_tokens(4096, 4096, None, ("o4-mini",)) == math.ceil(1536 * 1.72)
    assert image_tokens(None, None, None, ("gpt-4.1-mini",)) == math.ceil(1536 * 1.62)
    # the largest over the route's models, never below the generic formulas
    assert image_tokens(64, 64, None, ("gpt-4o", "gpt-4o-mini")) == 2833 + 5667
    assert image_tokens(64, 64, None, ("gpt-4o", "claude-sonnet-4")) == 85 + 170
