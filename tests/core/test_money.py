"""Amounts shown to people: exact USD where a refusal explains itself."""

from __future__ import annotations

from daytwo.core.money import format_usd, format_usd_exact


def test_exact_usd_shows_every_digit_and_no_more() -> None:
    assert format_usd_exact(50 * 10**9) == "$50"
    assert format_usd_exact(49_998_134_000) == "$49.998134"
    assert format_usd_exact(12_345) == "$0.000012345"  # rounded to 4 places it reads $0.0000
    assert format_usd_exact(0) == "$0"
    assert format_usd(12_345_678) == "$0.0123"  # reports keep their 4 places
