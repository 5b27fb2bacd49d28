"""The gateway ASGI app: routes, the OpenAI ingress/egress, lifespan, reload.

Built by :func:`daytwo.admin.mount.create_app`, which also mounts the admin API (a room
above this one: the gateway only hands it every ``/admin/`` path, see
:meth:`Gateway.mount_admin`); every resource (runtime, ledger, log listener) lives on the app
object and opens and closes in the ASGI lifespan.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import logging.handlers
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from daytwo.alerts.engine import AlertEngine
from daytwo.config.schema import Config
from daytwo.core.errors import (
    AuthenticationError,
    DaytwoError,
    InternalError,
    NotFound,
    StateUnavailable,
)
from daytwo.core.score import ScoreRecord
from daytwo.core.secrets import SecretRegistry
from daytwo.core.types import LLMRequest
from daytwo.gateway import degrade, loopback, models, prompt_api
from daytwo.gateway import openai_format as oai
from daytwo.gateway.anthropic_ingress import ANTHROPIC_MESSAGES
from daytwo.gateway.audit_service import AuditService
from daytwo.gateway.connections import Guard
from daytwo.gateway.count_tokens import count_tokens
from daytwo.gateway.feedback import PATH as FEEDBACK_PATH
from daytwo.gateway.feedback import FeedbackRoute
from daytwo.gateway.http import (
    JSON_HEADERS,
    SSE_HEADERS,
    ClientGone,
    DisconnectWatch,
    Receive,
    Scope,
    Send,
    read_body,
    send_bytes,
    send_json,
)
from daytwo.gateway.idempotent import HEADER as IDEMPOTENCY_KEY
from daytwo.gateway.idempotent import Claim, claim, replay_headers
from daytwo.gateway.ingress import OPENAI_CHAT, OPENAI_EMBEDDINGS, Ingress, StreamEncoder
from daytwo.gateway.pipeline import Call, Pipeline
from daytwo.gateway.prompt_stage import PromptSource, prompt_set_summary
from daytwo.gateway.reload import ConfigWatcher
from daytwo.gateway.responses_ingress import RESPONSES
from daytwo.gateway.runtime import Runtime
from daytwo.gateway.scrape import scrape_state
from daytwo.gateway.shadow import ShadowRunner
from daytwo.gateway.spend import SpendControl
from daytwo.keys.cache import KeyCache
from daytwo.keys.hashing import pepper_from_env
from daytwo.keys.store import KeyStore
from daytwo.ledger.writer import Ledger
from daytwo.lifecycle.check import startup_findings
from daytwo.prompts.store import PromptSet
from daytwo.quality.pairwise import PairwiseJudge
from daytwo.quality.room import QualityRoom
from daytwo.replay import (
    IdempotencyStore,
    Replay,
    ResponseCache,
    StoredOutcome,
    open_cache,
    open_idempotency,
)
from daytwo.rollout.board import RolloutBoard
from daytwo.rollout.controller import RolloutController
from daytwo.rollout.gitops import GitOps
from daytwo.rollout.model import Criteria
from daytwo.rollout.store import RolloutStore
from daytwo.telemetry.evaluation import EvaluationMetrics
from daytwo.telemetry.hub import Telemetry
from daytwo.telemetry.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

log = logging.getLogger("daytwo.gateway")

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Every path under this prefix is the admin API's (mounted by the room above).
ADMIN_PREFIX = "/admin/"
#: What a non-streamed answer cost, in exact decimal dollars (the ledger row's cost), when priced.
COST_HEADER = b"x-daytwo-cost-usd"


class Service(Protocol):
    """Something a room above the gateway runs beside it (drift's model watch and monitor):
    started after the gateway's own parts, told every applied reload, closed first."""

    async def start(self, gateway: Gateway) -> None: ...

    async def reload(self, config: Config) -> None: ...

    async def aclose(self) -> None: ...


_TRACEPARENT = re.compile(rb"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


class Gateway:
    """The ASGI application."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: str | Path | None = None,
        secrets: SecretRegistry | None = None,
        log_listener: logging.handlers.QueueListener | None = None,
    ) -> None:
        self.secrets = secrets or SecretRegistry()
        self.config_path = Path(config_path) if config_path else None
        self._base_dir = self.config_path.parent if self.config_path else None
        self.runtime = Runtime.build(config, self.secrets, base_dir=self._base_dir)
        self.ledger: Ledger | None = None
        self.keys: KeyCache | None = None
        self._key_store: KeyStore | None = None
        #: The rollouts calls are routed by (daytwo.rollout; read from the ledger's database).
        self.rollouts: RolloutBoard | None = None
        #: Moves every running rollout on its evidence (promote, wait, roll back).
        self.rollout_controller: RolloutController | None = None
        #: Rollouts the prompt directory's label changes start (rollouts.yaml).
        self.gitops: GitOps | None = None
        self.spend: SpendControl | None = None
        self.cache: ResponseCache | None = None
        self.idempotency: IdempotencyStore | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        #: The prompts the gateway serves (loaded at start, reloaded when the directory changes).
        self.prompts = PromptSource(config.prompts, self._base_dir)
        self.telemetry = Telemetry(config.telemetry, self.secrets, config.audit.redaction)
        if self.telemetry.tracing is not None:
            self.telemetry.tracing.use_provider_types(lambda: self.runtime.provider_types)
        self.pipeline = Pipeline(
            lambda: self.runtime,
            self,
            self.secrets,
            keys=lambda: self.keys,
            cache=lambda: self.cache,
            prompts=lambda: self.prompts.current,
            rollouts=lambda: self.rollouts,
            access_log=config.logging.access_log,
            observers=self.telemetry.observers(),
        )
        self.pipeline.shadow = ShadowRunner(
            self,
            lambda: self.config.rollouts,
            self.secrets,
            self.pipeline.background,
            pairwise=PairwiseJudge(self._judge_call, self, lambda: self.config.quality.judge),
        )
        traces = config.telemetry.traces
        self.pipeline.assemble_streams = traces.enabled and traces.capture_content
        # Alerting (daytwo.alerts): rules beside the call path; the engine hears every call.
        self.alerts = AlertEngine(config, self.secrets)
        self.pipeline.observers = (*self.pipeline.observers, self.alerts.observe)
        # The audit trail (daytwo.audit): stage 8 hands each call's capture to the ledger's
        # writer, which chains it (and its content, redacted as the policy says) with the row.
        self.audit = AuditService(config, self.secrets)
        self.pipeline.audit = config.audit.enabled
        if config.audit.captures_content:
            self.pipeline.assemble_streams = True
        # Online evaluators (daytwo.quality): after the answer went out, in their own queue.
        self.quality = self._quality_room(config)
        self.ready = False
        #: The connection guards of the listeners serving this app (filled by the server).
        self.listeners: dict[str, Guard] = {}
        self._log_listener = log_listener
        self._watcher: ConfigWatcher | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._admin: Handler = self._no_admin
        self._services: list[Service] = []
        self._routes: dict[tuple[bytes, str], Handler] = {
            (b"POST", "/v1/chat/completions"): self._door(OPENAI_CHAT, "chat"),
            (b"POST", "/v1/embeddings"): self._door(OPENAI_EMBEDDINGS, "embeddings"),
            (b"POST", "/v1/messages"): self._door(ANTHROPIC_MESSAGES, "chat"),
            (b"POST", "/v1/messages/count_tokens"): self._count_tokens,
            (b"POST", "/v1/responses"): self._door(RESPONSES, "chat"),
            (b"GET", "/v1/models"): self._models,
            (b"POST", FEEDBACK_PATH): FeedbackRoute(
                self.pipeline, lambda: self.ledger, self.secrets
            ),
            (b"GET", "/healthz"): self._healthz,
            (b"GET", "/readyz"): self._readyz,
        }
        # The control plane (/admin/, /metrics): on the data port, or on its own listener
        # (server.admin_listen, read once: `server` changes take effect at restart).
        self._control_routes: dict[tuple[bytes, str], Handler] = {
            (b"GET", "/healthz"): self._healthz,
            (b"GET", "/readyz"): self._readyz,
        }
        self._metrics_token: str | None = None
        if self.telemetry.metrics is not None:
            self._control_routes[(b"GET", "/metrics")] = self._metrics
            if config.telemetry.metrics.token is not None:
                self._metrics_token = self.secrets.resolve(config.telemetry.metrics.token)
        self.split_control = config.server.admin_listen is not None
        if not self.split_control:
            self._routes.update(self._control_routes)
        self._paths = {path for _, path in self._routes}

    @property
    def config(self) -> Config:
        return self.runtime.config

    def _quality_room(self, config: Config) -> QualityRoom | None:
        """The quality room as a call observer (None without evaluators). Streamed answers
        are assembled for it, as for content capture."""
        if not config.quality.active:
            return None
        metrics = self.telemetry.metrics
        room = QualityRoom(
            config.quality,
            self,
            counter=EvaluationMetrics(metrics) if metrics is not None else None,
            transport=self._judge_call,
            tracer=self.telemetry.tracing,
            secrets=self.secrets,
        )
        self.pipeline.observers = (*self.pipeline.observers, room.observe)
        self.pipeline.assemble_streams = True
        return room

    def _reconfigure_quality(self, config: Config) -> None:
        """A reload that changes ``quality``: the running room takes the new evaluators; the
        first evaluators of a gateway that had none start a room."""
        if self.quality is not None:
            self.quality.reconfigure(config.quality)
        elif config.quality.active and self.loop is not None:
            self.quality = self._quality_room(config)
            if self.quality is not None:
                self.quality.start(self.loop)
        log.info("config section `quality` reloaded")

    async def _judge_call(
        self, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """A judge call through this gateway's own door and pipeline (admission, budgets,
        ledger), with the configured key when one is set."""
        key = self.config.quality.judge.key
        if key is not None:
            headers = {**headers, "authorization": f"Bearer {self.secrets.resolve(key)}"}
        return await loopback.post_json(self, loopback.CHAT_PATH, body, headers)

    def submit_score(self, score: ScoreRecord) -> None:
        """The quality room's score sink: the ledger writer's score queue."""
        if self.ledger is not None:
            self.ledger.submit_score(score)
        else:
            log.error("ledger not open; score lost", extra={"call_id": score.call_id})

    def mount_admin(self, app: Handler) -> None:
        """Serve ``app`` (an ASGI callable) for every path under ``/admin/``: on the data port,
        or on the control-plane listener with ``server.admin_listen``."""
        self._admin = app

    def add_service(self, service: Service) -> None:
        """Run ``service`` with the gateway (before startup): the mount point for rooms above
        this one, which the gateway never imports."""
        self._services.append(service)

    @property
    def services(self) -> tuple[Service, ...]:
        return tuple(self._services)

    @property
    def key_store(self) -> KeyStore | None:
        """The keys database (for the admin API); None until startup opened it."""
        return self._key_store

    # The pipeline's ledger sink: records go to the ledger once it is open.
    def submit(self, record: Any) -> None:
        if self.ledger is not None:
            self.ledger.submit(record)
        else:  # only before startup finished or after shutdown: never silently
            log.error("ledger not open; record lost", extra={"call_id": record.id})

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            _route_on_raw_path(scope)
            path = scope["path"]
            if path.startswith(ADMIN_PREFIX) and not self.split_control:
                await self._admin(scope, receive, send)  # its own app (daytwo.admin)
                return
            method = scope["method"].encode()
            handler = self._routes.get((method, path))
            if handler is None:
                if method == b"GET" and path.startswith(models.ONE_PREFIX):
                    await self._models(scope, receive, send)
                    return
                if method == b"GET" and path.startswith(prompt_api.PATH):
                    await prompt_api.get_prompt(self.pipeline, self.prompts.current, scope, send)
                    return
                await self._no_route(scope, send)
                return
            await handler(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def control(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app of the control-plane listener (``server.admin_listen``): the admin API,
        ``/metrics`` and the health checks; nothing of the data plane."""
        if scope["type"] != "http":
            return  # the lifespan belongs to the data listener's server
        _route_on_raw_path(scope)
        path = scope["path"]
        if path.startswith(ADMIN_PREFIX):
            await self._admin(scope, receive, send)
            return
        handler = self._control_routes.get((scope["method"].encode(), path))
        if handler is None:
            exc = NotFound(f"Unknown request URL: {scope['method']} {path}.")
            await self._send_error(send, OPENAI_CHAT, exc)
            return
        await handler(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        cfg = self.config
        self.loop = asyncio.get_running_loop()
        self.ledger = await asyncio.to_thread(Ledger.open, cfg.ledger, hook=self.audit.hook)
        runtime = self.runtime
        await asyncio.to_thread(self.audit.open_keeper, runtime.config_hash, runtime.config_text)
        self.audit.start()
        self.keys = await asyncio.to_thread(self._open_keys)
        assert self._key_store is not None
        board = RolloutBoard(RolloutStore(self._key_store), cfg.rollouts.poll_s)
        await board.refresh()
        board.start()
        self.rollouts = board
        assert self.ledger is not None
        controller = RolloutController(lambda: self.config, board, self.ledger.store, self.secrets)
        await controller.start()
        self.rollout_controller = controller
        self.gitops = GitOps(
            board,
            root=lambda: self.prompts.root,
            prompts=lambda: self.prompts.current,
            defaults=lambda: Criteria(**self.config.rollouts.criteria.model_dump()),
            every_s=cfg.rollouts.evaluate_s,
        )
        await asyncio.to_thread(self.prompts.open)
        self.prompts.on_load = self._prompts_loaded
        if self.prompts.current is not None:
            await self._prompts_loaded("prompts.load", self.prompts.current)
        self.prompts.start()
        self.gitops.start()
        self.spend = await SpendControl.open(
            cfg.spend_control,
            events=self._key_store,
            on_switch=self.pipeline.on_switch,
            ledger_url=cfg.ledger.url,
        )
        await self._arm(self.runtime)
        await self._open_replay(cfg)
        await self.alerts.start(switches=self.spend.switches)
        if self.quality is not None:
            self.quality.start(self.loop)
        if self.config_path is not None:
            self._watcher = ConfigWatcher(self.config_path, self.reload, cfg.server.reload_poll_s)
            self._watcher.start()
        for service in self._services:
            await service.start(self)
        self._warn_retiring_models()
        _settle_gc()
        self.ready = True
        log.info(
            "gateway ready",
            extra={"models": sorted(cfg.models), "providers": sorted(cfg.providers)},
        )

    async def _open_replay(self, cfg: Config) -> None:
        """The response cache and the idempotency store. An unreachable Redis does not stop
        the gateway: the cache misses, and calls with an ``Idempotency-Key`` get 503."""
        self.cache = open_cache(cfg.cache)
        if cfg.idempotency.enabled:
            self.idempotency = open_idempotency(cfg.idempotency)
        for name, store, wanted in (
            ("response cache", self.cache, cfg.cache.active and cfg.cache.backend == "redis"),
            ("idempotency store", self.idempotency, cfg.idempotency.backend == "redis"),
        ):
            if store is not None and wanted:
                try:
                    await store.ping()
                except StateUnavailable as exc:
                    log.warning(f"{name} unavailable at start: {exc.message}")

    async def _prompts_loaded(self, action: str, prompts: PromptSet) -> None:
        """A prompt set served from now on: the rollouts its labels start (rollouts.yaml),
        before any call sees them; an admin event, chained in the audit trail."""
        if self.gitops is not None:
            await self.gitops.loaded(prompts, first=action == "prompts.load")
        store = self._key_store
        if store is None:
            return
        try:
            await asyncio.to_thread(
                store.record_event,
                actor="prompts",
                action=action,
                target=str(self.prompts.root),
                after=prompt_set_summary(prompts),
            )
        except DaytwoError as exc:
            log.error(f"{action}: the event could not be recorded: {exc.message}")

    def _open_keys(self) -> KeyCache:
        """Virtual keys live in the ledger's database; the request path reads a snapshot."""
        pepper = pepper_from_env()
        self._key_store = KeyStore.open(self.config.ledger.url, pepper=pepper)
        cache = KeyCache(self._key_store, pepper=pepper, ttl=self.config.gateway.key_cache_ttl_s)
        cache.refresh()
        cache.start()
        return cache

    def _warn_retiring_models(self) -> None:
        """One warning per configured model that is retired or retires within 90 days."""
        try:
            findings = startup_findings(self.config, datetime.now(UTC).date())
        except Exception:  # a broken bundled catalog must not stop the gateway
            log.exception("model lifecycle check failed")
            return
        for finding in findings:
            log.warning(finding.message(), extra={"model": finding.model})

    async def _arm(self, runtime: Runtime) -> None:
        """Give a runtime its spend-control gate, after re-counting its budgets' windows."""
        if self.spend is None:
            return
        gate = self.spend.gate(runtime.config.spend_control)
        try:  # also when it has no budgets: a lost store's rebuild re-counts this gate's
            await self.spend.rebuild(gate, runtime.config.ledger.url)
        except StateUnavailable:
            log.warning("could not rebuild budget counters: spend-control state unreachable")
        runtime.gate = gate

    async def shutdown(self) -> None:
        self.ready = False
        await self.pipeline.drain()
        if self.quality is not None:  # its judges still need the pipeline; its scores, the ledger
            await self.quality.aclose()
            await self.pipeline.drain()
        for service in reversed(self._services):
            await service.aclose()
        await self.alerts.aclose()
        if self.rollout_controller is not None:
            await self.rollout_controller.aclose()
        if self.gitops is not None:
            await self.gitops.aclose()
        if self.rollouts is not None:
            await self.rollouts.aclose()
        if self.spend is not None:
            await self.spend.aclose()
        if self.keys is not None:
            self.keys.close()
        if self._key_store is not None:
            self._key_store.close()
        if self._watcher is not None:
            self._watcher.stop()
        self.prompts.stop()
        for adapter in set(self.runtime.adapters.values()):
            await adapter.aclose()
        for store in (self.cache, self.idempotency):
            if store is not None:
                await store.aclose()
        await asyncio.to_thread(self.telemetry.shutdown)
        await self.audit.stop()
        if self.ledger is not None:
            ledger, self.ledger = self.ledger, None
            await asyncio.to_thread(ledger.close, 30.0)
            stats = ledger.stats()
            log.info("ledger drained", extra={"written": stats.written, "spilled": stats.spilled})
        await asyncio.to_thread(self.audit.close)  # the shutdown digests cover the last calls
        if self._log_listener is not None:
            self._log_listener.stop()

    # -- reload -------------------------------------------------------------------------------

    async def reload(self, config: Config) -> None:
        """Swap in a validated config. Raises if its providers cannot be built (old one stays)."""
        old = self.runtime
        new = Runtime.build(config, self.secrets, previous=old, base_dir=self._base_dir)
        await self._arm(new)
        for section in ("server", "ledger"):
            if getattr(config, section) != getattr(old.config, section):
                log.warning(f"config section `{section}` changed: takes effect at the next restart")
        if config.spend_control.state != old.config.spend_control.state:
            log.warning("config `spend_control.state` changed: takes effect at the next restart")
        if config.telemetry != old.config.telemetry:
            log.warning("config section `telemetry` changed: takes effect at the next restart")
        for section in ("cache", "idempotency"):
            new_s, old_s = getattr(config, section), getattr(old.config, section)
            if (new_s.backend, new_s.url, new_s.prefix) != (old_s.backend, old_s.url, old_s.prefix):
                log.warning(f"config `{section}` store changed: takes effect at the next restart")
        self.runtime = new
        if config.quality != old.config.quality:
            self._reconfigure_quality(config)
        await self.prompts.reconfigure(config.prompts)
        await self.alerts.reload(config)
        await self.audit.reload(config, new.config_hash, new.config_text)
        if config.audit.captures_content:
            self.pipeline.assemble_streams = True
        for service in self._services:
            await service.reload(config)
        self.pipeline.access_log = config.logging.access_log
        logging.getLogger("daytwo").setLevel(config.logging.level.upper())
        old.retire(new)
        task = asyncio.get_running_loop().create_task(
            old.close_when_idle(old.config.server.shutdown_grace_s + 600)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        log.info("config reloaded", extra={"models": sorted(config.models)})

    # -- routes -------------------------------------------------------------------------------

    def _door(self, ingress: Ingress, operation: str) -> Handler:
        async def handler(scope: Scope, receive: Receive, send: Send) -> None:
            await self._llm_call(scope, receive, send, operation, ingress)

        return handler

    async def _llm_call(
        self, scope: Scope, receive: Receive, send: Send, operation: str, ingress: Ingress
    ) -> None:
        headers = dict(scope["headers"])
        tp = headers.get(b"traceparent")
        m = _TRACEPARENT.match(tp) if tp else None
        pipeline = self.pipeline
        call = pipeline.open(operation, m.group(1).decode() if m else None)
        if m is not None:
            call.traceparent = m.group(0).decode()
        client = scope.get("client")
        if client:
            call.client_ip = client[0]
        # The call id, also where the client's SDK reads a request id (`_request_id`).
        cid = call.id.encode()
        ids = ((b"x-daytwo-call-id", cid), (ingress.request_id_header, cid))
        watch: DisconnectWatch | None = None
        held: Claim | None = None
        raw = b""
        try:
            await pipeline.identify(call, headers)
            raw = await read_body(receive, headers, self.config.server.max_body_bytes)
            req: LLMRequest = ingress.parse(raw, headers)
            route = pipeline.begin(call, req, headers, raw)
            key = headers.get(IDEMPOTENCY_KEY)
            if key is not None and self.idempotency is not None:
                who = f"key:{call.principal.key_id}" if call.principal else "project:"
                got = await claim(
                    self.idempotency, key, who + call.attribution.project, scope["path"], raw
                )
                if isinstance(got, Replay):
                    await self._replay(call, got.outcome, send, ids)
                    return
                held = got
                send = held.capture(send)
            route = await pipeline.admit(call, route)
            out_headers = [*ids]
            if call.ticket is not None and call.ticket.headers:
                out_headers += [(k.encode(), v.encode()) for k, v in call.ticket.headers.items()]
            if call.degraded is not None and call.degraded_as is not None:
                out_headers.append(degrade.header(call.degraded_as, call.degraded))
            watch = DisconnectWatch(receive)
            if req.stream:
                encoder = ingress.stream(req)
                await self._relay_stream(call, route, send, watch, encoder, out_headers)
                return
            resp = await pipeline.complete(call, route)
            watch.stop()
            pipeline.finish(call)
            if call.cost is not None and call.cost.nanousd is not None:
                out_headers.append((COST_HEADER, _usd(call.cost.nanousd)))
            await send_bytes(send, 200, ingress.response(resp, req), [*JSON_HEADERS, *out_headers])
        except asyncio.CancelledError:
            if watch is None or not watch.gone:
                pipeline.finish(call, InternalError("the gateway is shutting down"))
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            pipeline.finish(call, cancelled=True)
        except ClientGone:
            pipeline.finish(call, cancelled=True)
        except DaytwoError as exc:
            if watch is not None:
                watch.stop()
            pipeline.attribute_refused(call, headers, raw, exc)
            pipeline.finish(call, exc)
            await self._send_error(send, ingress, exc, *ids)
        except Exception as exc:
            if watch is not None:
                watch.stop()
            log.exception("unexpected error", extra={"call_id": call.id})
            pipeline.finish(call, exc)
            await self._send_error(send, ingress, InternalError("internal error"), *ids)
        finally:
            if held is not None:
                cost = call.cost.nanousd if call.cost else None
                pipeline.background(held.settle(call.outcome == "ok", call.id, cost))

    async def _replay(
        self,
        call: Call,
        outcome: StoredOutcome,
        send: Send,
        ids: tuple[tuple[bytes, bytes], ...],
    ) -> None:
        """Send a stored outcome again; the ledger records a call that cost nothing."""
        call.cache_status = "replay"
        call.saved_nanousd = outcome.cost_nanousd
        self.pipeline.finish(call)
        await send_bytes(send, outcome.status, outcome.body, [*replay_headers(outcome), *ids])

    async def _relay_stream(
        self,
        call: Call,
        route: Any,
        send: Send,
        watch: DisconnectWatch,
        encoder: StreamEncoder,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        chunks = self.pipeline.stream(call, route)
        try:
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                first = None
            # From here on the client has an answer: errors become an error event, no failover.
            await send(
                {"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *headers]}
            )
            if first is not None:
                body = encoder.chunk(first)
                if body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                try:
                    async for chunk in chunks:
                        body = encoder.chunk(chunk)
                        if body:
                            await send(
                                {"type": "http.response.body", "body": body, "more_body": True}
                            )
                except Exception as exc:  # the client has a 200: end with an error event
                    err = exc if isinstance(exc, DaytwoError) else InternalError("internal error")
                    if err is not exc:
                        log.exception("unexpected error mid-stream", extra={"call_id": call.id})
                    await chunks.aclose()
                    watch.stop()
                    self.pipeline.finish(call, exc)
                    await send({"type": "http.response.body", "body": encoder.error(err)})
                    return
            await chunks.aclose()
            watch.stop()
            self.pipeline.finish(call)
            await send({"type": "http.response.body", "body": encoder.end()})
        finally:
            await chunks.aclose()

    async def _count_tokens(self, scope: Scope, receive: Receive, send: Send) -> None:
        await count_tokens(self.pipeline, self.config.server.max_body_bytes, scope, receive, send)

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``GET /v1/models`` and ``GET /v1/models/{id}``: the aliases the caller's key may use,
        in OpenAI's shape, or Anthropic's when the request carries ``anthropic-version``."""
        headers = dict(scope["headers"])
        shape = models.ANTHROPIC if b"anthropic-version" in headers else models.OPENAI
        ingress = ANTHROPIC_MESSAGES if shape is models.ANTHROPIC else OPENAI_CHAT
        call = Call(id="", trace_id="", started_at=0.0, t0=0.0, runtime=self.runtime)
        try:
            await self.pipeline.identify(call, headers)  # as the doors: a new key works at once
            key = call.principal
            aliases = [a for a in self.config.models if key is None or key.allows_model(a)]
            status, body = models.answer(shape, scope["path"], aliases)
        except DaytwoError as exc:
            await self._send_error(send, ingress, exc)
            return
        await send_json(send, status, body)

    async def _healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, {"status": "ok"})

    async def _readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        ledger = self.ledger
        if not self.ready or ledger is None:
            await send_json(send, 503, {"status": "starting or stopping"})
            return
        stats = ledger.stats()
        body = {
            "status": "ready",
            "inflight": self.runtime.inflight,
            "ledger_queued": stats.queued,
            "ledger_spilled": stats.spilled,
        }
        await send_json(send, 200, body)

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.telemetry.metrics
        assert metrics is not None
        if self._metrics_token is not None:
            auth = dict(scope["headers"]).get(b"authorization", b"")
            given = auth[7:].strip() if auth[:7].lower() == b"bearer " else b""
            if not hmac.compare_digest(given, self._metrics_token.encode()):
                exc = AuthenticationError(
                    "/metrics needs the scrape token: Authorization: Bearer <token>.",
                    code="invalid_metrics_token",
                    headers={"www-authenticate": "Bearer"},
                )
                await self._send_error(send, OPENAI_CHAT, exc)
                return
        stats = self.ledger.stats() if self.ledger is not None else None
        state = await scrape_state(self.runtime, stats, self.listeners)
        # A scrape renders hundreds of series (~8 ms): off the event loop.
        body = await asyncio.to_thread(metrics.render, state)
        await send_bytes(send, 200, body, [(b"content-type", METRICS_CONTENT_TYPE.encode())])

    async def _no_admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        """No admin API mounted (a gateway built without :func:`daytwo.admin.mount.create_app`)."""
        await self._no_route(scope, send)

    async def _no_route(self, scope: Scope, send: Send) -> None:
        path = scope["path"]
        if path in self._paths:
            exc: DaytwoError = NotFound(f"Method {scope['method']} is not allowed on {path}.")
            await send_bytes(send, 405, oai.error_body(exc))
            return
        exc = NotFound(f"Unknown request URL: {scope['method']} {path}.")
        await self._send_error(send, OPENAI_CHAT, exc)

    async def _send_error(
        self, send: Send, ingress: Ingress, exc: DaytwoError, *extra: tuple[bytes, bytes]
    ) -> None:
        headers = [*JSON_HEADERS, *extra]
        headers += [(k.encode(), v.encode()) for k, v in exc.wire_headers().items()]
        status, body = ingress.error(exc)
        await send_bytes(send, status, body, headers)


def _route_on_raw_path(scope: Scope) -> None:
    """Route on the path as sent. uvicorn decodes ``/%61dmin/keys`` to ``/admin/keys``; a front
    proxy that blocks ``/admin`` by prefix sees the encoded form and lets it through. No daytwo
    route needs an escape, so an escaped path keeps its escapes and matches nothing (404); only
    a templated segment (a model id) is decoded, by its handler."""
    raw = scope.get("raw_path")
    if raw is not None and b"%" in raw:
        scope["path"] = raw.decode("latin-1")


#: Young-generation threshold of the collector once started (Python's default is 700).
GC_THRESHOLDS = (5_000, 20, 50)


def _usd(nanousd: int) -> bytes:
    """Exact decimal dollars: 1234567 nano-dollars → ``0.001234567``."""
    whole, frac = divmod(nanousd, 1_000_000_000)
    return f"{whole}.{frac:09d}".encode()


def _settle_gc() -> None:
    """Move everything built at start-up (imports, config, migrations, pools) out of the
    collector's reach and collect young objects less often. Measured on the request path:
    full collections over start-up objects stalled the loop 20-40 ms; with this, p99 at an
    offered 500 req/s went from ~30 ms to ~5 ms."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
