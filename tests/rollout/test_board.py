"""The board's poll never puts back a state older than a move this process made while the
poll was reading (the read began before the move committed)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.rollout.harness import make_rollout

from daytwo.rollout.board import RolloutBoard
from daytwo.rollout.model import Rollout


class SlowStore:
    """A store whose read returns what the table held when the read began, after a move
    made meanwhile (as a poll racing a commit sees it)."""

    def __init__(self, rows: list[Rollout]) -> None:
        self.rows = rows
        self.during: Any = None

    def active(self) -> list[Rollout]:
        snapshot = list(self.rows)
        if self.during is not None:
            self.during()
        return snapshot


def test_a_poll_that_read_before_a_local_move_keeps_the_move() -> None:
    r = make_rollout("alias", "smart", "smart", "cheap", "canary:10%,50%")
    store = SlowStore([r])
    board = RolloutBoard(store, poll_s=0)  # type: ignore[arg-type]
    asyncio.run(board.refresh())
    advanced = r.moved(time.time(), stage=1)
    store.during = lambda: board.apply(advanced)  # committed while the poll reads
    asyncio.run(board.refresh())
    assert board.alias("smart") == advanced
    store.rows, store.during = [advanced], None  # the next poll reads the move itself
    asyncio.run(board.refresh())
    assert board.alias("smart") == advanced


def test_a_poll_drops_what_another_process_retired_and_adds_what_it_started() -> None:
    r = make_rollout("alias", "smart", "smart", "cheap")
    other = make_rollout("alias", "fast", "fast", "cheap")
    store = SlowStore([r])
    board = RolloutBoard(store, poll_s=0)  # type: ignore[arg-type]
    asyncio.run(board.refresh())
    store.rows = [other]
    asyncio.run(board.refresh())
    assert board.alias("smart") is None and board.alias("fast") == other
