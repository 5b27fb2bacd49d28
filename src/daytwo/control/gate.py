"""The spend-control gate: stage 4 of the pipeline (admit) and its other half at stage 7 (settle).

One :class:`SpendGate` per config holds the budgets, rate limits, per-request caps and loop
breaker built from ``spend_control``; the state store and the kill-switch board outlive reloads
and are handed in. Per call, in this order (cheapest and least stateful first, so a refusal
consumes nothing):

1. kill switches -- a local dict scan, no I/O (403 ``feature_disabled``);
2. per-request caps -- counted input tokens, the output cap times the choices asked for
   (``n``, ``best_of``), the worst-case cost (429 ``budget_exceeded``, code ``request_cap``; no
   ``retry-after``: retrying will not help);
3. the loop breaker -- counts the call's fingerprint for its session (trips: 403);
4. budgets -- reserve the worst case (input x 1.25 + the output cap for every choice) on
   every matching budget at once, or refuse; a ``downgrade`` refusal names the cheaper alias
   and the pipeline admits again with it;
5. rate limits -- RPM/TPM counters and a concurrency lease; a refusal releases the reservation.

:meth:`SpendGate.finish` settles the reservation to the actual cost (or releases it when the call
produced nothing), corrects TPM to the actual tokens, gives the lease back, and counts session
spend for the loop breaker. When the store cannot be reached the policy decides: ``fail_closed``
refuses with 503 ``state_unavailable``; ``fail_open`` admits the call unmetered and logs it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeGuard, TypeVar

from daytwo.config.spend import RequestCapConfig, SpendControlConfig
from daytwo.control.budgets import (
    Budget,
    Budgets,
    Refusal,
    Reservation,
    worst_case_nanos,
)
from daytwo.control.events import EventSink, drop
from daytwo.control.loopbreaker import LoopBreaker, LoopPolicy
from daytwo.control.ratelimits import RATE_TTL_S, Admission, RateLimit, RateLimiter
from daytwo.control.scopes import Scope, Subject
from daytwo.control.switches import SwitchBoard, disabled_error
from daytwo.control.windows import Clock, system_clock
from daytwo.core.errors import BudgetExceeded, StateUnavailable
from daytwo.core.money import format_usd_exact, usd_to_nanos
from daytwo.keys.model import KeyPrincipal
from daytwo.keys.specs import parse_budget
from daytwo.pricing.entry import PriceEntry

log = logging.getLogger("daytwo.control")


class _Deployment(Protocol):
    @property
    def provider(self) -> str: ...


T = TypeVar("T", bound=_Deployment)

#: Input tokens are counted by estimate (no tokenizer on the hot path); the reservation takes
#: this margin over the estimate so that an undercount does not let spend past a cap.
RESERVE_INPUT_FACTOR = 1.25
#: Fields a client may use to bound output, in the order upstreams prefer them.
OUTPUT_FIELDS = ("max_completion_tokens", "max_tokens")
#: Fields that multiply the output (read by :func:`output_choices`): every choice generated is
#: billed, each up to the output cap (``n``; ``best_of``, which OpenAI-compatible servers such as
#: vLLM generate and bill). The Anthropic and Responses doors have no equivalent (their bodies
#: never carry these fields).
CHOICE_FIELDS = ("n", "best_of")


def output_choices(body: dict[str, Any]) -> int:
    """How many choices a chat request makes the upstream generate (at least 1)."""
    asked = (body.get("n"), body.get("best_of"))
    if asked == (None, None):  # the common case, kept cheap: this runs on every call
        return 1
    return max([1, *(v for v in asked if _is_int(v))])


@dataclass(frozen=True, slots=True)
class Downgrade:
    """A ``downgrade`` budget wants this call on a cheaper alias (admit again with it)."""

    alias: str
    budget: str


@dataclass(slots=True)
class Ticket:
    """What one admitted call holds until :meth:`SpendGate.finish`."""

    subject: Subject
    input_tokens: int
    #: The output cap per choice, sent upstream; None: unbounded.
    output_cap: int | None
    #: Choices generated (``n``): the reservation covers ``output_cap`` for each.
    choices: int = 1
    reservation: Reservation | None = None
    admission: Admission | None = None
    #: Admitted without counting (fail_open while the store was unreachable).
    unmetered: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    finished: bool = False

    @property
    def reserved_output(self) -> int | None:
        """Output tokens reserved for the whole call (every choice); None: unbounded."""
        return None if self.output_cap is None else self.output_cap * self.choices


class SpendGate:
    """Built per config; ``state`` and ``switches`` are shared across reloads."""

    def __init__(
        self,
        cfg: SpendControlConfig,
        switches: SwitchBoard,
        *,
        clock: Clock = system_clock,
        on_event: EventSink = drop,
    ) -> None:
        self.cfg = cfg
        self.switches = switches
        state = switches.state
        self.budgets = Budgets(
            state,
            [
                Budget(
                    name=b.name,
                    scope=Scope.parse(b.scope),
                    window=b.window,
                    cap_nanos=None if b.usd is None else usd_to_nanos(b.usd),
                    cap_tokens=b.tokens,
                    actions=frozenset(b.actions),
                    thresholds=b.thresholds,
                    downgrade_to=b.downgrade_to,
                    downgrade_at=b.downgrade_at,
                )
                for b in cfg.budgets
            ],
            tz=cfg.timezone,
            clock=clock,
            hold_s=cfg.hold_s,
            switches=switches,
            on_event=on_event,
        )
        self.limiter = RateLimiter(
            state,
            [
                RateLimit(r.name, Scope.parse(r.scope), r.rpm, r.tpm, r.concurrent)
                for r in cfg.rate_limits
            ],
            clock=clock,
            lease_s=cfg.lease_s,
        )
        self.caps: tuple[tuple[Scope, RequestCapConfig], ...] = tuple(
            (Scope.parse(c.scope), c) for c in cfg.request_caps
        )
        lb = cfg.loop_breaker
        self.loops: LoopBreaker | None = None
        if lb is not None:
            policy = LoopPolicy(
                by=lb.by,
                repeats=lb.repeats,
                window_s=lb.window_s,
                max_calls=lb.max_calls,
                max_nanos=None if lb.max_usd is None else usd_to_nanos(lb.max_usd),
            )
            self.loops = LoopBreaker(state, switches, policy, clock=clock, on_event=on_event)
        self.clock = clock
        self.fail_open = cfg.state.on_unavailable == "fail_open"
        #: Counting is needed at all (switches are checked regardless).
        self.counting = cfg.active
        self._key_rules: dict[tuple[str, str | None, int | None, int | None], _KeyRules] = {}
        self._unmetered_logged = 0.0

    # -- admission ------------------------------------------------------------------------

    def idle_for(self, principal: KeyPrincipal | None) -> bool:
        """Nothing to check or count for this caller: no budgets, limits, caps, loop breaker,
        key limits or active switches (the pipeline then skips admission entirely)."""
        return (
            not self.counting
            and not self.switches.any_active
            and self._rules_for(principal) is None
        )

    def usable(self, targets: Sequence[T], subject: Subject) -> tuple[T, ...]:
        """The deployments no kill switch covers (no I/O). Raises ``feature_disabled`` when the
        call itself is switched off, or every deployment's provider is."""
        board = self.switches
        record = board.check(subject, kill_only=True)
        if record is None:
            keep = tuple(
                t
                for t in targets
                if board.check(replace(subject, provider=t.provider), kill_only=True) is None
            )
            if keep:
                return keep
            record = board.check(replace(subject, provider=targets[0].provider), kill_only=True)
        assert record is not None
        raise disabled_error(record, self.clock())

    async def admit(
        self,
        call_id: str,
        subject: Subject,
        body: dict[str, Any],
        input_tokens: int,
        price: PriceEntry | None,
        *,
        principal: KeyPrincipal | None = None,
        downgraded: bool = False,
    ) -> Ticket | Downgrade:
        """Admit a call or raise its :class:`SpendControlError`. May set the output cap in
        ``body`` (the reservation must bound what the call can cost). Kill switches are the
        caller's first check (:meth:`usable`)."""
        rules = self._rules_for(principal)
        if not (self.counting or rules is not None):
            return Ticket(subject, input_tokens, None)
        reserve_in = math.ceil(input_tokens * RESERVE_INPUT_FACTOR)
        choices = output_choices(body)
        output_cap = self._output_cap(subject, body, rules, choices)
        ticket = Ticket(subject, input_tokens, output_cap, choices)
        reserve_out = ticket.reserved_output or 0
        worst_nanos = 0 if price is None else worst_case_nanos(price, reserve_in, reserve_out)
        self._check_caps(subject, input_tokens, worst_nanos, price)
        try:
            if self.loops is not None and not downgraded:
                tripped = await self.loops.observe(subject, body)
                if tripped is not None:
                    raise disabled_error(tripped, self.clock())
            worst_tokens = reserve_in + reserve_out
            got = await self._admit(
                call_id, subject, worst_nanos, worst_tokens, rules, downgraded=downgraded
            )
        except StateUnavailable:
            if not self.fail_open:
                raise
            self._log_unmetered(call_id)
            ticket.unmetered = True
            return ticket
        if isinstance(got, Downgrade):
            return got
        ticket.reservation, ticket.admission = got
        ticket.headers = ticket.admission.headers
        return ticket

    async def _admit(
        self,
        call_id: str,
        subject: Subject,
        nanos: int,
        tokens: int,
        rules: _KeyRules | None,
        *,
        downgraded: bool,
    ) -> tuple[Reservation, Admission] | Downgrade:
        """Budgets, rate counters and leases in ONE state operation (one Redis round trip)."""
        planned = self.budgets.plan(
            subject,
            nanos,
            tokens,
            downgraded=downgraded,
            extra=rules.budgets if rules is not None else (),
        )
        if isinstance(planned, Refusal):
            return self._refuse(planned)
        now, holds = planned
        rate = self.limiter.plan(subject, tokens, extra=rules.limits if rules else ())
        lines = [h.line for h in holds]
        if not (lines or rate.lines or rate.leases):  # nothing to count: no round trip
            return Reservation(call_id, nanos, tokens, (), downgraded), self.limiter.admission(
                call_id, rate, ()
            )
        out = await self.budgets.state.admit(
            call_id,
            lines,
            nanos,
            tokens,
            rate.lines,
            rate.leases,
            now=now,
            hold_s=self.budgets.hold_s,
            lease_expires_at=now + self.limiter.lease_s,
        )
        if not out.ok:
            assert out.failed is not None
            if out.stage == "rate":
                raise self.limiter.rate_refusal(rate, out.failed, out.rates)
            if out.stage == "lease":
                raise self.limiter.lease_refusal(rate, out.failed, out.leases)
            refusal = await self.budgets.refused(
                holds,
                out.failed,
                out.counters[out.failed],
                (nanos, tokens),
                now=now,
                downgraded=downgraded,
            )
            return self._refuse(refusal)
        reservation = Reservation(call_id, nanos, tokens, holds, downgraded)
        return reservation, self.limiter.admission(call_id, rate, out.rates)

    def _refuse(self, refusal: Refusal) -> Downgrade:
        if refusal.downgrade_to is not None:
            return Downgrade(refusal.downgrade_to, refusal.budget.name)
        raise refusal.error(self.clock())

    def _output_cap(
        self, subject: Subject, body: dict[str, Any], rules: _KeyRules | None, choices: int
    ) -> int | None:
        """The output cap per choice. A scope's ``max_output_tokens`` bounds the whole call, all
        choices together; a request naming no cap gets the scope's share per choice."""
        asked = next((body[f] for f in OUTPUT_FIELDS if _is_int(body.get(f))), None)
        cap: int | None = None
        tightest: tuple[Scope, RequestCapConfig] | None = None
        for scope, c in self.caps:
            if c.max_output_tokens is not None and scope.resolve(subject) is not None:
                if asked is not None and asked * choices > c.max_output_tokens:
                    raise self._output_refusal(scope, c, subject, asked, choices)
                if cap is None or c.max_output_tokens < cap:
                    cap, tightest = c.max_output_tokens, (scope, c)
        if asked is not None:
            return int(asked)
        if "input" in body and "messages" not in body:
            return 0  # embeddings: no output tokens
        bounded = cap is not None or self.budgets.budgets or rules is not None
        if not bounded:
            return None
        if cap is not None:
            out = cap // choices
            if out < 1 and tightest is not None:  # not even one token per choice fits the cap
                raise self._output_refusal(*tightest, subject, 1, choices)
        else:
            out = self.cfg.default_max_output_tokens
        # The reservation must bound the call, so the upstream gets the cap it was reserved for.
        body["max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"] = out
        return out

    @staticmethod
    def _output_refusal(
        scope: Scope, c: RequestCapConfig, subject: Subject, asked: int, choices: int
    ) -> BudgetExceeded:
        key = str(scope.resolve(subject))
        limit = c.max_output_tokens
        each = f" ({choices} choices of up to {asked} each)" if choices > 1 else ""
        return BudgetExceeded(
            f"This request asks for up to {asked * choices} output tokens{each}; the cap for "
            f"scope `{key}` is {limit} per request.",
            scope=key,
            limit=limit,
            spend=asked * choices,
            unit="tokens",
            code="request_cap",
        )

    def _check_caps(
        self, subject: Subject, input_tokens: int, worst_nanos: int, price: PriceEntry | None
    ) -> None:
        for scope, c in self.caps:
            key = scope.resolve(subject)
            if key is None:
                continue
            if c.max_input_tokens is not None and input_tokens > c.max_input_tokens:
                raise BudgetExceeded(
                    f"This request has about {input_tokens} input tokens; the cap for scope "
                    f"`{key}` is {c.max_input_tokens} per request.",
                    scope=key,
                    limit=c.max_input_tokens,
                    spend=input_tokens,
                    unit="tokens",
                    code="request_cap",
                )
            if c.usd is not None and price is not None and worst_nanos > usd_to_nanos(c.usd):
                limit = usd_to_nanos(c.usd)
                raise BudgetExceeded(
                    f"This request could cost up to {format_usd_exact(worst_nanos)}; the cap for "
                    f"scope `{key}` is {format_usd_exact(limit)} per request. Lower max_tokens or "
                    "the input.",
                    scope=key,
                    limit=limit,
                    spend=worst_nanos,
                    unit="nanousd",
                    code="request_cap",
                )

    def _log_unmetered(self, call_id: str) -> None:
        now = time.monotonic()
        if now - self._unmetered_logged > 10:  # one line per 10 s, not one per call
            self._unmetered_logged = now
            log.warning(
                "spend-control state unreachable: admitting calls unmetered (fail_open)",
                extra={"call_id": call_id},
            )

    def _rules_for(self, principal: KeyPrincipal | None) -> _KeyRules | None:
        """The budget and rate limits a virtual key carries (cached per key and settings)."""
        if principal is None or (
            principal.budget is None and principal.rpm is None and principal.tpm is None
        ):
            return None
        k = (principal.key_id, principal.budget, principal.rpm, principal.tpm)
        rules = self._key_rules.get(k)
        if rules is None:
            rules = _KeyRules.of(principal)
            if len(self._key_rules) > 10_000:
                self._key_rules.clear()
            self._key_rules[k] = rules
        return rules

    # -- settlement -----------------------------------------------------------------------

    async def finish(self, ticket: Ticket, nanos: int | None, tokens: int, produced: bool) -> None:
        """Settle (``produced``: the call made output or was billed) or release. Idempotent;
        never raises for an unreachable store (the reservation then lapses after ``hold_s``)."""
        if ticket.finished:
            return
        ticket.finished = True
        res = ticket.reservation
        adm = ticket.admission
        if res is None or adm is None:
            return
        delta = tokens - adm.tokens
        adjust = [(k, delta) for k in adm.tpm_keys] if delta else []
        state = self.budgets.state
        now = self.clock()
        if not (res.holds or adjust or adm.lease_keys):
            if self.loops is not None and nanos:
                await self._loop_spend(ticket.subject, nanos)
            return
        try:
            out = await state.finish(
                res.call_id,
                res.lines,
                nanos or 0,
                tokens,
                spent=produced,
                adjust=adjust,
                adjust_ttl_s=RATE_TTL_S,
                lease_keys=adm.lease_keys,
                now=now,
            )
            adm.finished = True
            if produced:
                await self.budgets.settled(res, out, nanos or 0, tokens, now=now)
        except StateUnavailable:
            log.warning("spend-control state unreachable at settle; the hold lapses by itself")
            return
        if self.loops is not None and nanos:
            await self._loop_spend(ticket.subject, nanos)

    async def _loop_spend(self, subject: Subject, nanos: int) -> None:
        assert self.loops is not None
        try:
            await self.loops.add_spend(subject, nanos)
        except StateUnavailable:
            log.warning("spend-control state unreachable: session spend not counted")


@dataclass(frozen=True, slots=True)
class _KeyRules:
    budgets: tuple[Budget, ...]
    limits: tuple[RateLimit, ...]

    @classmethod
    def of(cls, p: KeyPrincipal) -> _KeyRules:
        scope = Scope.parse({"key": p.key_id})
        budgets: tuple[Budget, ...] = ()
        if p.budget is not None:
            spec = parse_budget(p.budget)
            budgets = (
                Budget(
                    name=f"key:{p.key_id}",
                    scope=scope,
                    window=spec.window,  # type: ignore[arg-type]  # checked by parse_budget
                    cap_nanos=usd_to_nanos(spec.usd),
                    actions=frozenset({"alert", "block"}),
                ),
            )
        limits: tuple[RateLimit, ...] = ()
        if p.rpm is not None or p.tpm is not None:
            limits = (RateLimit(f"key:{p.key_id}", scope, p.rpm, p.tpm),)
        return cls(budgets, limits)


def key_rules(principal: KeyPrincipal) -> _KeyRules:
    """The budgets and rate limits a virtual key carries, as the gate enforces them (what a
    rebuild from the ledger re-counts)."""
    return _KeyRules.of(principal)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def price_of_route(
    targets: Sequence[Any], lookup: Callable[[Any], PriceEntry | None]
) -> PriceEntry | None:
    """The dearest price among a route's deployments (failover may reach any of them)."""
    if len(targets) == 1:
        return lookup(targets[0])
    best: PriceEntry | None = None
    best_cost = -1
    for t in targets:
        p = lookup(t)
        if p is None:
            continue
        c = worst_case_nanos(p, 1000, 1000)
        if c > best_cost:
            best, best_cost = p, c
    return best
