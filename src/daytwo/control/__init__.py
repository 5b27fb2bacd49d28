"""Spend control: budgets, rate limits, kill switches and the loop breaker.

Pure logic over a :class:`daytwo.state.base.State` (memory for one process, Redis for many);
no sockets here. See ``docs/spend-control.md`` for the guarantees and how they are tested.
"""
