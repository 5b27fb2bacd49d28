"""``daytwo drill outage``: a game day for one provider, played against a real gateway.

Three phases on one timeline: a **baseline** (a quarter of the outage, at least 5 s), the
**outage** (the provider fails as ``mode`` says, for ``seconds``), and a **recovery** as long as
the baseline. Traffic runs throughout at a fixed rate; a watcher on the gateway's event loop
notes every breaker transition of the provider's deployments; at the end, every call's ledger
row says who served it, after how many attempts, at what cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from daytwo.core.record import CallRecord
from daytwo.drill.faults import MODES, AdapterSwap, Mode
from daytwo.drill.report import OutageReport, Phase, Transition, phase_report, plan_phases
from daytwo.drill.stage import DrillFailed, DrillUsageError, Stage, from_config, self_contained
from daytwo.drill.traffic import CLIENT_SLACK_S, Shot, drive

DEFAULT_RATE = 20.0
DEFAULT_STREAM_SHARE = 0.5
MAX_SECONDS = 3600.0
MAX_RATE = 1000.0
#: How often the watcher reads the breakers.
WATCH_PERIOD_S = 0.02
#: How long the drill waits for the gateway to finish and record its calls.
SETTLE_S = 15.0

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class OutageSpec:
    """What to drill. Raises :class:`DrillUsageError` naming the flag that is wrong."""

    provider: str
    seconds: float
    mode: Mode = "503"
    config_path: Path | None = None
    model: str | None = None
    rate: float = DEFAULT_RATE
    stream_share: float = DEFAULT_STREAM_SHARE

    def __post_init__(self) -> None:
        if not self.provider.strip():
            raise DrillUsageError("--provider: must not be empty")
        if self.mode not in MODES:
            raise DrillUsageError(f"--mode: expected one of {', '.join(MODES)}")
        if not 0 < self.seconds <= MAX_SECONDS:
            raise DrillUsageError(f"--seconds: expected more than 0 and at most {MAX_SECONDS:g}")
        if not 0 < self.rate <= MAX_RATE:
            raise DrillUsageError(f"--rate: expected more than 0 and at most {MAX_RATE:g}")
        if not 0 <= self.stream_share <= 1:
            raise DrillUsageError("--stream-share: expected a share from 0 to 1")
        if self.rate * self.seconds < 1:
            raise DrillUsageError("--rate x --seconds: less than one call would meet the outage")
        if self.model is not None and self.config_path is None:
            raise DrillUsageError(
                "--model: only with --config (the self-contained drill has one alias, chat)"
            )


class Timeline:
    """Seconds since the drill began (0 until :meth:`start`). The simulators' outage clock and
    the traffic's schedule read the same timeline, so the outage starts when the phase does."""

    def __init__(self) -> None:
        self._origin: float | None = None

    def start(self) -> None:
        self._origin = time.monotonic()

    def __call__(self) -> float:
        return 0.0 if self._origin is None else time.monotonic() - self._origin


def run_outage(spec: OutageSpec, progress: Progress | None = None) -> OutageReport:
    """Play the drill and report what happened. Raises :class:`DrillUsageError` (the drill
    cannot be set up as asked) or :class:`DrillFailed` (it could not run)."""
    say = progress or (lambda _line: None)
    phases = plan_phases(spec.seconds)
    timeline = Timeline()
    stage_cm: AbstractContextManager[Stage]
    if spec.config_path is None:
        stage_cm = self_contained(
            spec.provider,
            spec.mode,
            outage_start_s=phases[1].start_s,
            outage_s=spec.seconds,
            clock=timeline,
        )
    else:
        stage_cm = from_config(
            spec.config_path, spec.provider, spec.model, lasts_s=phases[-1].end_s
        )
    with stage_cm as stage:
        say(
            f"gateway at {stage.url}: {stage.alias} → {', '.join(stage.deployments)}; "
            f"{spec.rate:g} calls/s, {spec.stream_share:.0%} streamed"
        )
        shots, transitions = asyncio.run(_play(stage, spec, phases, timeline, say))
        say("reading the ledger")
        records = _records(stage, shots)
    baseline, outage, recovery = (phase_report(p, shots, records) for p in phases)
    return OutageReport(
        setup=stage.setup,
        config_path=None if stage.config_path is None else str(stage.config_path),
        provider=spec.provider,
        mode=spec.mode,
        injected=stage.injected,
        alias=stage.alias,
        deployments=stage.deployments,
        drilled=stage.drilled,
        rate=spec.rate,
        stream_share=spec.stream_share,
        baseline=baseline,
        outage=outage,
        recovery=recovery,
        transitions=tuple(transitions),
    )


async def _play(
    stage: Stage,
    spec: OutageSpec,
    phases: Sequence[Phase],
    timeline: Timeline,
    say: Progress,
) -> tuple[list[Shot], list[Transition]]:
    baseline, outage, recovery = phases
    swap = AdapterSwap(stage.gateway, spec.provider, spec.mode)
    by_adapter = stage.injected == "adapter"

    async def begin() -> None:
        if by_adapter:
            await swap.begin()
        say(f"outage: {spec.provider} {_verb(spec.mode)} for {outage.duration_s:g} s")

    async def end() -> None:
        if by_adapter:
            await swap.end()
        say(f"recovery: {recovery.duration_s:g} s")

    async def waiting() -> None:
        say(f"every call sent; waiting for the last answers (up to {stage.deadline_s:g} s)")

    transitions: list[Transition] = []
    with _watching(stage, timeline, transitions):
        say(f"baseline: {baseline.duration_s:g} s")
        timeline.start()
        try:
            shots = await drive(
                stage.url,
                stage.alias,
                rate=spec.rate,
                total_s=recovery.end_s,
                stream_share=spec.stream_share,
                clock=timeline,
                headers=stage.headers,
                timeout_s=stage.deadline_s + CLIENT_SLACK_S,
                tag=secrets.token_hex(4),
                marks=(
                    (outage.start_s, begin),
                    (recovery.start_s, end),
                    (recovery.end_s, waiting),
                ),
            )
        finally:
            if by_adapter:
                await swap.end()  # whatever happened: the real adapter goes back
    return shots, transitions


def _verb(mode: Mode) -> str:
    return {
        "refused": "refuses connections",
        "503": "answers 503",
        "429": "answers 429",
        "hang": "hangs",
    }[mode]


@contextlib.contextmanager
def _watching(stage: Stage, timeline: Timeline, out: list[Transition]) -> Iterator[None]:
    """Note every breaker transition of the drilled deployments, read on the gateway's own
    loop (the breakers live there) every :data:`WATCH_PERIOD_S`."""
    loop = stage.gateway.loop
    if loop is None:
        raise DrillFailed("the gateway is not running")
    stop = threading.Event()

    async def watch() -> None:
        last: dict[str, str] = dict.fromkeys(stage.drilled, "closed")
        while not stop.is_set():
            health = stage.gateway.runtime.resilience.health
            for dep in stage.drilled:
                state = health.state(dep)
                if state != last[dep]:
                    out.append(Transition(dep, state, timeline()))
                    last[dep] = state
            await asyncio.sleep(WATCH_PERIOD_S)

    future = asyncio.run_coroutine_threadsafe(watch(), loop)
    try:
        yield
    finally:
        stop.set()
        future.result(timeout=5)


def _records(stage: Stage, shots: Sequence[Shot]) -> dict[str, CallRecord]:
    """The ledger rows of the drill's calls, once the gateway has finished and written them."""
    from daytwo.core.errors import DaytwoError

    gateway = stage.gateway
    ledger = gateway.ledger
    if ledger is None:
        raise DrillFailed("the gateway's ledger is not open")
    wanted = {s.call_id for s in shots if s.call_id is not None}
    found: dict[str, CallRecord] = {}
    deadline = time.monotonic() + SETTLE_S
    while True:
        # A call's record is submitted as it finishes, which may be just after its client
        # read the last byte: wait for the gateway to have no call in flight, then flush.
        idle = gateway.runtime.inflight == 0
        ledger.flush(max(0.1, deadline - time.monotonic()))
        try:
            for call_id in wanted - found.keys():
                record = ledger.store.get_call(call_id)
                if record is not None:
                    found[call_id] = record
        except DaytwoError as exc:
            raise DrillFailed(f"cannot read the ledger: {exc.message}") from exc
        if (idle and found.keys() >= wanted) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
