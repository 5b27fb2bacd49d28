"""The one path every call takes, whatever door it came in by.

::

    1 authenticate   a daytwo virtual key (keys/, answered from an in-memory snapshot; a key
                     created since is looked up in the store once); its attribution overrides
                     headers and it may be limited to some models
    2 attribute      attribution.py: project, workflow, feature, agent, session, user, env, tags
    3 resolve        prompt_stage.py: a call naming a prompt (``model: prompt:NAME[@label|@vN]``
                     or ``X-Daytwo-Prompt``) gets its rendered messages, parameters and alias
    4 admit          pricing policy (``deny`` refuses unpriced models before any upstream call);
                     spend control (control/gate.py): kill switches, per-request caps, loop
                     breaker, budget reservation (or a downgrade), rate limits
    5 route          alias → ordered deployments
    6 call           the provider adapter (attempts.py: retries, failover to the next
                     deployment on a retryable error, but never after the first streamed byte
                     reached the client)
    7 settle         usage → exact cost (nano-dollars) from the price book
    8 record         one CallRecord (call_record.py) into the ledger queue (never waits on the
                     database)

Ingress code (``app.py``) decodes the wire format, calls :meth:`Pipeline.begin` and
:meth:`Pipeline.admit`, then :meth:`Pipeline.complete` or :meth:`Pipeline.stream`, and encodes
the result; a call's state between stages is a :class:`~daytwo.gateway.call.Call`. Whatever
happens -- success, upstream failure, a refused or malformed request, a client that went away --
exactly one record is written, by :meth:`Pipeline.finish`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from dataclasses import replace
from functools import partial
from typing import Any, Protocol

from daytwo.control.gate import Downgrade, SpendGate, Ticket, price_of_route
from daytwo.control.scopes import Scope, Subject
from daytwo.control.switches import disabled_error
from daytwo.core.errors import (
    AuthenticationError,
    BudgetExceeded,
    DaytwoError,
    InternalError,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    UnpricedModel,
    WrongEndpoint,
)
from daytwo.core.ids import new_call_id, new_trace_id
from daytwo.core.observe import CallObserver, CallView
from daytwo.core.record import CallRecord, CallStatus
from daytwo.core.secrets import SecretRegistry
from daytwo.core.tokens import chunk_output_chars, estimate_input_tokens, tokens_for_chars
from daytwo.core.types import Attribution, Cost, LLMRequest, LLMResponse, StreamChunk, Usage
from daytwo.gateway import degrade
from daytwo.gateway.attempts import output_guard, past_limit, prepend, run_attempts
from daytwo.gateway.attribution import attribute, attribute_unparsed, with_key
from daytwo.gateway.audit_stage import capture as audit_capture
from daytwo.gateway.call import Call as Call  # re-exported: the doors import it from here
from daytwo.gateway.call import sticky_key, subject_of
from daytwo.gateway.call_record import call_record
from daytwo.gateway.prompt_stage import PREFIX as PROMPT_PREFIX
from daytwo.gateway.prompt_stage import PROMPT_HEADER, prompt_variables, reported, resolve
from daytwo.gateway.runtime import Route, Runtime, same_wire
from daytwo.gateway.shadow import SHADOW_HEADER, ShadowRunner
from daytwo.gateway.stream_assemble import Assembler, chunks_of
from daytwo.keys.format import SECRET_PREFIX
from daytwo.keys.model import KeyPrincipal
from daytwo.prompts import PromptSet
from daytwo.prompts.render import VARIABLES_FIELD
from daytwo.prompts.store import Resolved
from daytwo.providers.base import Adapter, Target, UpstreamStream
from daytwo.providers.openai_wire import client_wants_usage, openai_usage
from daytwo.replay import CachedAnswer, ResponseCache, cache_key
from daytwo.resilience.plan import pick_tier
from daytwo.rollout.assign import arm
from daytwo.rollout.board import RolloutBoard
from daytwo.state.base import SwitchChange, SwitchRecord

log = logging.getLogger("daytwo.access")
#: The most choices a degraded static answer repeats its message in (the client's ``n``).
MAX_CHOICES = 128
#: The request header that selects a tier rule's ``hint``.
ROUTE_HINT_HEADER = b"x-daytwo-route-hint"


class LedgerSink(Protocol):
    def submit(self, record: CallRecord) -> None: ...


class KeyAuthenticator(Protocol):
    def authenticate(self, secret: str, now: float | None = None) -> KeyPrincipal | None: ...

    async def lookup(self, secret: str, now: float | None = None) -> KeyPrincipal | None: ...


#: One answer for every key that is not good (unknown, malformed, revoked, expired): a caller
#: learns nothing about which it was.
BAD_KEY = "Incorrect API key provided. Use a daytwo virtual key (dt2_sk_...)."
NO_KEY = (
    "You didn't provide an API key. You need to provide your daytwo virtual key in an "
    "Authorization header using Bearer auth (i.e. Authorization: Bearer dt2_sk_...)."
)


class Pipeline:
    def __init__(
        self,
        runtime: Callable[[], Runtime],
        ledger: LedgerSink,
        secrets: SecretRegistry,
        *,
        keys: Callable[[], KeyAuthenticator | None] = lambda: None,
        cache: Callable[[], ResponseCache | None] = lambda: None,
        prompts: Callable[[], PromptSet | None] = lambda: None,
        rollouts: Callable[[], RolloutBoard | None] = lambda: None,
        access_log: bool = True,
        observers: tuple[CallObserver, ...] = (),
    ) -> None:
        self._runtime = runtime
        self._ledger = ledger
        self._keys = keys
        self._cache = cache
        self._prompts = prompts
        self._rollouts = rollouts
        self._redact = secrets.redact
        self.access_log = access_log
        #: Told of every finished call (metrics, traces, alerts).
        self.observers = observers
        #: Assemble streamed answers for observers (content capture in traces, audit).
        self.assemble_streams = False
        #: Stage 8 hands the audit trail each call's capture (the gateway turns it on).
        self.audit = False
        #: Mirrors shadow-sampled calls to their rollout's candidate (the gateway sets it).
        self.shadow: ShadowRunner | None = None
        #: Calls streaming right now (a kill switch ends those in its scope).
        self.streaming: dict[str, Call] = {}
        #: Spend-control settlements and cache writes still running (awaited by :meth:`drain`).
        self._settling: set[asyncio.Task[Any]] = set()

    # -- stages 1-2 -------------------------------------------------------------------------

    def open(self, operation: str, trace_id: str | None = None) -> Call:
        """Start a call (before its body is decoded, so that even malformed calls get a record)."""
        runtime = self._runtime()
        runtime.inflight += 1
        return Call(
            id=new_call_id(),
            trace_id=trace_id or new_trace_id(),
            started_at=time.time(),
            t0=time.perf_counter(),
            runtime=runtime,
            operation=operation,
        )

    def authenticate(self, call: Call, headers: dict[bytes, bytes]) -> None:
        """Stage 1 from the in-memory key snapshot only (no I/O). With
        ``gateway.require_keys`` every call needs a good virtual key; without it, a daytwo key
        that is presented must still be good (other tokens are ignored). A key created since
        the snapshot's last refresh is refused here: LLM calls use :meth:`identify`."""
        secret = self._presented(call, headers)
        if secret is None:
            return
        keys = self._keys()
        principal = keys.authenticate(secret) if keys is not None else None
        if principal is None:
            raise AuthenticationError(BAD_KEY, code="invalid_api_key")
        call.principal = principal

    async def identify(self, call: Call, headers: dict[bytes, bytes]) -> None:
        """Stage 1 as :meth:`authenticate`, and a key the snapshot does not hold (just
        created, on this gateway or another) is looked up in the store off the event loop
        (keys/cache.py) instead of being refused. A key the snapshot holds costs no I/O."""
        secret = self._presented(call, headers)
        if secret is None:
            return
        keys = self._keys()
        principal = None
        if keys is not None:
            principal = keys.authenticate(secret) or await keys.lookup(secret)
        if principal is None:
            raise AuthenticationError(BAD_KEY, code="invalid_api_key")
        call.principal = principal

    @staticmethod
    def _presented(call: Call, headers: dict[bytes, bytes]) -> str | None:
        """The key to check, or None when there is none to check (and none is required)."""
        required = call.runtime.config.gateway.require_keys
        auth = headers.get(b"authorization", b"")
        secret = auth[7:].decode("latin-1").strip() if auth[:7].lower() == b"bearer " else ""
        if not secret:  # the Anthropic SDK sends its key as `x-api-key`
            secret = headers.get(b"x-api-key", b"").decode("latin-1").strip()
        if not secret or not (required or secret.startswith(SECRET_PREFIX)):
            if required:
                raise AuthenticationError(NO_KEY, code="invalid_api_key")
            return None
        return secret

    def begin(
        self, call: Call, req: LLMRequest, headers: dict[bytes, bytes], raw: bytes = b""
    ) -> Route:
        """Stages 2-3 and the route (``raw``: the request body, where a prompt's variables
        are read from when the door's translation left them out)."""
        call.request = req
        call.alias = req.model
        call.stream = req.stream
        principal = call.principal
        try:
            attr = with_key(attribute(headers, req.body), principal)
        except InvalidRequest:  # a bad header or metadata value: still the key's call
            call.attribution = with_key(Attribution(), principal)
            raise
        call.attribution = attr
        board = self._rollouts()
        if board is not None and not board.any:
            board = None
        client = req.body
        if self.shadow is not None:
            marker = headers.get(SHADOW_HEADER)
            if marker is not None:
                mirrored_for = self.shadow.rollout_of(marker)
                if mirrored_for is not None:  # a mirrored call: the candidate, as named
                    call.rollout = (mirrored_for, "shadow")
                    board = None
        prompt = headers.get(PROMPT_HEADER)
        if prompt is not None and b"hash=" in prompt:  # rendered by the client: recorded
            call.prompt = reported(prompt)
        elif prompt is not None or req.model.startswith(PROMPT_PREFIX):  # stage 3

            def found_as(found: Resolved) -> None:
                v = found.version
                call.prompt = (v.name, v.version, found.label, v.hash)

            prompts = self._prompts()
            choose = None
            if board is not None and prompts is not None:
                choose = partial(_prompt_rollout, call, board, prompts)
            resolve(prompts, req, prompt, raw, attr.environment, found_as, choose)
            call.alias = req.model
            if call.mirror is not None and call.prompt is not None:
                call.mirror_body = {
                    **client,
                    "model": f"prompt:{call.prompt[0]}@v{call.mirror.candidate}",
                    VARIABLES_FIELD: prompt_variables(client, raw),
                }
        if principal is not None and not principal.allows_model(req.model):
            raise PermissionDenied(
                f"This key may not use the model `{req.model}`.",
                param="model",
                code="model_not_allowed",
            )
        if board is not None and call.rollout is None:
            rollout = board.alias(call.alias)
            if rollout is not None:
                served, mirrored = arm(rollout, sticky_key(call, rollout.sticky))
                call.rollout = (rollout.id, served)
                if mirrored:
                    call.mirror = rollout
                    call.mirror_body = {**req.body, "model": rollout.candidate}
                if served == "candidate":
                    return self._route(call, rollout.candidate)
        plan = call.runtime.resilience.plans.get(call.alias)
        if plan is not None and plan.tiers:
            hint = headers.get(ROUTE_HINT_HEADER)
            tier = pick_tier(
                plan.tiers,
                hint=hint.decode("latin-1").strip() if hint else None,
                tags=attr.tags,
                input_tokens=estimate_input_tokens(req.body),
            )
            if tier is not None:
                return self._route(call, tier)
        return self._route(call)

    @staticmethod
    def attribute_refused(
        call: Call, headers: dict[bytes, bytes], raw: bytes, error: DaytwoError
    ) -> None:
        """Stage 2 for a call refused before :meth:`begin` ran (a body that failed validation):
        attribute it from its key and headers anyway, and name the alias when the body names a
        string model, so refusals are not counted as unattributed. Runs only on that error
        path. A call whose key was refused stays unattributed: its headers are a stranger's."""
        if call.request is not None or isinstance(error, AuthenticationError):
            return
        call.attribution, alias = attribute_unparsed(headers, raw, call.principal)
        call.alias = alias or call.alias

    # -- stages 4-5 -------------------------------------------------------------------------

    def _route(self, call: Call, alias: str | None = None) -> Route:
        runtime = call.runtime
        alias = alias or call.alias
        route = runtime.routes.get(alias)
        if route is None:
            raise ModelNotFound(alias)
        # An alias answers only its kind's endpoints (else billed at the wrong price);
        # count_tokens counts for chat.
        if route.kind != ("embeddings" if call.operation == "embeddings" else "chat"):
            raise WrongEndpoint(alias, route.kind)
        native = call.request.native if call.request is not None else None
        if native is not None and native.requires is not None:
            route = same_wire(route, native, runtime.provider_types)
        admitted = tuple(
            t
            for t in route.targets
            if runtime.prices.admits(
                t.model, provider=t.provider, provider_type=runtime.provider_types[t.provider]
            )
        )
        if not admitted:
            raise UnpricedModel(alias)
        if len(admitted) != len(route.targets):
            route = replace(route, targets=admitted)
        return route

    async def admit(self, call: Call, route: Route) -> Route:
        """Stage 4, spend control: raise the refusal, or return the route to call (a
        ``downgrade`` budget may have swapped in a cheaper alias's route)."""
        gate = call.runtime.gate
        principal = call.principal
        if gate is None or gate.idle_for(principal):
            return route
        assert call.request is not None
        subject = subject_of(call)
        switch = gate.switches.check(subject) if gate.switches.any_active else None
        if switch is not None and switch.degraded:
            call.degraded = switch
            if switch.mode != "alias":
                return await self._canned(call, route, switch)
            assert switch.alias is not None
            try:
                route = self._route(call, switch.alias)
            except (ModelNotFound, WrongEndpoint):
                raise degrade.unknown_alias(switch) from None
            call.degraded_as = "alias"
            subject = replace(subject, model=switch.alias)
        route = _unswitched(gate, route, subject)
        subject = replace(subject, provider=route.targets[0].provider)
        body = call.request.body
        tokens = _input_tokens(call.request, route)
        runtime = call.runtime
        price = price_of_route(route.targets, runtime.price_of)
        got = await gate.admit(call.id, subject, body, tokens, price, principal=principal)
        if isinstance(got, Downgrade):
            route = self._route(call, got.alias)
            subject = replace(subject, model=got.alias, provider=route.targets[0].provider)
            route = _unswitched(gate, route, subject)
            tokens = _input_tokens(call.request, route)
            price = price_of_route(route.targets, runtime.price_of)
            got = await gate.admit(
                call.id, subject, body, tokens, price, principal=principal, downgraded=True
            )
            assert isinstance(got, Ticket)  # a downgraded call is never downgraded again
        call.ticket = got
        call.gate = gate
        return route

    async def _canned(self, call: Call, route: Route, switch: SwitchRecord) -> Route:
        """A degraded scope's ``static`` or ``cached`` answer, ready for stage 6 (no upstream
        call, nothing admitted: it costs nothing)."""
        if switch.mode == "cached":
            cached = self._cache_slot(call, route)
            hit = await cached[0].get(cached[1]) if cached is not None else None
            if hit is not None:
                self._hit(call, hit)
                call.canned, call.degraded_as = hit.body, "cached"
                return route
        if call.operation == "embeddings":
            raise degrade.no_embeddings(switch)
        assert call.request is not None
        n = call.request.body.get("n")
        call.canned = degrade.static_answer(
            call.id,
            call.started_at,
            call.alias,
            degrade.message_of(switch),
            n if isinstance(n, int) and 1 <= n <= MAX_CHOICES else 1,
        )
        call.degraded_as = "static"
        call.usage = Usage()
        call.cost = Cost(0, None)
        return route

    # -- stage 6 ----------------------------------------------------------------------------

    async def complete(self, call: Call, route: Route) -> LLMResponse:
        """Non-streamed chat or embeddings, with retries and failover."""
        if call.canned is not None:  # degraded mode
            call.answer = call.canned
            return LLMResponse(body=call.canned, usage=Usage(), served_model=call.served_model)
        embeddings = call.operation == "embeddings"
        cached = self._cache_slot(call, route)
        if cached is not None:
            hit = await cached[0].get(cached[1])
            if hit is not None:
                self._hit(call, hit)
                call.answer = hit.body
                return LLMResponse(body=hit.body, usage=hit.usage, served_model=hit.served_model)

        async def once(adapter: Adapter, req: LLMRequest, target: Target) -> LLMResponse:
            if embeddings:
                return await adapter.embed(req, target)
            return await adapter.complete(req, target)

        resp = await run_attempts(call, route, once, lambda r: r.rate_headers)
        call.usage = resp.usage
        call.served_model = resp.served_model
        call.fingerprint = resp.fingerprint
        call.upstream_request_id = resp.upstream_request_id
        call.answer = resp.body
        if cached is not None:
            self._fill(call, cached, resp.body)
        return resp

    # -- the response cache -----------------------------------------------------------------

    def _cache_slot(self, call: Call, route: Route) -> tuple[ResponseCache, str, float] | None:
        """(cache, key, ttl) when this call's alias or project opted in to the cache."""
        cache = self._cache()
        if cache is None:
            return None
        ttl = call.runtime.config.cache.applies(route.alias, call.attribution.project)
        if ttl is None:
            return None
        req = call.request
        assert req is not None
        native = req.native
        if native is not None and native.requires is not None:
            # A cached answer is kept Chat Completions-shaped: it cannot give back the thinking
            # blocks such a request asks for.
            return None
        # The client's own body when kept: fields the normalized one lacks (cache_control, ...)
        # make different requests.
        body = native.body if native is not None else req.body
        key = cache_key(call.attribution.project, call.operation, route.alias, body)
        return cache, key, ttl

    @staticmethod
    def _hit(call: Call, hit: CachedAnswer) -> None:
        """Answered from the cache: no tokens used, nothing spent, the original cost saved."""
        call.cache_status = "hit"
        call.saved_nanousd = hit.cost_nanousd
        call.served_model = hit.served_model or None
        call.usage = Usage()
        call.cost = Cost(0, "cache")

    def _fill(
        self, call: Call, cached: tuple[ResponseCache, str, float], body: dict[str, Any]
    ) -> None:
        """Store a fresh answer, off the response path."""
        assert call.usage is not None
        assert call.target is not None
        self._settle(call)
        answer = CachedAnswer.from_usage(
            body,
            call.usage,
            cost_nanousd=call.cost.nanousd if call.cost else None,
            served_model=call.served_model or "",
            provider=call.target.provider,
            deployment=call.target.deployment,
        )
        cache, key, ttl = cached
        self.background(cache.put(key, answer, ttl))

    def background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` off the response path; :meth:`drain` waits for it at shutdown."""
        task = asyncio.get_running_loop().create_task(work)
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def stream(self, call: Call, route: Route) -> AsyncGenerator[StreamChunk, None]:
        """Open the stream (retrying and failing over while nothing was sent) and relay its
        chunks; never retry after the first chunk went to the client.

        Usage comes from the upstream's final report; without one it is counted from the
        streamed text and flagged as estimated, also when the client goes away mid-stream.
        """
        assert call.request is not None
        if call.canned is not None:  # degraded mode
            call.answer = call.canned
            call.ttft_ms = (time.perf_counter() - call.t0) * 1000
            for data in chunks_of(call.canned, include_usage=client_wants_usage(call.request.body)):
                yield StreamChunk(data=data)
            return
        cached = self._cache_slot(call, route)
        assembler: Assembler | None = None
        if cached is not None:
            hit = await cached[0].get(cached[1])
            if hit is not None:
                self._hit(call, hit)
                for data in chunks_of(
                    hit.body, include_usage=client_wants_usage(call.request.body)
                ):
                    if call.ttft_ms is None:
                        call.ttft_ms = (time.perf_counter() - call.t0) * 1000
                    yield StreamChunk(data=data)
                return
            assembler = Assembler()
        elif self.assemble_streams:
            assembler = Assembler()

        async def once(
            adapter: Adapter, req: LLMRequest, target: Target
        ) -> tuple[UpstreamStream, AsyncIterator[StreamChunk], StreamChunk | None]:
            up = await adapter.stream(req, target)
            try:
                # Nothing reaches the client before the first chunk: an upstream that fails
                # before it (closed after its headers, a broken first event) still fails over.
                it = aiter(up)
                return up, it, await anext(it, None)
            except BaseException:
                await up.aclose()
                raise

        upstream, chunks, first = await run_attempts(
            call, route, once, lambda opened: opened[0].rate_headers
        )
        call.upstream_request_id = upstream.upstream_request_id
        upstream_model = call.target.model if call.target is not None else ""
        out_chars = 0
        limit = output_guard(call)
        self.streaming[call.id] = call
        try:
            async for chunk in prepend(first, chunks):
                if call.killed is not None:
                    raise disabled_error(call.killed, time.time())
                if limit is not None and past_limit(upstream.usage, limit):
                    raise BudgetExceeded(
                        "The upstream reports more output than this call's budget reservation "
                        "covers (it ignored the max_tokens it was sent).",
                        scope="request",
                        limit=limit,
                        spend=upstream.usage.output_tokens if upstream.usage else None,
                        unit="tokens",
                        code="reservation_exhausted",
                    )
                if call.ttft_ms is None:
                    call.ttft_ms = (time.perf_counter() - call.t0) * 1000
                out_chars += chunk_output_chars(chunk.data)
                data = chunk.data
                if assembler is not None:
                    assembler.feed(data)
                elif call.response_id is None:
                    call.response_id = data.get("id")
                for choice in data.get("choices") or ():
                    if choice.get("finish_reason"):
                        call.finish_reasons.append(choice["finish_reason"])
                yield chunk
            whole = assembler.result() if assembler is not None else None
            if whole is not None:
                call.answer = whole
            if cached is not None and whole is not None and upstream.usage is not None:
                call.usage = upstream.usage
                call.served_model = upstream.served_model
                self._fill(call, cached, {**whole, "usage": openai_usage(upstream.usage)})
        finally:
            self.streaming.pop(call.id, None)
            call.served_model = upstream.served_model
            call.fingerprint = upstream.fingerprint
            if upstream.usage is not None:
                call.usage = upstream.usage
            else:
                out = tokens_for_chars(out_chars)
                reserved = call.ticket.reserved_output if call.ticket is not None else None
                if reserved is not None and limit is None:
                    # sent its cap and trusted to keep it: it cannot have made more than that
                    out = min(out, reserved)
                call.usage = Usage(
                    input_tokens=estimate_input_tokens(call.request.body, (upstream_model,)),
                    output_tokens=out,
                    estimated=True,
                )
            await upstream.aclose()

    # -- stages 7-8 -------------------------------------------------------------------------

    def _settle(self, call: Call) -> None:
        if call.usage is None or call.target is None or call.cache_status is not None:
            return
        runtime = call.runtime
        target = call.target
        ptype = runtime.provider_types.get(target.provider)
        model = call.served_model or target.model
        cost = runtime.prices.cost(call.usage, model, provider=target.provider, provider_type=ptype)
        if cost.nanousd is None and model != target.model:
            cost = runtime.prices.cost(
                call.usage, target.model, provider=target.provider, provider_type=ptype
            )
        call.cost = cost

    def finish(
        self,
        call: Call,
        error: BaseException | None = None,
        *,
        cancelled: bool = False,
    ) -> CallRecord | None:
        """Settle and record the call exactly once. Returns the record (None if already done)."""
        if call.finished:
            return None
        call.finished = True
        call.runtime.release()
        self._settle(call)
        status: CallStatus
        err_class = err_msg = None
        if cancelled:
            status, http_status = "cancelled", 499
            err_class = "ClientDisconnected"
        elif error is None:
            status, http_status = "ok", 200
        else:
            exc = error if isinstance(error, DaytwoError) else InternalError("internal error")
            http_status = exc.status_code()
            status = "error" if exc.fault in ("provider", "internal") else "rejected"
            err_class = exc.error_class
            err_msg = self._redact(exc.message)
        call.outcome = status
        record = call_record(call, status, http_status, err_class, err_msg)
        if self.audit:
            record.audit = audit_capture(call)
        usage = call.usage or Usage()
        self._ledger.submit(record)
        if call.mirror_body is not None and status == "ok" and self.shadow is not None:
            self.shadow.mirror(call, call.mirror_body)
        if self.observers:
            answer = call.answer
            view = CallView(
                traceparent=call.traceparent,
                request=call.request.body if call.request is not None else None,
                response=answer,
                finish_reasons=_finish_reasons(answer) if answer else tuple(call.finish_reasons),
                response_id=(answer.get("id") if answer else None) or call.response_id,
                context=call.request.context if call.request is not None else None,
            )
            for observe in self.observers:
                observe(record, view)
        ticket = call.ticket
        if ticket is not None and call.gate is not None and not ticket.finished:
            produced = usage.total_tokens > 0 and call.usage is not None
            self.background(
                call.gate.finish(ticket, record.cost_nanousd, usage.total_tokens, produced)
            )
        if self.access_log:
            log.info(
                "call",
                extra={
                    "call_id": record.id,
                    "trace_id": record.trace_id,
                    "alias": record.alias,
                    "deployment": record.deployment,
                    "status": status,
                    "http_status": http_status,
                    "latency_ms": round(record.latency_ms, 2),
                    "project": record.project,
                    "tokens_in": record.input_tokens,
                    "tokens_out": record.output_tokens,
                    "error_class": err_class,
                },
            )
        return record

    def on_switch(self, change: SwitchChange) -> None:
        """A kill switch was flipped (here or on another replica): end streams in its scope."""
        record = change.record
        if record is None or record.degraded or not self.streaming:
            return
        scope = Scope.parse(record.key)
        for call in self.streaming.values():
            if scope.resolve(subject_of(call)) is not None:
                call.killed = record

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for spend-control settlements still running (graceful shutdown)."""
        if self._settling:
            await asyncio.wait(set(self._settling), timeout=timeout_s)


def _input_tokens(req: LLMRequest, route: Route) -> int:
    """The call's input as spend control counts it: for the models the route may reach (some
    count images by their own formula), and on the client's own body too when its door keeps
    one (Anthropic): content the normalized body has no words for (documents, ...) still goes
    to an upstream of that format."""
    models = _models(route)
    tokens = estimate_input_tokens(req.body, models)
    if req.native is not None:
        tokens = max(tokens, estimate_input_tokens(req.native.body, models))
    return tokens


def _models(route: Route) -> tuple[str, ...]:
    targets = route.targets
    if len(targets) == 1:
        return (targets[0].model,)
    return tuple({t.model: None for t in targets})


def _finish_reasons(answer: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        c["finish_reason"]
        for c in answer.get("choices") or ()
        if isinstance(c, dict) and isinstance(c.get("finish_reason"), str)
    )


def _unswitched(gate: SpendGate, route: Route, subject: Subject) -> Route:
    """The route without the deployments whose provider is switched off."""
    keep = gate.usable(route.targets, subject)
    return route if len(keep) == len(route.targets) else replace(route, targets=keep)


def _prompt_rollout(
    call: Call, board: RolloutBoard, prompts: PromptSet, found: Resolved
) -> Resolved:
    """The version a rolled-out label serves this call (its arm by the sticky key)."""
    name = found.version.name
    assert found.label is not None
    rollout = board.prompt(name, found.label)
    if rollout is None:
        return found
    served, mirrored = arm(rollout, sticky_key(call, rollout.sticky))
    number = int(rollout.candidate if served == "candidate" else rollout.control)
    version = prompts.versions.get(name, {}).get(number)
    if version is None:  # the version left the directory: the label's own
        return found
    call.rollout = (rollout.id, served)
    call.mirror = rollout if mirrored else None
    return Resolved(version, found.label)
