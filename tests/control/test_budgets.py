"""Budgets over both State backends: refusals, all-or-nothing, events, trips, downgrade,
rollover, clamping, and 200 concurrent reservers against a budget that pays for 50."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from tests.state.backends import OpenState

from daytwo.control.budgets import (
    Budget,
    Budgets,
    Refusal,
    Reservation,
    affordable_output_tokens,
    worst_case_nanos,
)
from daytwo.control.events import Event
from daytwo.control.scopes import Scope, Subject
from daytwo.control.switches import SwitchBoard
from daytwo.core.errors import BudgetExceeded, FeatureDisabled
from daytwo.pricing.entry import PriceEntry

NY = "America/New_York"
ACME = Subject(project="acme", user="bob")


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def noon(y: int, m: int, d: int) -> float:
    return datetime(y, m, d, 12, tzinfo=ZoneInfo(NY)).timestamp()


def day_budget(name: str = "daily", cap: int = 1000, **kw: object) -> Budget:
    return Budget(name, Scope.parse({"project": "acme"}), "day", cap_nanos=cap, **kw)  # type: ignore[arg-type]


def test_block_refuses_what_the_cap_cannot_pay_for(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            b = Budgets(st, [day_budget()], tz=NY, clock=Clock(noon(2026, 5, 4)))
            r1 = await b.reserve("c1", ACME, 700, 0)
            assert isinstance(r1, Reservation)
            r2 = await b.reserve("c2", ACME, 400, 0)
            assert isinstance(r2, Refusal)
            assert (r2.reason, r2.limit, r2.spend, r2.unit) == ("block", 1000, 700, "nanousd")
            err = r2.error(noon(2026, 5, 4))
            assert isinstance(err, BudgetExceeded)
            assert (err.status, err.type, err.scope) == (429, "budget_exceeded", "project=acme")
            assert err.reset_at == noon(2026, 5, 4) + 12 * 3600  # midnight in New York
            assert err.wire_headers() == {"x-should-retry": "false"}  # too far off to wait
            # another project is not in scope
            other = await b.reserve("c3", Subject(project="zeta"), 10_000, 0)
            assert isinstance(other, Reservation)
            assert other.holds == ()
            await b.settle(r1, 200, 0)
            assert isinstance(await b.reserve("c2", ACME, 400, 0), Reservation)

    asyncio.run(main())


def test_all_or_nothing_across_matching_budgets(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            per_user = Budget(
                "per_user", Scope.parse({"project": "acme", "user": "*"}), "day", cap_nanos=300
            )
            b = Budgets(st, [day_budget(), per_user], clock=Clock(noon(2026, 5, 4)))
            assert isinstance(await b.reserve("c1", ACME, 300, 0), Reservation)
            refused = await b.reserve("c2", ACME, 1, 0)
            assert isinstance(refused, Refusal)
            assert refused.budget.name == "per_user"
            # the project budget did not keep the refused call's reservation
            assert (await b.headroom(Subject(project="acme"))).nanos == 700
            assert isinstance(
                await b.reserve("c3", Subject(project="acme", user="ann"), 300, 0), Reservation
            )

    asyncio.run(main())


def test_thresholds_fire_once_and_trip_switches_the_scope_off(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            events: list[Event] = []
            clock = Clock(noon(2026, 5, 4))
            board = SwitchBoard(st, clock=clock, on_event=events.append)
            await board.start()
            budget = day_budget(actions=frozenset({"alert", "trip"}))
            b = Budgets(st, [budget], clock=clock, switches=board, on_event=events.append)
            for i, spend in enumerate([400, 100, 300, 150]):
                res = await b.reserve(f"c{i}", ACME, 150, 0)
                assert isinstance(res, Reservation)
                await b.settle(res, spend, 0)
            kinds = [(e.kind, e.percent) for e in events]
            assert kinds == [("threshold", 50), ("threshold", 80)]
            refused = await b.reserve("c9", ACME, 100, 0)  # 950 spent: cannot pay for 100
            assert isinstance(refused, Refusal)
            assert refused.reason == "trip"
            assert isinstance(refused.error(clock()), FeatureDisabled)
            assert [e.kind for e in events][-2:] == ["switch_on", "trip"]
            tripped = board.check(ACME)
            assert tripped is not None
            assert (tripped.key, tripped.source) == ("project=acme", "budget")
            await board.revive({"project": "acme"}, who="ops")
            assert board.check(ACME) is None
            await board.aclose()

    asyncio.run(main())


def test_downgrade_then_block(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            budget = day_budget(
                actions=frozenset({"block", "downgrade"}), downgrade_to="cheap", downgrade_at=80
            )
            b = Budgets(st, [budget], clock=Clock(noon(2026, 5, 4)))
            res = await b.reserve("c1", ACME, 700, 0)
            assert isinstance(res, Reservation)
            soft = await b.reserve("c2", ACME, 200, 0)  # 900 > 80 %: go cheaper
            assert isinstance(soft, Refusal)
            assert soft.downgrade_to == "cheap"
            cheap = await b.reserve("c2", ACME, 250, 0, downgraded=True)
            assert isinstance(cheap, Reservation)
            hard = await b.reserve("c3", ACME, 100, 0, downgraded=True)
            assert isinstance(hard, Refusal)
            assert hard.reason == "block"

    asyncio.run(main())


def test_rollover_with_a_controlled_clock_resets_exactly_once(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            # 2026-03-08 is a 23-hour day in New York
            clock = Clock(datetime(2026, 3, 8, 23, 59, 0, tzinfo=ZoneInfo(NY)).timestamp())
            b = Budgets(st, [day_budget(cap=100)], tz=NY, clock=clock)
            res = await b.reserve("c0", ACME, 100, 0)
            assert isinstance(res, Reservation)
            await b.settle(res, 100, 0)
            resets = 0
            was_full = True
            for step in range(120):  # one second at a time across midnight
                clock.t += 1
                head = await b.headroom(ACME)
                full = head.nanos == 0
                if was_full and not full:
                    resets += 1
                    assert clock.t == datetime(2026, 3, 9, tzinfo=ZoneInfo(NY)).timestamp()
                was_full = full
                if step == 90:  # spending in the new day does not bring the old day back
                    r = await b.reserve(f"n{step}", ACME, 40, 0)
                    assert isinstance(r, Reservation)
                    await b.settle(r, 40, 0)
            assert resets == 1
            assert (await b.headroom(ACME)).nanos == 60

    asyncio.run(main())


def test_per_request_cap_needs_no_state(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            cap = Budget("one_call", Scope(), "request", cap_tokens=8000)
            b = Budgets(st, [cap])
            assert isinstance(await b.reserve("c1", ACME, 10**9, 8000), Reservation)
            refused = await b.reserve("c2", ACME, 0, 8001)
            assert isinstance(refused, Refusal)
            assert (refused.reason, refused.unit, refused.reset_at) == (
                "per_request",
                "tokens",
                None,
            )

    asyncio.run(main())


PRICE = PriceEntry("p", "m", input=Decimal("2.50"), output=Decimal("10"), cache_write=Decimal("3"))


def test_worst_case_and_clamp() -> None:
    # 1000 input at the dearest input rate ($3/M as cache writes) + 500 output at $10/M
    assert worst_case_nanos(PRICE, 1000, 500) == 3000 * 1000 + 10_000 * 500
    budget = 3000 * 1000 + 10_000 * 123 + 9_999
    assert affordable_output_tokens(PRICE, 1000, budget) == 123
    assert affordable_output_tokens(PRICE, 1000, 2_999_999) == -1


def test_200_concurrent_reservers_against_a_budget_for_50(open_state: OpenState) -> None:
    """Two clients (two replicas' worth of connections on Redis) race 200 reservations."""

    async def main() -> int:
        async with open_state() as a, open_state() as c:
            clock = Clock(noon(2026, 5, 4))
            budgets = [
                Budgets(st, [day_budget(cap=50 * 1000)], tz=NY, clock=clock) for st in (a, c)
            ]

            async def one(i: int) -> bool:
                res = await budgets[i % 2].reserve(f"c{i}", ACME, 1000, 0)
                if isinstance(res, Refusal):
                    return False
                await asyncio.sleep(0)
                await budgets[i % 2].settle(res, 1000, 0)
                return True

            admitted = sum(await asyncio.gather(*(one(i) for i in range(200))))
            head = await budgets[0].headroom(ACME)
            assert head.nanos == 0
            return admitted

    assert asyncio.run(main()) == 50


@pytest.mark.parametrize("bad", [{"cap_nanos": None}, {"downgrade_at": 0}])
def test_invalid_budgets_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="budget 'b'"):
        Budget("b", Scope(), "day", **({"cap_nanos": 1} | bad))  # type: ignore[arg-type]
