"""The agent loop breaker: stop a session (or agent) that is going round in circles.

Per session (or per agent, by policy) it counts, in the shared State:

* near-identical requests: the same :func:`fingerprint` seen ``repeats`` times within one
  fixed window of ``window_s`` seconds (windows are aligned to multiples of ``window_s``);
* calls: more than ``max_calls`` in the session;
* spend: more than ``max_nanos`` in the session (counted at settle).

Any of these trips the session's kill switch (source ``loopbreaker``): the call that crossed the
line is refused, and so is every later call in that scope until a person revives it. A trip is
emitted as an ``Event("loop", ...)``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from daytwo.control.events import Event, EventSink, drop
from daytwo.control.scopes import Scope, Subject
from daytwo.control.switches import SwitchBoard
from daytwo.control.windows import Clock, system_clock
from daytwo.state.base import State, SwitchRecord

_WS = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")
#: Body fields that do not change what is being asked.
_IGNORED = frozenset({"stream", "stream_options", "user", "metadata", "seed", "n", "store"})


@dataclass(frozen=True, slots=True)
class LoopPolicy:
    by: Literal["session", "agent"] = "session"
    repeats: int | None = 5
    window_s: float = 60.0
    max_calls: int | None = None
    max_nanos: int | None = None
    ttl_s: float = 24 * 3600.0


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return _DIGITS.sub("0", _WS.sub(" ", value.strip().lower()))
    if isinstance(value, Mapping):
        return {str(k): _norm(v) for k, v in sorted(value.items()) if k not in _IGNORED}
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    return value


def fingerprint(body: Mapping[str, Any]) -> str:
    """A hash of what a request asks, insensitive to case, whitespace, numbers (ids, times,
    counters) and to fields that do not change the question (stream, user, metadata, seed)."""
    raw = orjson.dumps(_norm(body), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()[:32]


class LoopBreaker:
    def __init__(
        self,
        state: State,
        switches: SwitchBoard,
        policy: LoopPolicy,
        *,
        clock: Clock = system_clock,
        on_event: EventSink = drop,
    ) -> None:
        self.state = state
        self.switches = switches
        self.policy = policy
        self.clock = clock
        self.on_event = on_event

    def _scope(self, subject: Subject) -> Scope | None:
        value = subject.get(self.policy.by)
        return None if value is None else Scope.parse({self.policy.by: value})

    async def observe(self, subject: Subject, body: Mapping[str, Any]) -> SwitchRecord | None:
        """Count one call at admission. Returns the switch it tripped (refuse the call) or None."""
        scope = self._scope(subject)
        if scope is None:
            return None
        p, key, now = self.policy, scope.key(), self.clock()
        if p.repeats is not None:
            bucket = int(now // p.window_s)
            fp_key = f"loop:{key}:fp:{fingerprint(body)}:{bucket}"
            n = await self.state.adjust(fp_key, 1, ttl_s=p.window_s * 2)
            if n == p.repeats:
                return await self._trip(scope, now, f"{n} near-identical requests", n, p.repeats)
        if p.max_calls is not None:
            n = await self.state.adjust(f"loop:{key}:calls", 1, ttl_s=p.ttl_s)
            if n == p.max_calls + 1:
                return await self._trip(scope, now, f"more than {p.max_calls} calls", n, None)
        return None

    async def add_spend(self, subject: Subject, nanos: int) -> SwitchRecord | None:
        """Count a settled call's cost; trips the session when it passes ``max_nanos``."""
        scope = self._scope(subject)
        p = self.policy
        if scope is None or p.max_nanos is None or nanos <= 0:
            return None
        total = await self.state.adjust(f"loop:{scope.key()}:nanos", nanos, ttl_s=p.ttl_s)
        if total - nanos <= p.max_nanos < total:
            return await self._trip(scope, self.clock(), "session spend over its cap", total, None)
        return None

    async def _trip(
        self, scope: Scope, now: float, why: str, value: int, limit: int | None
    ) -> SwitchRecord:
        record = await self.switches.kill(
            scope, reason=f"loop breaker: {why}", who="loopbreaker", source="loopbreaker"
        )
        self.on_event(Event("loop", scope.key(), now, value=value, limit=limit, detail=why))
        return record
