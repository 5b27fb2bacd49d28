"""Which arm serves a call: a pure function of the rollout and the call's sticky key.

A key's *bucket* is a uniform number in [0, 100) fixed by (rollout id, key): every replica and
every restart put a key in the same bucket, with no shared state. A canary at p % serves the
keys whose bucket is below p by the candidate; shares only grow from stage to stage, so a key
never flips back from the candidate to the control (a conversation sees one version per stage,
and at most one switch in the whole rollout: when its bucket's stage comes). Shadow mirrors the
keys below its share. A call without the sticky key is bucketed by its call id (not sticky:
counted, so the operator can see it).
"""

from __future__ import annotations

import hashlib
from typing import Literal

from daytwo.rollout.model import Rollout

Arm = Literal["control", "candidate"]


def bucket(rollout_id: str, key: str) -> float:
    digest = hashlib.blake2b(f"{rollout_id}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * 100.0


def arm(rollout: Rollout, key: str) -> tuple[Arm, bool]:
    """(the arm that serves the call, whether it is also mirrored to the candidate)."""
    if rollout.status == "completed":
        return "candidate", False
    if rollout.status == "rolled_back":
        return "control", False
    b = bucket(rollout.id, key)
    stage = rollout.current
    if stage.kind == "shadow":
        return "control", b < stage.percent
    return ("candidate" if b < stage.percent else "control"), False
