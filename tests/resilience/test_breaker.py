"""Per-deployment breakers, throttling and the order of deployments a call tries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from tests.resilience.fakes import FakeClock

from daytwo.config.resilience import BreakerConfig
from daytwo.core.errors import UpstreamStatusError, UpstreamTimeout
from daytwo.resilience.breaker import BreakerSettings, Health


@dataclass(frozen=True)
class T:
    deployment: str


A, B, C = T("a"), T("b"), T("c")
SETTINGS = BreakerSettings(
    consecutive_failures=5,
    window_calls=20,
    min_calls=10,
    error_rate=0.5,
    slow_call_s=2.0,
    slow_rate=0.8,
    open_s=5.0,
    max_open_s=60.0,
    half_open_probes=2,
)


def _health() -> tuple[Health, FakeClock]:
    clock = FakeClock()
    return Health(SETTINGS, clock=clock, wall=clock.wall), clock


def _fail(h: Health, name: str, exc: BaseException | None = None) -> None:
    h.failure(h.start(name), exc or UpstreamStatusError(503, "overloaded"))


def _ok(h: Health, clock: FakeClock, name: str, latency: float = 0.1) -> None:
    attempt = h.start(name)
    clock.advance(latency)
    h.success(attempt)


def test_consecutive_failures_open_and_eject() -> None:
    h, clock = _health()
    for _ in range(4):
        _fail(h, "a")
    _ok(h, clock, "a")  # a success resets the count
    for _ in range(4):
        _fail(h, "a", UpstreamTimeout("slow"))
    assert h.state("a") == "closed" and h.order([A, B]) == [A, B]
    _fail(h, "a")
    assert h.state("a") == "open"
    assert h.order([A, B, C]) == [B, C]


def test_error_rate_opens_without_a_streak() -> None:
    h, clock = _health()
    for i in range(9):  # F S F S ... never two failures in a row
        if i % 2 == 0:
            _fail(h, "a")
        else:
            _ok(h, clock, "a")
    assert h.state("a") == "closed"  # 5 of 9 failed, but fewer than min_calls
    _ok(h, clock, "a")  # 5 of 10 = the error rate
    assert h.state("a") == "open"


def test_error_rate_threshold_exactly() -> None:
    h, clock = _health()
    for _ in range(6):
        _ok(h, clock, "a")
    for _ in range(3):  # 3 of 9: below min_calls
        _fail(h, "a")
    _ok(h, clock, "a")  # 3 of 10
    assert h.state("a") == "closed"
    _fail(h, "a")  # 4 of 11
    _ok(h, clock, "a")  # 4 of 12
    _fail(h, "a")
    _fail(h, "a")
    _fail(h, "a")  # 7 of 15 (streak 3)
    assert h.state("a") == "closed"
    _fail(h, "a")  # 8 of 16 = 0.5
    assert h.state("a") == "open"


def test_slow_calls_open() -> None:
    h, clock = _health()
    for _ in range(8):
        _ok(h, clock, "a", latency=2.5)
    for _ in range(1):
        _ok(h, clock, "a", latency=0.1)
    assert h.state("a") == "closed"  # 9 calls: below min_calls
    _ok(h, clock, "a", latency=2.5)  # 9 slow of 10 >= 0.8
    assert h.state("a") == "open"


def _open(h: Health, name: str) -> None:
    for _ in range(SETTINGS.consecutive_failures):
        _fail(h, name)
    assert h.state(name) == "open"


def test_half_open_probes_then_closed() -> None:
    h, clock = _health()
    _open(h, "a")
    clock.advance(4.9)
    assert h.state("a") == "open"
    clock.advance(0.1)
    assert h.state("a") == "half_open"
    assert h.order([A, B]) == [A, B]
    p1, p2 = h.start("a"), h.start("a")
    assert p1.probe and p2.probe
    # both probe slots taken: no more traffic to it while it has another choice
    assert h.order([A, B]) == [B]
    assert not h.start("a").probe
    clock.advance(0.1)
    h.success(p1)
    assert h.state("a") == "half_open"
    h.success(p2)
    assert h.state("a") == "closed"
    # a fresh window: one failure does not reopen it
    _fail(h, "a")
    assert h.state("a") == "closed"


def test_failed_probe_reopens_for_longer_and_the_time_grows_to_the_cap() -> None:
    h, clock = _health()
    _open(h, "a")
    periods = []
    for _ in range(6):
        opened_at = clock.now
        snap = h.snapshot()[0]
        periods.append(snap.open_for_s)
        clock.advance(snap.open_for_s)
        assert h.state("a") == "half_open", opened_at
        probe = h.start("a")
        h.failure(probe, UpstreamTimeout("still down"))
        assert h.state("a") == "open"
    assert periods == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


def test_a_slow_probe_fails() -> None:
    h, clock = _health()
    _open(h, "a")
    clock.advance(5.0)
    _ok(h, clock, "a", latency=3.0)
    assert h.state("a") == "open"


def test_reopening_soon_after_recovery_grows_but_a_long_healthy_spell_resets() -> None:
    h, clock = _health()
    _open(h, "a")
    clock.advance(5.0)
    _ok(h, clock, "a")
    _ok(h, clock, "a")
    assert h.state("a") == "closed"
    _open(h, "a")
    assert h.snapshot()[0].open_for_s == 10.0
    clock.advance(10.0)
    _ok(h, clock, "a")
    _ok(h, clock, "a")
    clock.advance(61.0)
    _open(h, "a")
    assert h.snapshot()[0].open_for_s == 5.0


def test_never_ejects_the_last_deployment() -> None:
    h, clock = _health()
    _open(h, "a")
    assert h.order([A]) == [A]
    clock.advance(1.0)
    _open(h, "b")  # opened later: its open period ends later
    assert h.order([A, B]) == [A]
    assert h.order([B, A]) == [A]


def test_caller_errors_say_nothing() -> None:
    h, _ = _health()
    for _ in range(10):
        _fail(h, "a", UpstreamStatusError(400, "bad request"))
    assert h.state("a") == "closed"
    assert h.order([A, B]) == [A, B]


def test_a_429_throttles_and_a_429_storm_opens_the_breaker() -> None:
    h, clock = _health()
    _fail(h, "a", UpstreamStatusError(429, "slow down"))
    assert h.state("a") == "closed"
    # throttled: tried last, not ejected
    assert h.order([A, B]) == [B, A]
    clock.advance(1.0)
    assert h.order([A, B]) == [A, B]
    for _ in range(4):
        _fail(h, "a", UpstreamStatusError(429, "slow down"))
    assert h.state("a") == "open"
    assert h.order([A, B]) == [B]


def test_retry_after_deprioritises_until_it_passes() -> None:
    h, clock = _health()
    _fail(h, "a", UpstreamStatusError(429, "slow down", headers={"retry-after": "20"}))
    _fail(h, "b", UpstreamStatusError(503, "overloaded", headers={"retry-after-ms": "3000"}))
    # both throttled: the one that refills first leads
    assert h.order([A, B, C]) == [C, B, A]
    clock.advance(3.0)
    assert h.order([A, B, C]) == [B, C, A]
    clock.advance(17.0)
    assert h.order([A, B, C]) == [A, B, C]


def test_reported_quota_shifts_traffic_before_the_429s() -> None:
    h, clock = _health()
    openai_low = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "10",
        "x-ratelimit-reset-requests": "4s",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "29000",
        "x-ratelimit-reset-tokens": "120ms",
    }
    attempt = h.start("a")
    h.success(attempt, headers=openai_low)
    assert h.order([A, B]) == [B, A]
    assert h.snapshot()[0].remaining_requests == 10
    clock.advance(4.0)
    assert h.order([A, B]) == [A, B]
    # Anthropic reports its resets as timestamps
    reset = datetime.fromtimestamp(clock.wall() + 10, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    h.observe(
        "b",
        {
            "anthropic-ratelimit-tokens-limit": "40000",
            "anthropic-ratelimit-tokens-remaining": "0",
            "anthropic-ratelimit-tokens-reset": reset,
        },
    )
    assert h.order([B, A]) == [A, B]
    clock.advance(9.9)
    assert h.order([B, A]) == [A, B]
    clock.advance(0.1)
    assert h.order([B, A]) == [B, A]


def test_cancelled_probe_frees_its_slot() -> None:
    h, clock = _health()
    _open(h, "a")
    clock.advance(5.0)
    probes = [h.start("a"), h.start("a")]
    assert h.order([A, B]) == [B]
    h.cancel(probes[0])
    assert h.order([A, B]) == [A, B]
    assert h.start("a").probe


def test_snapshot_for_the_admin_api() -> None:
    h, clock = _health()
    for ms in range(1, 101):
        attempt = h.start("a")
        clock.advance(ms / 1000)
        h.success(attempt, ttft_s=0.05)
    for _ in range(2):
        _fail(h, "a")
    snap = h.snapshot()[0]
    assert snap.deployment == "a" and snap.state == "closed"
    assert (snap.p50_ms, snap.p95_ms) == (pytest.approx(50.0), pytest.approx(95.0))
    assert snap.ttft_ewma_ms == pytest.approx(50.0)
    assert snap.window_calls == 20 and snap.error_rate == 0.1
    assert snap.consecutive_failures == 2
    assert h.latency("a") == pytest.approx(0.05)  # routing compares TTFT when streams reported it
    assert h.latency("unknown") is None


def test_settings_from_config() -> None:
    s = BreakerSettings.from_config(BreakerConfig(open_s=2, half_open_probes=1))
    assert (s.open_s, s.half_open_probes) == (2.0, 1)
    assert s.consecutive_failures == BreakerSettings().consecutive_failures
