"""Sizes of non-text input for the token estimate: images by the providers' published formulas,
their dimensions read from the image's own header bytes; base64 payloads (audio, files) by size
(by :mod:`daytwo.core.tokens`), files by reference as the largest document providers take.

A request can carry megabytes of image, audio or PDF in a few content parts. What a provider bills
for them is not their length as text, so the estimate (and with it per-request caps and budget
reservations) must count them on their own terms -- conservatively: where a number cannot be read
from the data (a remote URL, an unknown format, a header cut short), the largest a provider bills.

Images (whatever door they came by; after decoding they are OpenAI ``image_url`` parts):

* OpenAI, ``detail: high`` (and ``auto``, which may pick high): scale to fit 2048x2048, then so
  that the shortest side is at most 768; 170 tokens per 512-pixel tile plus 85. At most 1,445.
  ``detail: low``: 85.
* Anthropic: ``width * height / 750``, after scaling the long edge to at most 1,568 pixels;
  at most about 1,600 (larger images are scaled down to that).

The count is the larger of the two (the route may reach either kind of upstream), so an image of
unknown size counts 1,600. OpenAI models that count images differently (gpt-4o-mini: 2,833 +
5,667 a tile, 33x gpt-4o's count at a 17x lower price; gpt-4.1-mini/nano, gpt-5-mini/nano,
o4-mini: 32-pixel patches, at most 1,536, times a multiplier) count by their own formula when
the route's deployments name them. Dimensions come from the PNG, GIF, WebP or JPEG header:
only the first bytes of the base64 payload are decoded, never the pixels.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Sequence

#: OpenAI's tile formula (gpt-4o family).
OPENAI_BASE = 85
OPENAI_PER_TILE = 170
#: Anthropic: pixels per token, the long-edge limit, and the most one image is billed.
ANTHROPIC_PIXELS_PER_TOKEN = 750
ANTHROPIC_MAX_EDGE = 1568
ANTHROPIC_MAX_TOKENS = 1600
#: An image whose size cannot be read counts as the largest any of the formulas gives.
UNKNOWN_IMAGE_TOKENS = max(OPENAI_BASE + 8 * OPENAI_PER_TILE, ANTHROPIC_MAX_TOKENS)
#: A file named by reference (a URL, an uploaded file's id) counts as the largest document the
#: providers take: Anthropic's limit of 100 PDF pages at the top of its 1,500-3,000 tokens a page.
UNKNOWN_DOCUMENT_TOKENS = 100 * 3000
#: OpenAI models whose images count other than gpt-4o's (OpenAI's image-input cost guide), by a
#: name their dated or fine-tuned names contain: (base, per tile) for the tile-counted, and the
#: multiplier of 32-pixel patches (at most ``_MAX_PATCHES``) for the patch-counted. Models that
#: count fewer than the formulas above (gpt-5, o1, o3) need no entry.
_TILE_MODELS = (("gpt-4o-mini", 2833, 5667),)
_PATCH_MODELS = (
    ("gpt-4.1-mini", 1.62), ("gpt-4.1-nano", 2.46), ("gpt-5-mini", 1.62), ("gpt-5-nano", 2.46),
    ("o4-mini", 1.72),
)  # fmt: skip
_MAX_PATCHES = 1536
#: base64 characters decoded to find a JPEG's frame header before giving up (EXIF data, embedded
#: thumbnails and ICC profiles come first and can be large); PNG, GIF and WebP need 32 bytes.
_JPEG_SCAN_CHARS = 1 << 20
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def image_tokens(
    width: int | None, height: int | None, detail: str | None, models: Sequence[str] = ()
) -> int:
    """Tokens one image is billed at most, over the providers' formulas and those of the
    ``models`` it may go to (see the module)."""
    if not width or not height or width < 1 or height < 1:
        n = UNKNOWN_IMAGE_TOKENS
        width = height = None
    else:
        n = max(_openai(width, height, detail), _anthropic(width, height))
    for model in models:
        n = max(n, _model_tokens(model, width, height, detail))
    return n


def _model_tokens(model: str, w: int | None, h: int | None, detail: str | None) -> int:
    for name, base, per_tile in _TILE_MODELS:
        if name in model:
            if w is None or h is None:
                return base + 8 * per_tile
            return _openai(w, h, detail, base, per_tile)
    for name, multiplier in _PATCH_MODELS:
        if name in model:
            patches = _MAX_PATCHES
            if w is not None and h is not None:
                patches = min(math.ceil(w / 32) * math.ceil(h / 32), _MAX_PATCHES)
            return math.ceil(patches * multiplier)
    return 0


def _openai(
    w: float, h: float, detail: str | None, base: int = OPENAI_BASE, per_tile: int = OPENAI_PER_TILE
) -> int:
    if detail == "low":
        return base
    if w > 2048 or h > 2048:
        s = 2048 / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > 768:
        s = 768 / min(w, h)
        w, h = w * s, h * s
    return base + per_tile * math.ceil(w / 512) * math.ceil(h / 512)


def _anthropic(w: float, h: float) -> int:
    if max(w, h) > ANTHROPIC_MAX_EDGE:
        s = ANTHROPIC_MAX_EDGE / max(w, h)
        w, h = w * s, h * s
    return min(math.ceil(w * h / ANTHROPIC_PIXELS_PER_TOKEN), ANTHROPIC_MAX_TOKENS)


def data_url_payload(url: str) -> str | None:
    """The base64 payload of a ``data:...;base64,`` URL (None for anything else)."""
    if not url.startswith("data:"):
        return None
    comma = url.find(",", 5, 512)
    if comma < 0 or not url[5:comma].endswith(";base64"):
        return None
    return url[comma + 1 :]


def base64_image_tokens(payload: str, detail: str | None, models: Sequence[str] = ()) -> int:
    size = image_size(payload)
    if size is None:
        return image_tokens(None, None, detail, models)
    return image_tokens(size[0], size[1], detail, models)


def image_size(payload: str) -> tuple[int, int] | None:
    """(width, height) from a base64 image's header; None when it cannot be read."""
    head = _decode(payload, 64)
    if head is None:
        return None
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(head)
    if head[:2] == b"\xff\xd8":
        for chars in (64 * 1024, _JPEG_SCAN_CHARS):
            data = _decode(payload, chars)
            found = _jpeg(data) if data is not None else None
            if found is not None or len(payload) <= chars:
                return found
    return None


def _decode(payload: str, chars: int) -> bytes | None:
    part = payload[: chars - chars % 4] if len(payload) > chars else payload
    try:
        return binascii.a2b_base64(part)
    except (binascii.Error, ValueError):  # bad padding, or non-ASCII in the payload
        return None


def _webp(head: bytes) -> tuple[int, int] | None:
    kind = head[12:16]
    if kind == b"VP8 " and len(head) >= 30:
        w = int.from_bytes(head[26:28], "little") & 0x3FFF
        h = int.from_bytes(head[28:30], "little") & 0x3FFF
        return w, h
    if kind == b"VP8L" and len(head) >= 25:
        b = head[21:25]
        w = 1 + (((b[1] & 0x3F) << 8) | b[0])
        h = 1 + (((b[3] & 0x0F) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return w, h
    if kind == b"VP8X" and len(head) >= 30:
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 9 <= n:
        if data[i] != 0xFF:
            return None  # not at a marker: a broken file
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_SOF:
            h = int.from_bytes(data[i + 5 : i + 7], "big")
            w = int.from_bytes(data[i + 7 : i + 9], "big")
            return w, h
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:  # markers without a length
            i += 2
            continue
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None
