"""Identifiers: time-ordered call ids and W3C trace ids.

Ids are made on every request, so they come from the process's PRNG (reseeded after fork),
not from a system call: they must be unique and unguessable enough for correlation, never
secret.
"""

from __future__ import annotations

import random
import time

# The module-level generator: Python reseeds it in a forked child, so worker processes never
# share a sequence.
_bits = random.getrandbits


def new_call_id() -> str:
    """28 hex characters: 48-bit milliseconds then 64 random bits, so ids sort by time."""
    return f"{time.time_ns() // 1_000_000:012x}{_bits(64):016x}"


def new_trace_id() -> str:
    return f"{_bits(128) or 1:032x}"  # all-zero is invalid in W3C trace context


def new_span_id() -> str:
    return f"{_bits(64) or 1:016x}"
