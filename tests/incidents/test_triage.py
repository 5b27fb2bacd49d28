"""``rank`` over evidence built in memory: how triage lines a change up with the symptoms it
explains when the baseline was not taken just before the incident window."""

from __future__ import annotations

import pytest

from daytwo.incidents.triage import observed, rank
from daytwo.incidents.triage_read import CallRow, Evidence, Scope, Span

HOUR = 3600.0
NOW = 1_800_000_000.0
N = 120


def _row(i: int, at: float, version: int, tokens: int) -> CallRow:
    return CallRow(
        id=f"c-{version}-{i:04d}",
        at=at,
        status="ok",
        alias="support",
        key_id=None,
        user=None,
        workflow=None,
        session=None,
        agent=None,
        provider="sim",
        deployment="sim/gpt-4o-mini",
        served=("gpt-4o-mini", None),
        attempts=1,
        input_tokens=tokens + i % 7,
        output_tokens=30 + i % 5,
        cost_usd=((tokens + i % 7) * 150 + (30 + i % 5) * 600) / 1e9,
        latency_ms=300.0 + i % 11,
        cache_hit=False,
        prompt=("support-reply", version),
        prompt_label="production",
        config_hash="cfg1",
    )


def rollout(baseline_ends_before: float) -> Evidence:
    """Prompt v2 (ten times the input tokens) in the last hour, v1 in a baseline hour that ends
    ``baseline_ends_before`` seconds before it. The baseline's last four calls were long
    tickets, so the tokens' change-point falls among them rather than at v2's first call."""
    window = Span(NOW - HOUR, NOW)
    baseline = Span(window.start - baseline_ends_before - HOUR, window.start - baseline_ends_before)
    return Evidence(
        window=window,
        baseline=baseline,
        scope=Scope(),
        baseline_calls=[
            _row(i, baseline.start + 30 + i * (HOUR - 60) / N, 1, 1000 if i >= N - 4 else 100)
            for i in range(N)
        ],
        window_calls=[_row(i, window.start + 30 + i * (HOUR - 60) / N, 2, 1000) for i in range(N)],
        attempts=[],
        control=[],
        prompts_before=None,
    )


def test_a_rollout_scores_the_same_with_the_hour_before_or_a_day_before_as_baseline() -> None:
    adjacent = rank(rollout(0.0), "1h")
    day_before = rank(rollout(23 * HOUR), "1h")
    for result in (adjacent, day_before):
        cause = result.suspects[0]
        assert (cause.kind, cause.detail["version"]) == ("prompt", 2), result.suspects
        tokens = next(s for s in result.suspects if s.detail.get("metric") == "input_tokens")
        assert tokens.consequence_of == cause.rank
        assert "input tokens per call" in cause.why
    # the tokens' onset a few calls before v2 is as close to it across a day's gap as across none
    assert adjacent.suspects[0].score > 2.0
    assert day_before.suspects[0].score == pytest.approx(adjacent.suspects[0].score)


def test_the_time_between_a_baseline_and_the_window_is_left_out() -> None:
    ev = rollout(23 * HOUR)
    seam = ev.baseline.end
    assert observed(seam - 60.0, ev) == seam - 60.0  # in the baseline: as it was
    assert observed(seam + 5 * HOUR, ev) == seam  # between the two: at the seam
    assert observed(ev.window.start + 60.0, ev) == seam + 60.0  # in the window: moved up to it
    assert observed(None, ev) is None
    adjacent = rollout(0.0)
    assert observed(adjacent.window.start + 60.0, adjacent) == adjacent.window.start + 60.0
