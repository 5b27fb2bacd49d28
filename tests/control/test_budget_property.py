"""The core guarantee as a property, over random interleavings of reserve / settle / release /
cancel on two overlapping budgets, against memory and real Redis:

    spent + reserved <= cap + overshoot      on every budget counter, after every step,

where ``overshoot`` is the sum of ``actual - reserved`` over calls that settled above their
reservation; the counters equal an exact model; and a reservation is admitted exactly when the
model says it fits every matching budget (all-or-nothing).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.state.backends import OpenState

from daytwo.control.budgets import Budget, Budgets, Reservation
from daytwo.control.scopes import Scope, Subject
from daytwo.control.windows import window_at

NOW = 1_780_000_000.0
PROJECTS = ("a", "b")

# multiples of 100 so that "exactly at the cap" happens often
AMOUNT = st.integers(0, 15).map(lambda n: n * 100)
reserve = st.tuples(st.just("reserve"), st.integers(0, 15), st.sampled_from(PROJECTS), AMOUNT)
# actual = reserved * num / 4: under (0..3), exact (4), over (5..12)
settle = st.tuples(st.just("settle"), st.integers(0, 15), st.integers(0, 12), st.just(0))
release = st.tuples(st.just("release"), st.integers(0, 15), st.just(""), st.just(0))
# a client that went away: billed for what was produced so far (never more than reserved)
cancel = st.tuples(st.just("cancel"), st.integers(0, 15), st.integers(0, 4), st.just(0))
ops = st.lists(st.one_of(reserve, settle, release, cancel), min_size=1, max_size=40)


@dataclass
class Model:
    spent: dict[str, int] = field(default_factory=dict)
    reserved: dict[str, int] = field(default_factory=dict)
    overshoot: dict[str, int] = field(default_factory=dict)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=ops, cap_org=AMOUNT.map(lambda n: 4 * n), cap_proj=AMOUNT.map(lambda n: 2 * n))
def test_spend_never_exceeds_cap_beyond_admitted_reservations(
    open_state: OpenState, ops: list[tuple[str, int, object, int]], cap_org: int, cap_proj: int
) -> None:
    tag = uuid.uuid4().hex[:8]
    org = Budget(f"org-{tag}", Scope(), "day", cap_nanos=cap_org)
    per_project = Budget(f"proj-{tag}", Scope.parse({"project": "*"}), "day", cap_nanos=cap_proj)
    caps = {org.name: cap_org, per_project.name: cap_proj}
    w = window_at("day", NOW, ZoneInfo("UTC"))

    def keys_for(project: str) -> list[tuple[str, str]]:
        return [
            (org.name, org.counter_key("org", w)),
            (per_project.name, per_project.counter_key(f"project={project}", w)),
        ]

    async def main() -> None:
        async with open_state() as state:
            b = Budgets(state, [org, per_project], clock=lambda: NOW)
            m = Model()
            live: dict[int, tuple[Reservation, str]] = {}
            seq = 0
            for op, i, arg, amount in ops:
                seq += 1
                if op == "reserve":
                    if i in live:
                        continue
                    project = str(arg)
                    fits = all(
                        m.spent.get(k, 0) + m.reserved.get(k, 0) + amount <= caps[name]
                        for name, k in keys_for(project)
                    )
                    res = await b.reserve(f"{tag}-{seq}", Subject(project=project), amount, 0)
                    assert isinstance(res, Reservation) == fits
                    if isinstance(res, Reservation):
                        live[i] = (res, project)
                        for _, k in keys_for(project):
                            m.reserved[k] = m.reserved.get(k, 0) + amount
                elif i in live:
                    res, project = live.pop(i)
                    num = int(str(arg) or 0)
                    actual = res.nanos * num // 4
                    if op == "release" or (op == "cancel" and actual == 0):
                        await b.release(res)
                        actual = -1
                    else:
                        await b.settle(res, actual, 0)
                    for _, k in keys_for(project):
                        m.reserved[k] -= res.nanos
                        if actual >= 0:
                            m.spent[k] = m.spent.get(k, 0) + actual
                            m.overshoot[k] = m.overshoot.get(k, 0) + max(0, actual - res.nanos)
                for project in PROJECTS:
                    named = keys_for(project)
                    found = await state.counters([k for _, k in named])
                    for (name, k), c in zip(named, found, strict=True):
                        assert (c.spent_nanos, c.reserved_nanos) == (
                            m.spent.get(k, 0),
                            m.reserved.get(k, 0),
                        )
                        assert c.spent_nanos + c.reserved_nanos <= caps[name] + m.overshoot.get(
                            k, 0
                        )

    asyncio.run(main())
