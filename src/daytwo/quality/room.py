"""The quality room at run time: a call observer that queues finished calls and a worker
thread that checks them, off the response path.

On the event loop (:meth:`QualityRoom.observe`, a few microseconds): pick the evaluators whose
selectors match the call; if any, append (record, view) to a bounded deque, or -- when it is
full -- shed the call and count it. Nothing else happens on the response path.

On the worker thread: run the sampled cheap checks (pure CPU), hand one
:class:`~daytwo.core.score.ScoreRecord` per verdict to the ledger writer, count the verdicts;
then, for each sampled judge whose cascade allows it, schedule the judge call on the event loop
(I/O), at most ``judge.max_inflight`` at once -- a judge over that is shed and counted. A judge
call goes through the gateway's pipeline (the transport handed in), as a call of project
``judge.project``, workflow ``judge:<name>``, tagged ``judged_call=<call id>``; one the
pipeline refuses (budget spent) is recorded as a ``skipped`` score, the user's call untouched.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from daytwo.config.quality import EvaluatorConfig, JudgeSpec, QualityConfig
from daytwo.core.ids import new_call_id
from daytwo.core.observe import CallView
from daytwo.core.record import CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.quality import judge as judging
from daytwo.quality.checks import answer_of
from daytwo.quality.evaluate import (
    CHECK_VERSIONS,
    Verdict,
    draw,
    last_user_text,
    matches,
    run_checks,
    sampled_checks,
)

log = logging.getLogger("daytwo.quality")

#: How long the worker waits for new calls before looking again (it is woken on arrival).
IDLE_WAIT_S = 0.5
#: How long :meth:`QualityRoom.close` waits for queued checks and running judges.
CLOSE_TIMEOUT_S = 10.0


class ScoreSink(Protocol):
    def submit_score(self, score: ScoreRecord) -> None: ...


class VerdictCounter(Protocol):
    def verdict(self, evaluator: str, result: str, value: float | None) -> None: ...
    def shed(self, stage: str) -> None: ...


class _NoCounter:
    def verdict(self, evaluator: str, result: str, value: float | None) -> None:
        return None

    def shed(self, stage: str) -> None:
        return None


_Item = tuple[CallRecord, CallView, tuple[EvaluatorConfig, ...]]


class QualityRoom:
    """The configured online evaluators of one gateway process."""

    def __init__(
        self,
        cfg: QualityConfig,
        sink: ScoreSink,
        *,
        counter: VerdictCounter | None = None,
        transport: judging.JudgeTransport | None = None,
    ) -> None:
        self.config = cfg
        self._sink = sink
        self._counter: VerdictCounter = counter or _NoCounter()
        self._transport = transport
        self._q: deque[_Item] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._judging: set[concurrent.futures.Future[None]] = set()
        self._judge_lock = threading.Lock()
        #: Work shed since start: calls whose checks did not fit the queue, judges over the cap.
        self.shed_calls = 0
        self.shed_judges = 0
        self._thread: threading.Thread | None = None

    # -- event loop ---------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the worker thread; judge calls will run on ``loop``."""
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="daytwo-quality", daemon=True)
        self._thread.start()

    def observe(self, record: CallRecord, view: CallView) -> None:
        """Queue a finished call for its evaluators (a :class:`CallObserver`; never blocks)."""
        if record.status != "ok" or record.operation != "chat" or view.response is None:
            return
        if record.project == self.config.judge.project and (record.workflow or "").startswith(
            "judge:"
        ):
            return  # a judge's own call is not judged
        chosen = tuple(e for e in self.config.evaluators if matches(e.match, record))
        if not chosen:
            return
        if len(self._q) >= self.config.queue_size or self._thread is None:
            self.shed_calls += 1
            self._counter.shed("queue")
            return
        self._q.append((record, view, chosen))
        self._idle.clear()
        if not self._wake.is_set():
            self._wake.set()

    async def aclose(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Check what is queued, wait for running judges, stop the worker (graceful shutdown:
        run before the ledger closes, so the scores reach it)."""
        deadline = time.monotonic() + timeout_s
        await asyncio.to_thread(self._idle.wait, timeout_s)
        while True:  # judges scheduled by the last checks, and what they schedule
            with self._judge_lock:
                running = set(self._judging)
            left = deadline - time.monotonic()
            if not running or left <= 0:
                break
            await asyncio.wait({asyncio.wrap_future(f) for f in running}, timeout=left)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, max(0.0, deadline - time.monotonic()))

    # -- worker thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            q = self._q
            while q:
                record, view, chosen = q.popleft()
                try:
                    self._evaluate(record, view, chosen)
                except Exception:  # a bug in a check must not stop the room
                    log.exception("quality check of call %s failed", record.id)
            self._idle.set()
            if q:
                continue
            self._wake.wait(IDLE_WAIT_S)
            self._wake.clear()

    def _evaluate(
        self, record: CallRecord, view: CallView, chosen: Sequence[EvaluatorConfig]
    ) -> None:
        seed = self.config.seed
        names = sampled_checks(chosen, record.id, seed)
        verdicts = run_checks(names, view.request, view.response, record.output_tokens)
        for v in verdicts:
            self._score(record, v.evaluator, CHECK_VERSIONS[v.evaluator], v.value, v.label,
                        v.explanation)  # fmt: skip
            self._counter.verdict(v.evaluator, verdict_result(v), v.value)
        bad = any(v.failed for v in verdicts)
        for ev in chosen:
            for spec in ev.judges:
                if spec.cascade and bad:
                    continue
                if draw(seed, f"{ev.name}/judge:{spec.name}", record.id) < spec.sample:
                    self._schedule_judge(record, view, spec)

    def _score(
        self,
        record: CallRecord,
        evaluator: str,
        version: str,
        value: float | None,
        label: str | None,
        explanation: str | None,
    ) -> None:
        self._sink.submit_score(
            ScoreRecord(
                id=new_call_id(),
                call_id=record.id,
                at=time.time(),
                evaluator=evaluator,
                evaluator_version=version,
                source="online",
                value=value,
                label=label,
                explanation=explanation,
                trace_id=record.trace_id,
            )
        )

    # -- judges (scheduled from the worker, run on the event loop) ----------------------------

    def _schedule_judge(self, record: CallRecord, view: CallView, spec: JudgeSpec) -> None:
        loop = self._loop
        if loop is None or self._transport is None or loop.is_closed():
            return
        with self._judge_lock:
            if len(self._judging) >= self.config.judge.max_inflight:
                self.shed_judges += 1
                self._counter.shed("judge")
                return
            future = asyncio.run_coroutine_threadsafe(self._judge(record, view, spec), loop)
            self._judging.add(future)
        future.add_done_callback(self._judged)

    def _judged(self, future: concurrent.futures.Future[None]) -> None:
        with self._judge_lock:
            self._judging.discard(future)

    async def _judge(self, record: CallRecord, view: CallView, spec: JudgeSpec) -> None:
        evaluator = f"judge:{spec.name}"
        version = judging.rubric_version()
        tag = f"{version.name}@v{version.version}"
        cfg = self.config.judge
        assert self._transport is not None
        assert cfg.model is not None
        answer = answer_of(view.response)
        headers = {
            "x-daytwo-project": cfg.project,
            "x-daytwo-workflow": evaluator,
            "x-daytwo-tags": f"judged_call={record.id}",
            "x-daytwo-prompt": f"{tag}; hash={version.hash}",
        }
        try:
            body = judging.judge_body(
                cfg.model,
                spec.rubric,
                last_user_text(view.request or {}),
                answer.text if answer is not None else "",
            )
            status, reply = await asyncio.wait_for(self._transport(body, headers), cfg.timeout_s)
            verdict = judging.read_verdict(status, reply)
        except (judging.JudgeSkipped, TimeoutError) as exc:
            why = str(exc) or "the judge call timed out"
            self._score(record, evaluator, tag, None, "skipped", why)
            self._counter.verdict(evaluator, "skipped", None)
            log.info("judge %s skipped call %s: %s", evaluator, record.id, why)
            return
        label = "pass" if verdict.passed else "fail"
        self._score(record, evaluator, tag, verdict.value, label, verdict.reason)
        self._counter.verdict(evaluator, label, verdict.value)


def verdict_result(v: Verdict) -> str:
    """The ``result`` label of a check's verdict (``daytwo_quality_checks_total``)."""
    return "measured" if v.evaluator == "length" else ("fail" if v.failed else "pass")
