"""Runs the demo: gateway in a background thread, apps on this thread's event loop, live view.

The gateway's state (deployment health, the kill-switch board) belongs to the gateway's event
loop, so the view reads it there (``run_coroutine_threadsafe``) rather than from this thread.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from rich.console import Console, Group
from rich.live import Live

from daytwo.admin.mount import create_app
from daytwo.alerts.notify import Notification
from daytwo.audit.digest import load_public
from daytwo.audit.verify import Report, verify
from daytwo.config.load import validate_config
from daytwo.demo.config import (
    DrillClock,
    Outage,
    alert_window_s,
    demo_config,
    http_sim,
    model_change_for,
    openai_sim,
    outage_for,
)
from daytwo.demo.embedded import DemoFailed, alert_log, fresh_ledger
from daytwo.demo.gate import BASELINE, CANDIDATE, GateOutcome, run_gate
from daytwo.demo.live import EVENTS_SHOWN, Clock, render
from daytwo.demo.outage import OutageReport, outage_report
from daytwo.demo.prompts import NAME as PROMPT_NAME
from daytwo.demo.prompts import PROMOTE_AT, promote, write_prompts
from daytwo.demo.providers import Event, Served, Topology, Watch, served
from daytwo.demo.quality import QualityReport, quality_report
from daytwo.demo.traffic import AppStats, Sample, drive, new_stats
from daytwo.drift.service import DriftService
from daytwo.gateway.app import Gateway
from daytwo.gateway.server import free_port, serve_in_thread
from daytwo.ledger.prompts import VersionStats, prompt_stats
from daytwo.ledger.report import SpendReport, spend_report
from daytwo.ledger.store import LedgerStore, open_store
from daytwo.providers.sim.run import running_sim_server
from daytwo.resilience.breaker import DeploymentSnapshot
from daytwo.state.base import SwitchRecord

#: How often the view polls the gateway's health (a breaker opens for longer than this) ...
TICK_S = 0.2
#: ... and reads the ledger.
LEDGER_EVERY_S = 1.0
#: When (share of the run) the demo's operator flips a kill switch, and why: after the
#: outage, so the two stories stay apart.
KILL_AT = 0.85
KILL_REASON = "unattributed script, owner unknown: off until someone claims it"
#: Where the alert engine's log sink writes during the run (in the demo's directory).
ALERT_LOG = "alerts.log"


@dataclass
class DemoResult:
    stats: list[AppStats]
    ledger_path: Path
    config_path: Path
    report: SpendReport
    started: datetime
    ended: datetime
    outage: OutageReport
    events: list[Event]
    #: The demo prompt's versions, as `daytwo prompts stats support-reply` shows them.
    prompts: list[VersionStats] = field(default_factory=list)
    #: The deploy gate on the prompt's verbose version.
    gate: GateOutcome | None = None
    #: The silent model change: refusals before and after, what noticed it, the SLO.
    quality: QualityReport | None = None
    #: The audit trail of the run, verified with the public key alone.
    audit: Report | None = None

    @property
    def samples(self) -> list[Sample]:
        return [sample for app in self.stats for sample in app.samples]

    @property
    def failed(self) -> int:
        """Calls that failed as the apps saw them."""
        return sum(1 for s in self.samples if s.failed)

    @property
    def refused(self) -> int:
        """Calls a rule refused (a kill switch, a tripped budget)."""
        return sum(1 for s in self.samples if not s.ok and not s.failed)


def run_demo(workdir: Path, seconds: float, console: Console, port: int = 0) -> DemoResult:
    ledger_path = fresh_ledger(workdir)
    port = port or free_port()
    stats = new_stats()
    drill = DrillClock()
    with (
        running_sim_server(http_sim(seconds), clock=drill) as sim_url,
        running_sim_server(openai_sim(seconds), clock=drill) as openai_url,
    ):
        raw = demo_config(
            ledger_path, port, sim_url=sim_url, openai_url=openai_url, seconds=seconds
        )
        prompts_root = write_prompts(workdir)
        raw["prompts"] = {"dir": str(prompts_root), "reload_poll_s": 0.25}
        config_path = workdir / "daytwo.yaml"
        config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        app = create_app(validate_config(raw, source=str(config_path)))
        try:
            handle = serve_in_thread(app, port=port)
        except RuntimeError as exc:
            raise DemoFailed(f"the gateway did not start on 127.0.0.1:{port}: {exc}") from None
        started = datetime.now(UTC)
        view = _View(app, handle.url, seconds, stats, outage_for(seconds), drill, ledger_path)
        view.prompts_root = prompts_root
        try:
            with alert_log(workdir / ALERT_LOG):
                asyncio.run(view.run(console))
            with console.status(f"deploy gate: {CANDIDATE} against {BASELINE} ..."):
                gate = run_gate(workdir, handle.url)
        finally:
            handle.stop()  # graceful: drains in-flight calls and the ledger queue
    ended = datetime.now(UTC)
    store = open_store(f"sqlite:///{ledger_path}")
    try:
        report = spend_report(
            store,
            start=_hour_floor(started),
            end=_hour_floor(ended) + timedelta(hours=1),
            by="workflow",
        )
        outage = outage_report(
            view.outage,
            run_start=view.run_start,
            samples=[s for app in stats for s in app.samples],
            store=store,
            topology=view.topology,
            downtimes=view.watch.downtimes,
        )
        versions = prompt_stats(store, PROMPT_NAME, view.run_start, time.time() + 1)
        audit = verify(
            store,
            public_keys=[
                load_public(
                    ledger_path.with_name(ledger_path.name + ".audit-key.pem.pub").read_bytes()
                )
            ],
        )
        quality = quality_report(
            model_change_for(seconds),
            store=store,
            since=view.run_start,
            until=time.time(),
            slos_at=view.apps_stopped or time.time(),
            events=view.watch.events,
            slos=app.config.slos,
        )
    finally:
        store.close()
    return DemoResult(
        stats,
        ledger_path,
        config_path,
        report,
        started,
        ended,
        outage,
        view.watch.events,
        versions,
        gate,
        quality,
        audit,
    )


def _hour_floor(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


@dataclass
class _View:
    """The apps' run and the live view over it."""

    app: Gateway
    url: str
    seconds: float
    stats: list[AppStats]
    outage: Outage
    drill: DrillClock
    ledger_path: Path
    run_start: float = 0.0
    #: When the apps stopped (Unix seconds): the summary's SLO status is taken then.
    apps_stopped: float = 0.0
    #: The demo's prompt directory (its labels file is edited midway).
    prompts_root: Path | None = None
    prompt_versions: list[VersionStats] = field(default_factory=list)
    topology: Topology = field(init=False)
    watch: Watch = field(init=False)
    health: list[DeploymentSnapshot] = field(default_factory=list)
    switches: dict[str, SwitchRecord] = field(default_factory=dict)
    spend: dict[str, int | None] = field(default_factory=dict)
    served: Served = field(default_factory=lambda: Served({}, 0, 0))
    #: Alerts firing now (the gateway's alert engine).
    firing: int = 0
    #: The drill's start and end noted in the event log so far (0, 1 or 2).
    _drill_seen: int = 0
    #: Notifications heard from the gateway's alert engine (its thread), not yet shown.
    _heard: deque[Notification] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.topology = Topology.from_routes(self.app.runtime.routes)
        self.watch = Watch(self.topology)
        self.app.alerts.add_listener(self._heard.append)  # deque.append: thread-safe
        for service in self.app.services:  # model_changed and drift alerts
            if isinstance(service, DriftService):
                service.add_listener(self._heard.append)

    async def run(self, console: Console) -> None:
        self.run_start = time.time()
        self.drill.start()
        traffic = asyncio.create_task(drive(self.url + "/v1", self.seconds, self.stats))
        t0 = time.monotonic()
        killed = promoted = False
        next_ledger = t0
        #: Once the apps stop, the view waits (at most two alert windows) for the alerts
        #: still firing to resolve, so the story ends.
        done_at: float | None = None
        wait_s = 2 * alert_window_s(self.seconds)
        store = open_store(f"sqlite:///{self.ledger_path}")
        hour = _hour_floor(datetime.now(UTC))
        try:
            with Live(console=console, refresh_per_second=4, transient=False) as live:
                while True:
                    done = traffic.done()
                    elapsed = time.monotonic() - t0
                    if not killed and elapsed > self.seconds * KILL_AT:
                        killed = True
                        await _kill(self.app, {"project": "default"}, KILL_REASON)
                    if not promoted and elapsed > self.seconds * PROMOTE_AT:
                        promoted = True
                        self._promote(elapsed)
                    self._drill_events(elapsed)
                    self._alerts()
                    await self._poll_gateway(elapsed)
                    if done or time.monotonic() >= next_ledger:
                        await asyncio.to_thread(self._read_ledger, store, hour)
                        next_ledger = time.monotonic() + LEDGER_EVERY_S
                    live.update(self._render(min(elapsed, self.seconds), console.width))
                    if done:
                        if done_at is None:
                            done_at, self.apps_stopped = time.monotonic(), time.time()
                        if not self.firing or time.monotonic() - done_at > wait_s:
                            # The last frame keeps the whole event log on screen.
                            last = self._render(self.seconds, console.width, everything=True)
                            live.update(last)
                            break
                    if done:
                        await asyncio.sleep(TICK_S)
                    else:
                        await asyncio.wait({traffic}, timeout=TICK_S)
            console.print()
            await traffic
        finally:
            store.close()

    def _promote(self, elapsed: float) -> None:
        if self.prompts_root is None:
            return
        promote(self.prompts_root)
        self.watch.note(
            elapsed,
            f"prompt: {PROMPT_NAME} v2 (more verbose) promoted to production in labels.yaml",
            "bold",
        )

    def _drill_events(self, elapsed: float) -> None:
        o = self.outage
        if self._drill_seen == 0 and elapsed >= o.start_s:
            self._drill_seen = 1
            self.watch.note(
                o.start_s, f"outage drill: {o.provider} starts answering {o.mode}", "dim"
            )
        if self._drill_seen == 1 and elapsed >= o.end_s:
            self._drill_seen = 2
            self.watch.note(o.end_s, f"outage drill: {o.provider} answers normally again", "dim")

    def _alerts(self) -> None:
        while self._heard:
            n = self._heard.popleft()
            self.watch.alert(n, n.at - self.run_start)

    async def _poll_gateway(self, elapsed: float) -> None:
        app = self.app
        if app.loop is None:
            return

        async def read() -> tuple[list[DeploymentSnapshot], dict[str, SwitchRecord], int]:
            health = app.runtime.resilience.health.snapshot()
            firing = sum(1 for a in app.alerts.states() if a.phase == "firing")
            return health, app.spend.switches.active() if app.spend else {}, firing

        future = asyncio.run_coroutine_threadsafe(read(), app.loop)
        self.health, self.switches, self.firing = await asyncio.wrap_future(future)
        self.watch.health(self.health, elapsed)
        self.watch.switches(self.switches, elapsed)

    def _read_ledger(self, store: LedgerStore, hour: datetime) -> None:
        report = spend_report(
            store, start=hour, end=hour + timedelta(hours=2), by="project", limit=20
        )
        self.spend = {g.key or "(none)": g.cost_nanousd for g in report.groups}
        self.served = served(store, self.topology, since=self.run_start, now=time.time())
        self.prompt_versions = prompt_stats(store, PROMPT_NAME, self.run_start, time.time() + 1)

    def _render(self, elapsed: float, width: int, *, everything: bool = False) -> Group:
        """The view's frame (``everything``: every event, not only the newest)."""
        ledger = self.app.ledger
        return render(
            self.stats,
            clock=Clock(elapsed, self.seconds, self.outage),
            gateway_url=self.url,
            spend_by_project=self.spend,
            served=self.served,
            health=self.health,
            events=self.watch.events,
            ledger_written=ledger.stats().written if ledger else 0,
            ledger_queued=ledger.stats().queued if ledger else 0,
            switches=self.switches,
            width=width,
            prompts=self.prompt_versions,
            events_shown=len(self.watch.events) if everything else EVENTS_SHOWN,
        )


async def _kill(app: Gateway, scope: dict[str, str], reason: str) -> None:
    """What `daytwo kill --project default --reason ...` does, from the demo's own thread."""
    if app.spend is None or app.loop is None:
        return
    kill = app.spend.switches.kill(scope, reason=reason, who="demo-operator")
    await asyncio.wait_for(asyncio.wrap_future(asyncio.run_coroutine_threadsafe(kill, app.loop)), 5)
