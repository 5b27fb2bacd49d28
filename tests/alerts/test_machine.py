"""An alert's states: pending for `for`, firing once, resolved once, quiet in its cooldown."""

from __future__ import annotations

from daytwo.alerts.machine import Alert, step


def _run(
    alert: Alert, outcomes: list[tuple[float, bool]], *, for_s: float = 0, cooldown_s: float = 0
) -> list[tuple[float, str]]:
    out = []
    for now, holds in outcomes:
        t = step(alert, holds, now, for_s=for_s, cooldown_s=cooldown_s)
        if t is not None:
            out.append((now, t.to))
    return out


def test_it_fires_only_after_holding_for_the_for_duration() -> None:
    alert = Alert("r", "fp", {})
    seen = _run(alert, [(0, True), (1, True), (2.9, True), (3, True), (4, True)], for_s=3)
    assert seen == [(0, "pending"), (3, "firing")]
    assert alert.phase == "firing" and alert.since == 0


def test_a_condition_that_clears_while_pending_never_fires() -> None:
    alert = Alert("r", "fp", {})
    assert _run(alert, [(0, True), (1, False), (2, True)], for_s=5) == [
        (0, "pending"),
        (1, "inactive"),
        (2, "pending"),
    ]


def test_firing_notifies_once_and_resolves_once() -> None:
    alert = Alert("r", "fp", {})
    seen = _run(alert, [(0, True), (1, True), (2, True), (3, False), (4, False)])
    assert seen == [(0, "firing"), (3, "resolved")]
    t = step(Alert("r", "fp", {}, "firing", since=7.0), False, 9.0, for_s=0, cooldown_s=0)
    assert t is not None and t.notifies and t.started_at == 7.0


def test_no_new_firing_within_the_cooldown_after_a_resolve() -> None:
    alert = Alert("r", "fp", {})
    seen = _run(
        alert,
        [(0, True), (1, False), (2, True), (5.9, True), (6, True), (7, False)],
        cooldown_s=5,
    )
    assert seen == [(0, "firing"), (1, "resolved"), (6, "firing"), (7, "resolved")]
