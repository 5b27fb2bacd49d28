"""The model watch as a call observer, without a gateway: a deployment's value changes when a
call that started after the one that set it says so; a long answer of the old model that ends
after the new model's first answer is not a change back."""

from __future__ import annotations

import asyncio

from daytwo.core.observe import CallView
from daytwo.core.record import CallRecord
from daytwo.drift.changes import ModelChange, ModelWatch

VIEW = CallView(None, None, None, (), None)
OLD, NEW = "claude-sonnet-4-20250514", "claude-sonnet-4-20260301"


def call(n: int, served: str, started: float, ended: float) -> CallRecord:
    return CallRecord(
        id=f"c{n}",
        started_at=started,
        ended_at=ended,
        latency_ms=(ended - started) * 1000,
        status="ok",
        http_status=200,
        operation="chat",
        alias="claude",
        trace_id=f"{n:032x}",
        provider="anthropic",
        deployment="anthropic/claude",
        served_model=served,
    )


def test_a_late_answer_of_the_old_model_is_not_a_change_back() -> None:
    reported: list[ModelChange] = []

    async def report(change: ModelChange) -> None:
        reported.append(change)

    async def run() -> None:
        watch = ModelWatch(report)
        watch.seed({("anthropic", "anthropic/claude"): (OLD, None)})
        # Observed in the order the calls ended: the old model's long answer ends last.
        for record in (
            call(1, OLD, 10.0, 10.5),
            call(2, NEW, 11.0, 11.4),  # the change
            call(3, OLD, 10.8, 12.0),  # started before the change, ended after it
            call(4, NEW, 11.5, 12.1),
        ):
            watch.observe(record, VIEW)
        await watch.settle()
        assert watch.known[("anthropic", "anthropic/claude")] == (NEW, None)

    asyncio.run(run())
    assert [(c.old, c.new, c.call_id) for c in reported] == [((OLD, None), (NEW, None), "c2")]
