"""``model_changed``: a deployment (provider + deployment) starts answering with another served
model or another ``system_fingerprint`` -- the change nobody made.

On the call path :meth:`ModelWatch.observe` (a call observer) does one dict lookup and one
tuple comparison; only a new value starts a task. The known values are seeded at start from
the ledger (each deployment's last served model and fingerprint) and, when spend-control
state is on Redis, shared by the replicas in one hash: a Lua compare-and-set decides which
replica saw the change first, and only that one records and announces it (one event per
change, not one per replica). Without Redis each process decides alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
import redis.exceptions as rexc
import sqlalchemy as sa

from daytwo.core.observe import CallView
from daytwo.core.record import CallRecord
from daytwo.ledger.schema import calls
from daytwo.ledger.store import LedgerStore

log = logging.getLogger("daytwo.drift")

Deployment = tuple[str, str]  #: (provider, deployment)
Served = tuple[str | None, str | None]  #: (served model, fingerprint)

#: Seconds a Redis call may take before the replica decides alone.
REDIS_TIMEOUT_S = 2.0
#: Seeding reads the calls of this many seconds back (the ``started_at`` index bounds it).
SEED_LOOKBACK_S = 30 * 86_400.0

#: KEYS[1] the hash, ARGV[1] the deployment, ARGV[2] the new value. Returns false when the hash
#: already holds the new value (another replica saw it first); else stores it and returns the
#: value it replaced ('' when it held none).
_SWAP = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur == ARGV[2] then return false end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if cur then return cur end
return ''
"""


@dataclass(frozen=True, slots=True)
class ModelChange:
    """A deployment's new served model / fingerprint, as first seen."""

    provider: str
    deployment: str
    alias: str
    old: Served
    new: Served
    call_id: str
    at: float

    @property
    def target(self) -> str:
        """The deployment's id (``provider/model``: it names its provider already)."""
        return self.deployment

    def side(self, which: Served) -> dict[str, Any]:
        return {"served_model": which[0], "fingerprint": which[1]}


Report = Callable[[ModelChange], Awaitable[None]]


def last_served(store: LedgerStore, since: float) -> dict[Deployment, Served]:
    """Each deployment's served model and fingerprint in its latest answered call since
    ``since`` (blocking)."""
    c = calls.c
    answered = sa.and_(
        c.started_at >= since,
        c.deployment.is_not(None),
        c.provider.is_not(None),
        sa.or_(c.served_model.is_not(None), c.system_fingerprint.is_not(None)),
    )
    latest = (
        sa.select(c.provider, c.deployment, sa.func.max(c.started_at).label("last"))
        .where(answered)
        .group_by(c.provider, c.deployment)
        .subquery()
    )
    query = (
        sa.select(c.provider, c.deployment, c.served_model, c.system_fingerprint)
        .join(
            latest,
            sa.and_(
                c.provider == latest.c.provider,
                c.deployment == latest.c.deployment,
                c.started_at == latest.c.last,
            ),
        )
        .where(answered)
    )
    with store.connect() as conn:
        return {(p, d): (m, f) for p, d, m, f in conn.execute(query)}


class SharedValues:
    """The replicas' common view of each deployment's value (a Redis hash)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            decode_responses=True,
        )
        self.key = f"{prefix}drift:served"

    async def swap(self, deployment: Deployment, new: Served) -> tuple[bool, Served | None]:
        """Store ``new``; (whether this replica is the first to see it, the value it replaced
        if the hash held one). Raises :class:`ConnectionError` when Redis is unreachable."""
        try:
            got = await self._redis.eval(_SWAP, 1, self.key, _field(deployment), _encode(new))
        except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
            raise ConnectionError(f"redis unreachable: {type(exc).__name__}") from exc
        if got is None:
            return False, None
        return True, (_decode(got) if got else None)

    async def aclose(self) -> None:
        await self._redis.aclose()


class ModelWatch:
    """The call observer and the decision that one change is reported once."""

    def __init__(self, report: Report, shared: SharedValues | None = None) -> None:
        self.known: dict[Deployment, Served] = {}
        #: When the call that set each deployment's known value started: a call that started
        #: earlier and ends later (a long answer of the old model) is no news.
        self._since: dict[Deployment, float] = {}
        self._report = report
        self._shared = shared
        self._tasks: set[asyncio.Task[None]] = set()

    def seed(self, values: dict[Deployment, Served]) -> None:
        for deployment, served in values.items():
            self.known.setdefault(deployment, served)

    def observe(self, record: CallRecord, view: CallView) -> None:
        """The call observer: O(1), no I/O; a new value starts :meth:`_decide` in a task."""
        if record.provider is None or record.deployment is None:
            return
        new = (record.served_model, record.fingerprint)
        if new == (None, None):
            return
        deployment = (record.provider, record.deployment)
        old = self.known.get(deployment)
        if old == new or record.started_at < self._since.get(deployment, 0.0):
            return
        self.known[deployment] = new
        self._since[deployment] = record.started_at
        change = ModelChange(
            record.provider,
            record.deployment,
            record.alias,
            old or (None, None),
            new,
            record.id,
            record.started_at,
        )
        try:
            task = asyncio.get_running_loop().create_task(self._decide(change, old is not None))
        except RuntimeError:  # no running loop: not on the gateway (a direct call in a test)
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _decide(self, change: ModelChange, had_old: bool) -> None:
        first, replaced = True, None
        if self._shared is not None:
            try:
                first, replaced = await self._shared.swap(
                    (change.provider, change.deployment), change.new
                )
            except ConnectionError as exc:
                log.warning(f"model_changed: {exc}; deciding on this replica alone")
        if not first:
            return  # another replica saw this value first and reported it
        if replaced is not None and replaced != change.new:
            change = ModelChange(
                change.provider,
                change.deployment,
                change.alias,
                replaced,
                change.new,
                change.call_id,
                change.at,
            )
        elif not had_old:
            return  # the deployment's first value ever: nothing changed
        try:
            await self._report(change)
        except Exception:  # a failed report must not end the watch
            log.exception("model_changed report failed", extra={"deployment": change.target})

    async def settle(self, timeout_s: float = 10.0) -> None:
        """Wait for the decisions started so far (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)


def _field(deployment: Deployment) -> str:
    return f"{deployment[0]}\0{deployment[1]}"


def _encode(value: Served) -> str:
    return orjson.dumps(list(value)).decode()


def _decode(text: str) -> Served:
    model, fingerprint = orjson.loads(text)
    return (model, fingerprint)
