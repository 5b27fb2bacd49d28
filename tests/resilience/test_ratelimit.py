"""Reading retry-after and the upstreams' rate-limit headers."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from daytwo.resilience.ratelimit import parse_duration, read_quota, retry_after_s

WALL = 1_780_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("12ms", 0.012), ("1h2m3.5s", 3723.5), ("0.5s", 0.5)],
)
def test_openai_reset_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "1x", "1s junk", "-1s"])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_retry_after_forms() -> None:
    assert retry_after_s({"retry-after": "7"}, WALL) == 7.0
    assert retry_after_s({"retry-after-ms": "1500", "retry-after": "7"}, WALL) == 1.5
    date = formatdate(WALL + 30, usegmt=True)
    assert retry_after_s({"retry-after": date}, WALL) == pytest.approx(30.0)
    assert retry_after_s({"retry-after": formatdate(WALL - 30, usegmt=True)}, WALL) == 0.0
    assert retry_after_s({"retry-after": "soon"}, WALL) is None
    assert retry_after_s({}, WALL) is None


def test_openai_headers() -> None:
    # As OpenAI sends them on a chat completion (reported in
    # https://community.openai.com/t/how-to-get-rate-limit-reset-time-for-response-api/1268905
    # and https://platform.openai.com/docs/guides/rate-limits).
    headers = {
        "x-ratelimit-limit-requests": "5000",
        "x-ratelimit-limit-tokens": "160000",
        "x-ratelimit-remaining-requests": "4999",
        "x-ratelimit-remaining-tokens": "159976",
        "x-ratelimit-reset-requests": "12ms",
        "x-ratelimit-reset-tokens": "9ms",
    }
    quota = read_quota(headers, WALL)
    assert quota is not None and quota.requests is not None and quota.tokens is not None
    assert (quota.requests.remaining, quota.requests.limit) == (4999, 5000)
    assert quota.tokens.reset_in_s == pytest.approx(0.009)
    assert quota.exhausting(0.05) is None
    low = {**headers, "x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "6m0s"}
    assert read_quota(low, WALL).exhausting(0.05) == pytest.approx(360.0)  # type: ignore[union-attr]


def test_anthropic_headers_take_the_tightest_token_limit() -> None:
    # Header names and formats from https://docs.anthropic.com/en/api/rate-limits
    # ("Response headers": limit / remaining / reset as RFC 3339).
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2026-05-28T20:26:45Z",
        "anthropic-ratelimit-input-tokens-limit": "40000",
        "anthropic-ratelimit-input-tokens-remaining": "39000",
        "anthropic-ratelimit-input-tokens-reset": "2026-05-28T20:26:45Z",
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "100",
        "anthropic-ratelimit-output-tokens-reset": "2026-05-28T20:27:40Z",
    }
    # 2026-05-28T20:26:40Z
    wall = 1_780_000_000.0
    quota = read_quota(headers, wall)
    assert quota is not None and quota.tokens is not None
    assert quota.tokens.remaining == 100  # output: 1.25 % left beats input's 97.5 %
    assert quota.tokens.reset_in_s == pytest.approx(60.0)
    assert quota.exhausting(0.05) == pytest.approx(60.0)


def test_no_rate_limit_headers() -> None:
    assert read_quota({"content-type": "application/json"}, WALL) is None
    assert read_quota({"x-ratelimit-remaining-requests": "many"}, WALL) is None
