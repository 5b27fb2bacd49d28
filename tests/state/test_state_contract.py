"""The State contract: memory and Redis must behave identically (the same tests run on both)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from tests.state.backends import OpenState

from daytwo.core.errors import StateUnavailable
from daytwo.state.base import (
    AdmitOutcome,
    Counter,
    Line,
    RateLine,
    SwitchChange,
    SwitchRecord,
)
from daytwo.state.redis import RedisState

CAP = Line("budget:org:day:0", cap_nanos=1000, cap_tokens=None, ttl_s=3600)
OTHER = Line("budget:project=a:day:0", cap_nanos=None, cap_tokens=50, ttl_s=3600)


def test_reserve_is_all_or_nothing_across_lines(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            ok = await st.reserve("c1", [CAP, OTHER], 600, 30, now=0, hold_s=60)
            assert ok.ok
            assert ok.counters == (Counter(0, 0, 600, 30), Counter(0, 0, 600, 30))
            # fits CAP (600+300 <= 1000) but not OTHER's token cap (30+30 > 50): nothing reserved
            no = await st.reserve("c2", [CAP, OTHER], 300, 30, now=0, hold_s=60)
            assert not no.ok
            assert no.failed == 1
            assert await st.counters([CAP.key, OTHER.key]) == ok.counters
            no = await st.reserve("c3", [CAP, OTHER], 401, 1, now=0, hold_s=60)
            assert (no.ok, no.failed) == (False, 0)

    asyncio.run(main())


def test_settle_replaces_reservation_with_actual_once(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            await st.reserve("c1", [CAP], 600, 10, now=0, hold_s=60)
            out = await st.settle("c1", [CAP], 250, 7, now=1)
            assert (out.applied, out.held) == (True, True)
            assert out.counters == (Counter(250, 7, 0, 0),)
            again = await st.settle("c1", [CAP], 250, 7, now=2)
            assert not again.applied
            assert await st.counters([CAP.key]) == (Counter(250, 7, 0, 0),)
            assert not await st.release("c1", now=3)
            # overshoot: actual above what was reserved is still counted
            await st.reserve("c2", [CAP], 100, 0, now=0, hold_s=60)
            out = await st.settle("c2", [CAP], 900, 0, now=1)
            assert out.counters == (Counter(1150, 7, 0, 0),)
            assert not (await st.reserve("c3", [CAP], 1, 0, now=0, hold_s=60)).ok

    asyncio.run(main())


def test_release_gives_back_and_is_idempotent(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            await st.reserve("c1", [CAP, OTHER], 1000, 50, now=0, hold_s=60)
            assert not (await st.reserve("c2", [CAP], 1, 0, now=0, hold_s=60)).ok
            assert await st.release("c1", now=1)
            assert not await st.release("c1", now=1)
            assert await st.counters([CAP.key, OTHER.key]) == (Counter(), Counter())
            await st.reserve("c2", [CAP], 1, 0, now=0, hold_s=60)
            with pytest.raises(ValueError, match="already held"):
                await st.reserve("c2", [CAP], 1, 0, now=0, hold_s=60)

    asyncio.run(main())


def test_expired_hold_is_reclaimed_and_late_settle_still_counts(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            await st.reserve("dead", [CAP], 800, 0, now=100, hold_s=60)
            await st.reserve("live", [CAP], 100, 0, now=100, hold_s=600)
            assert await st.expire(now=159) == 0
            assert await st.expire(now=160) == 1
            assert await st.counters([CAP.key]) == (Counter(0, 0, 100, 0),)
            assert await st.expire(now=161) == 0
            out = await st.settle("dead", [CAP], 500, 3, now=170)
            assert (out.applied, out.held) == (True, False)
            assert out.counters == (Counter(500, 3, 100, 0),)

    asyncio.run(main())


def test_rate_hit_all_or_nothing_and_adjust(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            a = RateLine("rpm:org:0", limit=2, amount=1, ttl_s=120)
            b = RateLine("tpm:org:0", limit=100, amount=60, ttl_s=120)
            assert (await st.hit([a, b])).values == (1, 60)
            out = await st.hit([a, b])
            assert (out.ok, out.failed, out.values) == (False, 1, (1, 60))
            assert (await st.hit([a])).values == (2,)
            assert not (await st.hit([a])).ok
            assert await st.adjust(b.key, -60, ttl_s=120) == 0

    asyncio.run(main())


def test_leases_cap_concurrency_and_lapse(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            k = [("conc:org", 2)]
            assert (await st.lease_acquire(k, "l1", now=0, expires_at=10)).ok
            assert (await st.lease_acquire(k, "l2", now=0, expires_at=100)).counts == (2,)
            out = await st.lease_acquire(k, "l3", now=1, expires_at=100)
            assert (out.ok, out.failed) == (False, 0)
            # l1's replica crashed: its lease lapses at 10
            assert await st.lease_count("conc:org", now=10) == 1
            assert (await st.lease_acquire(k, "l3", now=10, expires_at=100)).ok
            await st.lease_release(["conc:org"], "l2")
            await st.lease_release(["conc:org"], "l3")
            await st.lease_release(["conc:org"], "l3")
            assert await st.lease_count("conc:org", now=11) == 0

    asyncio.run(main())


def test_switch_change_reaches_another_client_within_a_second(open_state: OpenState) -> None:
    async def main() -> float:
        async with open_state() as a, open_state() as b:
            seen: list[SwitchChange] = []
            arrived = asyncio.Event()

            def on_change(ch: SwitchChange) -> None:
                seen.append(ch)
                arrived.set()

            sub = await b.subscribe(on_change)
            rec = SwitchRecord("project=acme", "runaway agent", "ops@x", 1.0)
            t0 = time.perf_counter()
            assert await a.set_switch(rec)
            await asyncio.wait_for(arrived.wait(), timeout=1.0)
            elapsed = time.perf_counter() - t0
            assert seen == [SwitchChange("project=acme", rec)]
            assert await b.switches() == {"project=acme": rec}
            arrived.clear()
            assert await a.clear_switch("project=acme")
            await asyncio.wait_for(arrived.wait(), timeout=1.0)
            assert seen[-1] == SwitchChange("project=acme", None)
            assert await b.switches() == {}
            await sub.aclose()
            return elapsed

    assert asyncio.run(main()) < 1.0


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()  # nothing listens here any more
    return port


def test_unreachable_redis_raises_state_unavailable() -> None:
    async def main() -> None:
        st = RedisState.from_url(f"redis://127.0.0.1:{_closed_port()}/0", prefix="x:")
        try:
            with pytest.raises(StateUnavailable) as info:
                await st.reserve("c1", [CAP], 1, 1, now=0, hold_s=60)
            assert info.value.status == 503
            with pytest.raises(StateUnavailable):
                await st.hit([RateLine("k", 1, 1, 60)])
            with pytest.raises(StateUnavailable):
                await st.switches()
        finally:
            await st.aclose()

    asyncio.run(main())


RPM = RateLine("rl:r:0", limit=2, amount=1, ttl_s=120)
TPM = RateLine("rl:t:0", limit=100, amount=40, ttl_s=120)


def test_admit_is_all_or_nothing_across_budgets_rates_and_leases(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:

            async def admit(call: str, nanos: int = 100, leases: int = 2) -> AdmitOutcome:
                return await st.admit(
                    call,
                    [CAP],
                    nanos,
                    10,
                    [RPM, TPM],
                    [("lease:x", leases)],
                    now=0,
                    hold_s=60,
                    lease_expires_at=600,
                )

            ok = await admit("c1")
            assert (ok.ok, ok.counters, ok.rates, ok.leases) == (
                True,
                (Counter(0, 0, 100, 10),),
                (1, 40),
                (1,),
            )
            # each stage refuses in turn, and a refusal changes nothing anywhere
            no = await admit("c2", nanos=901)
            assert (no.ok, no.stage, no.failed) == (False, "budget", 0)
            no = await admit("c3", leases=1)
            assert (no.stage, no.failed, no.leases) == ("lease", 0, (1,))
            assert await st.counters([CAP.key]) == (Counter(0, 0, 100, 10),)
            assert (await admit("c4")).ok
            no = await admit("c5")  # RPM 2 reached (TPM 80 + 40 would also exceed)
            assert (no.stage, no.failed, no.rates) == ("rate", 0, (2, 80))
            assert await st.lease_count("lease:x", now=1) == 2
            assert await st.counters([CAP.key]) == (Counter(0, 0, 200, 20),)

    asyncio.run(main())


def test_finish_settles_or_releases_adjusts_and_gives_back_leases(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            for call in ("c1", "c2"):
                await st.admit(
                    call, [CAP], 300, 10, [TPM], [("lease:y", 5)],
                    now=0, hold_s=60, lease_expires_at=600,
                )  # fmt: skip
            done = await st.finish(
                "c1", [CAP], 120, 6, spent=True, adjust=[(TPM.key, -34)],
                adjust_ttl_s=120, lease_keys=["lease:y"], now=1,
            )  # fmt: skip
            assert (done.applied, done.held) == (True, True)
            assert done.counters == (Counter(120, 6, 300, 10),)
            gone = await st.finish(
                "c2", [CAP], 0, 0, spent=False, adjust=[], adjust_ttl_s=120,
                lease_keys=["lease:y"], now=1,
            )  # fmt: skip
            assert (gone.applied, gone.counters) == (True, (Counter(120, 6, 0, 0),))
            again = await st.finish(
                "c1", [CAP], 120, 6, spent=True, adjust=[], adjust_ttl_s=120,
                lease_keys=["lease:y"], now=2,
            )  # fmt: skip
            assert not again.applied  # idempotent
            assert await st.counters([CAP.key]) == (Counter(120, 6, 0, 0),)
            assert await st.lease_count("lease:y", now=2) == 0
            assert await st.adjust(TPM.key, 0, ttl_s=120) == 80 - 34

    asyncio.run(main())
