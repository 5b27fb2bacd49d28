"""The rollout controller: moves every running rollout by itself, from its evidence.

Every ``rollouts.evaluate_s`` each running rollout whose stage has lasted
``criteria.min_duration_s`` is judged on the ledger (:mod:`daytwo.rollout.criteria`): the
candidate's calls in the stage (``candidate`` rows, or ``shadow`` rows while mirroring) against
the control's over the same window -- for the ``full`` stage, where no call is the control's,
against the control's calls of the stages before. Once the candidate has ``min_calls``:

* every metric ``not worse`` → the next stage (``rollout.advance``), or ``waiting`` for an
  approval when the rollout asks for one (``rollout.wait``); the last stage →
  ``completed`` (``rollout.complete``);
* any metric ``worse`` → ``rolled_back`` (``rollout.rollback``) with the evidence, and an alert
  notification to ``rollouts.sinks``;
* otherwise it stays, and is judged again next time.

Each change is :meth:`RolloutStore.move` (optimistic on the version): with several replicas
only one makes it and the others re-read the rollouts. With the state on Redis one replica
judges at a time (a lease, as the alert engine's); without, every replica judges and the
store keeps them from changing a stage twice. The change applies to this replica's board at
once, to the others' within their poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import sqlalchemy as sa

from daytwo.alerts.delivery import Dispatcher
from daytwo.alerts.engine import default_replica, fingerprint
from daytwo.alerts.history import AlertHistory
from daytwo.alerts.lease import Lease, LocalLease, RedisLease
from daytwo.alerts.notify import Notification
from daytwo.alerts.sinks import Sink, build_sink
from daytwo.config.incidents import runbook_link
from daytwo.config.schema import Config
from daytwo.config.slos import ScoreSli, SloConfig
from daytwo.core.errors import DaytwoError
from daytwo.core.secrets import SecretRegistry
from daytwo.ledger.schema import calls, scores
from daytwo.ledger.store import LedgerStore
from daytwo.rollout.board import RolloutBoard
from daytwo.rollout.criteria import (
    CHECKS,
    JUDGE_PREFIX,
    PAIRWISE,
    ArmSample,
    Judgement,
    SloSample,
    judge,
    waiting_for,
)
from daytwo.rollout.model import Rollout
from daytwo.slo.sli import SCOPE_COLUMNS

log = logging.getLogger("daytwo.rollout")

#: Who the admin events name.
ACTOR = "rollout-controller"
#: The most recent answered calls per arm whose latency and cost are compared: a p95 and a
#: mean are well estimated from a thousand, and both bootstraps of two such arms take about a
#: tenth of a second (BCa's jackknife grows with the square of the sample).
MAX_SAMPLE = 1_000
#: Seconds :meth:`RolloutController.aclose` gives notifications still being delivered.
CLOSE_GRACE_S = 5.0
ROLLBACK = "rollout_rollback"
WAITING = "rollout_waiting"
#: The runbook both notifications point to (config/incidents.py KIND_RUNBOOKS says the same).
RUNBOOK = "failed-rollout"

Action = Literal["rollout.advance", "rollout.wait", "rollout.complete", "rollout.rollback"]


@dataclass(frozen=True, slots=True)
class Window:
    """What the arms did in the stage's window."""

    candidate: ArmSample
    control: ArmSample
    slos: tuple[SloSample, ...] = ()


@dataclass(frozen=True, slots=True)
class Step:
    """One rollout judged once: the change made (None: it stays) and why."""

    rollout: Rollout
    action: Action | None
    after: Rollout | None
    judgement: Judgement | None
    note: str


def decide(
    rollout: Rollout, judgement: Judgement, now: float, head: str = ""
) -> tuple[Action, Rollout] | None:
    """The change a judgement makes to a running rollout, or None (undecided). Its evidence:
    ``head`` (what was compared), then a line per metric."""
    stage = rollout.current
    evidence = (head, *judgement.lines) if head else judgement.lines
    if judgement.outcome == "fail":
        worst = ", ".join(c.metric for c in judgement.failed)
        after = rollout.moved(
            now, status="rolled_back", reason=f"{stage} failed: {worst}", evidence=evidence
        )
        return "rollout.rollback", after
    if judgement.outcome == "undecided":
        return None
    if rollout.stage == len(rollout.stages) - 1:
        return "rollout.complete", rollout.moved(
            now, status="completed", reason=f"{stage} passed", evidence=evidence
        )
    if rollout.approve_each:
        return "rollout.wait", rollout.moved(
            now, status="waiting", reason=f"{stage} passed: waiting for approval",
            evidence=evidence,
        )  # fmt: skip
    return "rollout.advance", rollout.moved(
        now,
        stage=rollout.stage + 1,
        stage_started_at=now,
        reason=f"{stage} passed",
        evidence=evidence,
    )


def candidate_arm(rollout: Rollout) -> str:
    """The ``calls.rollout_arm`` of the candidate's calls in the current stage."""
    return "shadow" if rollout.current.kind == "shadow" else "candidate"


def read_window(
    store: LedgerStore, rollout: Rollout, slos: Sequence[SloConfig], now: float
) -> Window:
    """The candidate's and the control's calls, scores and quality SLO events in the stage
    (blocking: the controller calls it in a worker thread)."""
    since = rollout.stage_started_at
    # In the full stage every call is the candidate's: the control's are those of the stages
    # before.
    full = rollout.current.kind == "full"
    control_window = (rollout.created_at, since) if full else (since, now)
    quality = [s for s in slos if isinstance(s.sli, ScoreSli)]
    with store.connect() as conn:
        cand, cand_slos = _arm(conn, rollout.id, candidate_arm(rollout), (since, now), quality)
        ctrl, ctrl_slos = _arm(conn, rollout.id, "control", control_window, quality)
    samples = tuple(
        SloSample(slo.name, slo.objective, a, b)
        for slo, a, b in zip(quality, cand_slos, ctrl_slos, strict=True)
    )
    return Window(cand, ctrl, samples)


def _arm(
    conn: sa.Connection,
    rollout_id: str,
    arm: str,
    window: tuple[float, float],
    slos: Sequence[SloConfig],
) -> tuple[ArmSample, list[tuple[int, int]]]:
    c, s = calls.c, scores.c
    mine = [
        c.rollout_id == rollout_id,
        c.rollout_arm == arm,
        c.started_at >= window[0],
        c.started_at < window[1],
    ]
    n, errors = conn.execute(
        sa.select(sa.func.count(), sa.func.sum(sa.case((c.status == "error", 1), else_=0))).where(
            *mine, c.status.in_(("ok", "error"))
        )
    ).one()
    answered = conn.execute(
        sa.select(c.latency_ms, c.cost_nanousd)
        .where(*mine, c.status == "ok")
        .order_by(c.started_at.desc())
        .limit(MAX_SAMPLE)
    ).all()
    judged = scores.join(calls, c.id == s.call_id)
    is_judge = s.evaluator.like(f"{JUDGE_PREFIX}%")
    failed = sa.case((s.label == "fail", 1), else_=0)
    bad = sa.case((is_judge, failed), (s.value < 0.5, 1), else_=0)
    checks = conn.execute(
        sa.select(s.evaluator, sa.func.sum(bad), sa.func.count())
        .select_from(judged)
        .where(
            *mine,
            s.source == "online",
            s.value.is_not(None),
            sa.or_(s.evaluator.in_(list(CHECKS)), is_judge),
        )
        .group_by(s.evaluator)
    ).all()
    events: list[tuple[int, int]] = []
    for slo in slos:
        assert isinstance(slo.sli, ScoreSli)
        below = sa.case((s.value < slo.sli.threshold, 1), else_=0)
        scope = [SCOPE_COLUMNS[f] == v for f, v in slo.scope.fields().items()]
        b, t = conn.execute(
            sa.select(sa.func.sum(below), sa.func.count())
            .select_from(judged)
            .where(*mine, *scope, s.evaluator == slo.sli.evaluator, s.value.is_not(None))
        ).one()
        events.append((int(b or 0), int(t)))
    pairs = (0, 0, 0)
    if arm == "shadow":  # the pairwise judge scores the mirrored calls only
        v = s.value
        better, tie, worse = conn.execute(
            sa.select(
                sa.func.sum(sa.case((v > 0.5, 1), else_=0)),
                sa.func.sum(sa.case((v == 0.5, 1), else_=0)),
                sa.func.sum(sa.case((v < 0.5, 1), else_=0)),
            )
            .select_from(judged)
            .where(*mine, s.source == "online", s.evaluator == PAIRWISE, v.is_not(None))
        ).one()
        pairs = (int(better or 0), int(tie or 0), int(worse or 0))
    sample = ArmSample(
        calls=int(n),
        errors=int(errors or 0),
        latencies_ms=tuple(float(r.latency_ms) for r in answered),
        costs_usd=tuple(r.cost_nanousd / 1e9 for r in answered if r.cost_nanousd is not None),
        checks={str(e): (int(b or 0), int(t)) for e, b, t in checks},
        pairwise=pairs,
    )
    return sample, events


class RolloutController:
    """Built at the gateway's start (after its board and ledger); :meth:`start` starts the
    loop, :meth:`aclose` stops it. Reads the current config each round (a reload's
    ``evaluate_s``, ``sinks`` and SLOs apply at the next one)."""

    def __init__(
        self,
        config: Callable[[], Config],
        board: RolloutBoard,
        ledger: LedgerStore,
        secrets: SecretRegistry,
        *,
        replica: str | None = None,
    ) -> None:
        self._config = config
        self.board = board
        self.ledger = ledger
        self.secrets = secrets
        self.replica = replica or default_replica()
        self.history = AlertHistory(ledger)
        self.dispatcher = Dispatcher(self._record, replica=self.replica, clock=time.time)
        #: The last step of each rollout judged here (why it stays, what it showed).
        self.last: dict[str, Step] = {}
        #: Rounds the loop has run (tests wait on it instead of sleeping).
        self.rounds = 0
        self._sinks: dict[str, Sink] = {}
        self._lease: Lease = LocalLease()
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._unknown_sinks: frozenset[str] = frozenset()

    async def start(self) -> None:
        state = self._config().spend_control.state
        if state.backend == "redis":
            self._lease = RedisLease(
                state.url,
                prefix=f"{state.prefix}rollouts:",
                replica=self.replica,
                interval_s=self._config().rollouts.evaluate_s,
            )
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="rollouts")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush(CLOSE_GRACE_S)
        for sink in self._sinks.values():
            await sink.aclose()
        await self._lease.aclose()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._config().rollouts.evaluate_s)
            try:
                await self.evaluate()
            except Exception:  # the loop outlives any round
                log.exception("rollouts: evaluation failed")
            self.rounds += 1

    async def evaluate(self, now: float | None = None) -> list[Step]:
        """One round: judge every running rollout (on the lease holder only)."""
        running = [r for r in self.board.rollouts() if r.status == "running"]
        if not running or not await self._lease.hold():
            return []
        steps = []
        for rollout in running:  # one rollout that cannot be judged holds up no other
            try:
                steps.append(await self.step(rollout, time.time() if now is None else now))
            except DaytwoError as exc:  # the database is down: judged again next time
                log.warning(f"rollout {rollout.id}: not judged: {exc.message}")
            except Exception:
                log.exception(f"rollout {rollout.id}: not judged")
        return steps

    async def step(self, rollout: Rollout, now: float) -> Step:
        """Judge one running rollout and make the change it calls for."""
        early = waiting_for(rollout, rollout.criteria.min_calls, now)
        if early is not None:  # its duration: known without reading anything
            return self._note(Step(rollout, None, None, None, f"waiting: {early}"))
        config = self._config()
        window = await asyncio.to_thread(read_window, self.ledger, rollout, config.slos, now)
        short = waiting_for(rollout, window.candidate.calls, now)
        if short is not None:
            return self._note(Step(rollout, None, None, None, f"waiting: {short}"))
        judgement = await asyncio.to_thread(
            judge, window.candidate, window.control, rollout.criteria, window.slos
        )
        head = (
            f"{rollout.current}: {window.candidate.calls} candidate and "
            f"{window.control.calls} control calls"
        )
        change = decide(rollout, judgement, now, head)
        if change is None:
            return self._note(Step(rollout, None, None, judgement, f"undecided ({head})"))
        action, after = change
        won = await asyncio.to_thread(self.board.store.move, rollout, after, ACTOR, action)
        if not won:  # another replica (or a person) moved it first: route by what it did
            await self.board.refresh()
            return self._note(Step(rollout, None, None, judgement, "moved elsewhere first"))
        self.board.apply(after)
        log.info(
            f"rollout {rollout.id} {rollout.target}: {after.reason} → {after.status}"
            + (f" at {after.current}" if after.status == "running" else ""),
            extra={"rollout": rollout.id},
        )
        if action in ("rollout.rollback", "rollout.wait"):
            self._announce(after, judgement, action, now)
        return self._note(Step(rollout, action, after, judgement, after.reason))

    def _note(self, step: Step) -> Step:
        self.last[step.rollout.id] = step
        return step

    # -- notifications ----------------------------------------------------------------------

    def _announce(self, after: Rollout, judgement: Judgement, action: Action, now: float) -> None:
        """Tell ``rollouts.sinks`` (and the alert history) of a rollback or a wait."""
        back = action == "rollout.rollback"
        config = self._config()
        rule, severity = (ROLLBACK, "warning") if back else (WAITING, "info")
        labels = {"rollout": after.id, "kind": after.kind, "target": after.target}
        cand, ctrl = _arm_name(after, after.candidate), _arm_name(after, after.control)
        if back:
            shown = judgement.failed[0].line if judgement.failed else after.reason
            message = f"{cand} rolled back to {ctrl} at {after.current}: {shown}"
        else:
            message = f"{cand} passed {after.current}; waiting for approval"
        n = Notification(
            status="firing",
            rule=rule,
            kind=rule,
            severity=severity,
            labels=labels,
            value=None,
            threshold=0.0,
            unit="",
            started_at=now,
            at=now,
            fingerprint=fingerprint(rule, {**labels, "version": str(after.version)}),
            detail={"rollout": after.to_json(), "evidence": list(after.evidence)},
            message=message,
            runbook=runbook_link(RUNBOOK, config.incidents.runbook_base_url),
        )
        self._record(
            {
                "at": n.at,
                "kind": "transition",
                "rule": n.rule,
                "fingerprint": n.fingerprint,
                "state": n.status,
                "severity": n.severity,
                "labels": orjson.dumps(n.labels, option=orjson.OPT_SORT_KEYS).decode(),
                "value": None,
                "threshold": None,
                "started_at": n.started_at,
                "replica": self.replica,
                "detail": n.summary,
            }
        )
        self.dispatcher.deliver(n, self._current_sinks())

    def _current_sinks(self) -> list[Sink]:
        """The sinks ``rollouts.sinks`` names, as configured now (kept while unchanged)."""
        config = self._config()
        d, alerts = self.dispatcher, config.alerts
        d.attempts, d.backoff_s, d.max_backoff_s = (
            alerts.delivery_attempts,
            alerts.backoff_s,
            alerts.max_backoff_s,
        )
        unknown = frozenset(n for n in config.rollouts.sinks if n not in alerts.sinks)
        if unknown and unknown != self._unknown_sinks:
            log.warning(f"rollouts.sinks: no alerts.sinks entry named {', '.join(sorted(unknown))}")
        self._unknown_sinks = unknown
        old, self._sinks = self._sinks, {}
        for name in config.rollouts.sinks:
            spec = alerts.sinks.get(name)
            if spec is None:
                continue
            have = old.pop(name, None)
            if have is not None and getattr(have, "spec", None) == spec:
                self._sinks[name] = have
            else:
                self._sinks[name] = build_sink(name, spec, self.secrets)
                if have is not None:
                    old[name] = have
        for sink in old.values():
            self._spawn(sink.aclose())
        return list(self._sinks.values())

    def _record(self, row: dict[str, Any]) -> None:
        self._spawn(self._write(row))

    async def _write(self, row: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(self.history.write, [row])
        except DaytwoError as exc:
            log.error(f"alert history: a rollout row lost: {exc.message}")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def flush(self, timeout_s: float = 10.0) -> None:
        """Wait for the deliveries and history rows so far (tests, shutdown)."""
        await self.dispatcher.drain(timeout_s)
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=timeout_s)


def _arm_name(rollout: Rollout, value: str) -> str:
    """``support-reply@v2`` (a prompt rollout's version), ``alias cheap``."""
    if rollout.kind == "prompt":
        return f"{rollout.target.partition('@')[0]}@v{value}"
    return f"alias {value}"
