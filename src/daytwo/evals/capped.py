"""Jobs run a few at a time under a cost cap: what ``daytwo eval run`` and ``daytwo replay`` both
do with their calls through a gateway.

At most ``concurrency`` jobs run at once. Before starting the next, the run stops when what is
spent plus what the jobs in flight may cost (each as much as the dearest job so far) would pass
the cap. The first job that fails stops the starting of more; its exception is handed back, not
raised, so that each caller names it in its own terms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

J = TypeVar("J")
T = TypeVar("T")


@dataclass
class Capped(Generic[T]):
    #: The jobs' results, in the order they finished.
    done: list[T] = field(default_factory=list)
    #: The run stopped before the cap would be passed.
    capped: bool = False
    #: The first failure (the run stopped starting jobs then).
    failure: BaseException | None = None


async def run_capped(
    jobs: Iterable[J],
    start: Callable[[J], Awaitable[T]],
    *,
    concurrency: int,
    spent: Callable[[], float],
    cap: float | None,
    cost_of: Callable[[T], float | None],
    on_done: Callable[[T], None] = lambda _result: None,
    cancel_on_failure: bool = False,
) -> Capped[T]:
    """Run ``start(job)`` for each job (see the module docstring). ``spent`` is what the run
    has spent so far; ``cost_of`` a result's cost (None: it does not count towards the
    estimate, e.g. a cached answer); ``cancel_on_failure`` cancels the jobs in flight when one
    fails."""
    out: Capped[T] = Capped()
    dearest = 0.0
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[T]] = set()
    failures: list[BaseException] = []

    def finished(task: asyncio.Task[T]) -> None:
        nonlocal dearest
        running.discard(task)
        slots.release()
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            failures.append(exc)
            return
        result = task.result()
        out.done.append(result)
        cost = cost_of(result)
        if cost is not None:
            dearest = max(dearest, cost)
        on_done(result)

    for job in jobs:
        await slots.acquire()
        if failures:
            slots.release()
            break
        if cap is not None and spent() + dearest * (len(running) + 1) > cap:
            slots.release()
            out.capped = True
            break
        task = asyncio.ensure_future(start(job))
        running.add(task)
        task.add_done_callback(finished)
    if failures and cancel_on_failure:
        for task in list(running):
            task.cancel()
    if running:
        await asyncio.gather(*running, return_exceptions=True)
    if failures:
        out.failure = failures[0]
    return out
