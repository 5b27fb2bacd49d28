"""Two separate processes sharing one Redis race 200 reservations against a budget for 50."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis
from tests.state.backends import REDIS_URL

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).with_name("reserver.py")


def test_two_processes_never_admit_more_than_the_budget_pays_for(redis_prefix: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), REDIS_URL, redis_prefix, name, "100"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for _ in procs:  # both are connected and waiting: release them together
            assert client.blpop([f"{redis_prefix}ready"], timeout=20) is not None
        for name in ("p1", "p2"):
            client.rpush(f"{redis_prefix}go:{name}", 1)
        admitted = [int(p.communicate(timeout=30)[0]) for p in procs]
    finally:
        client.close()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert sum(admitted) == 50
    assert all(p.returncode == 0 for p in procs)
