"""Scope keys and matching; calendar windows in a timezone, including DST days."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from daytwo.control.scopes import Scope, Subject, match_all
from daytwo.control.windows import window_at
from daytwo.core.types import Attribution

NY = ZoneInfo("America/New_York")


def test_scope_keys_are_stable_and_escaped() -> None:
    s = Scope.parse({"user": "bob,jr=1", "project": "acme"})
    assert s.key() == "project=acme,user=bob%2Cjr%3D1"  # field order fixed, separators escaped
    assert Scope.parse(s.key()) == s
    assert Scope.parse({}).key() == "org"
    with pytest.raises(ValueError, match="unknown scope field"):
        Scope.parse({"team": "x"})


def test_matching_fixed_values_and_each_value() -> None:
    subj = Subject.of(Attribution(project="acme", user="bob", feature="chat"), key="k1")
    scopes = {
        "org": Scope.parse({}),
        "acme": Scope.parse({"project": "acme"}),
        "other": Scope.parse({"project": "zeta"}),
        "per_user": Scope.parse({"project": "acme", "user": "*"}),
        "per_session": Scope.parse({"session": "*"}),  # the call has no session: no match
        "key": Scope.parse({"key": "k1", "feature": "chat"}),
    }
    assert match_all(scopes, subj) == [
        ("org", "org"),
        ("acme", "project=acme"),
        ("per_user", "project=acme,user=bob"),
        ("key", "feature=chat,key=k1"),
    ]


def _ts(y: int, m: int, d: int, h: int = 0, tz: ZoneInfo = NY) -> float:
    return datetime(y, m, d, h, tzinfo=tz).timestamp()


def test_day_windows_follow_dst_in_the_configured_timezone() -> None:
    spring = window_at("day", _ts(2026, 3, 8, 12), NY)  # clocks go forward: 23 h
    assert (spring.start, spring.end) == (_ts(2026, 3, 8), _ts(2026, 3, 9))
    assert spring.end - spring.start == 23 * 3600
    fall = window_at("day", _ts(2026, 11, 1, 12), NY)  # clocks go back: 25 h
    assert fall.end - fall.start == 25 * 3600
    # the same instant is a different day in another zone
    utc_day = window_at("day", _ts(2026, 11, 1, 21), ZoneInfo("UTC"))
    assert utc_day.start == datetime(2026, 11, 2, tzinfo=ZoneInfo("UTC")).timestamp()


def test_hour_week_month_boundaries() -> None:
    t = _ts(2026, 2, 18, 15) + 1234.5  # Wednesday
    assert window_at("hour", t, NY).start == _ts(2026, 2, 18, 15)
    week = window_at("week", t, NY)
    assert (week.start, week.end) == (_ts(2026, 2, 16), _ts(2026, 2, 23))  # Monday to Monday
    month = window_at("month", t, NY)
    assert (month.start, month.end) == (_ts(2026, 2, 1), _ts(2026, 3, 1))
    dec = window_at("month", _ts(2026, 12, 31, 23), NY)
    assert dec.end == _ts(2027, 1, 1)
    # the repeated 01:00 hour of the fall-back day is two distinct windows
    first = window_at("hour", _ts(2026, 11, 1, 0) + 3600 + 60, NY)
    second = window_at("hour", _ts(2026, 11, 1, 0) + 2 * 3600 + 60, NY)
    assert first.start != second.start
    assert second.start - first.start == 3600
