"""What an upstream says about its own limits: ``retry-after`` on an error, and the remaining
quota it reports on every answer, read into plain numbers.

Header formats (names are matched lower-case, as the adapters pass them):

* ``retry-after-ms`` (milliseconds; OpenAI and Azure send it, openai-python prefers it) and
  ``retry-after`` (seconds, or an HTTP date as RFC 9110 allows).
* OpenAI: ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``; the reset is a Go-style
  duration such as ``1s``, ``6m0s`` or ``12ms``
  (https://platform.openai.com/docs/guides/rate-limits, "Rate limits in headers").
* Anthropic: ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
  remaining,reset}``; the reset is an RFC 3339 timestamp
  (https://docs.anthropic.com/en/api/rate-limits, "Response headers").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}

#: (remaining, limit, reset) header names per kind, in the order they are tried.
_REQUESTS = (
    (
        "x-ratelimit-remaining-requests",
        "x-ratelimit-limit-requests",
        "x-ratelimit-reset-requests",
    ),
    (
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-reset",
    ),
)
_TOKENS = (
    ("x-ratelimit-remaining-tokens", "x-ratelimit-limit-tokens", "x-ratelimit-reset-tokens"),
    (
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-limit",
        "anthropic-ratelimit-tokens-reset",
    ),
    (
        "anthropic-ratelimit-input-tokens-remaining",
        "anthropic-ratelimit-input-tokens-limit",
        "anthropic-ratelimit-input-tokens-reset",
    ),
    (
        "anthropic-ratelimit-output-tokens-remaining",
        "anthropic-ratelimit-output-tokens-limit",
        "anthropic-ratelimit-output-tokens-reset",
    ),
)


def parse_duration(text: str) -> float | None:
    """``6m0s`` → 360.0, ``12ms`` → 0.012; None when ``text`` is not such a duration."""
    text = text.strip()
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos > 0 else None


def _reset_in(text: str, wall: float) -> float | None:
    """Seconds until a reset given as a duration or a timestamp (never negative)."""
    seconds = parse_duration(text)
    if seconds is None:
        try:
            seconds = datetime.fromisoformat(text.strip()).timestamp() - wall
        except ValueError:
            return None
    return max(0.0, seconds)


def retry_after_s(headers: Mapping[str, str], wall: float) -> float | None:
    """How long the upstream asked us to wait, in seconds (``wall``: now, epoch seconds)."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - wall)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Limit:
    """One reported limit: what is left of it, of how much, and when it refills."""

    remaining: int
    limit: int | None
    reset_in_s: float | None

    def low(self, ratio: float) -> bool:
        """Whether this limit is about to run out (at most ``ratio`` of it left, or none)."""
        if self.remaining <= 0:
            return True
        return self.limit is not None and self.remaining <= ratio * self.limit


@dataclass(frozen=True, slots=True)
class Quota:
    """The remaining upstream quota one answer reported (None: not reported)."""

    requests: Limit | None
    tokens: Limit | None

    def exhausting(self, ratio: float) -> float | None:
        """None when neither limit is low; else the seconds until the low ones refill (0 when
        no reset was reported)."""
        low = [lim for lim in (self.requests, self.tokens) if lim is not None and lim.low(ratio)]
        if not low:
            return None
        return max(lim.reset_in_s or 0.0 for lim in low)


def _read(
    headers: Mapping[str, str], names: tuple[tuple[str, str, str], ...], wall: float
) -> Limit | None:
    best: Limit | None = None
    for remaining_h, limit_h, reset_h in names:
        raw = headers.get(remaining_h)
        if raw is None:
            continue
        try:
            remaining = int(float(raw))
            limit = int(float(headers[limit_h])) if limit_h in headers else None
        except ValueError:
            continue
        reset = headers.get(reset_h)
        found = Limit(remaining, limit, _reset_in(reset, wall) if reset is not None else None)
        # Several token limits (Anthropic input and output): the tightest one decides.
        if best is None or _share(found) < _share(best):
            best = found
    return best


def _share(lim: Limit) -> float:
    return lim.remaining / lim.limit if lim.limit else float(lim.remaining)


def read_quota(headers: Mapping[str, str], wall: float) -> Quota | None:
    """The quota an answer's headers report, or None when they report none."""
    requests = _read(headers, _REQUESTS, wall)
    tokens = _read(headers, _TOKENS, wall)
    if requests is None and tokens is None:
        return None
    return Quota(requests, tokens)
