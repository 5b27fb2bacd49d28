"""The quality room at run time: a call observer that queues finished calls and a worker
thread that checks them, off the response path.

On the event loop (:meth:`QualityRoom.observe`, a few microseconds): pick the evaluators whose
selectors match the call; if any, append (record, view) to a bounded deque, or -- when it is
full -- shed the call and count it. Nothing else happens on the response path.

On the worker thread (it looks at the queue every :data:`POLL_S`, sooner once :data:`WAKE_AT`
calls -- or half the queue -- wait): run the sampled cheap checks (pure CPU), hand one
:class:`~daytwo.core.score.ScoreRecord` per verdict to the ledger writer, count the verdicts;
then, for each sampled judge whose cascade allows it, hand the judge call to the event loop
(I/O): at most ``judge.max_inflight`` run at once, up to ``judge.queue_size`` wait for a slot,
and a judge past that is shed and counted. A judge
call goes through the gateway's pipeline (the transport handed in), as a call of project
``judge.project``, workflow ``judge:<name>``, tagged ``judged_call=<call id>``; one the
pipeline refuses (budget spent) is recorded as a ``skipped`` score, the user's call untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from daytwo.config.quality import EvaluatorConfig, JudgeSpec, QualityConfig
from daytwo.core.ids import new_call_id
from daytwo.core.judging import RAG_THRESHOLD
from daytwo.core.observe import CallView
from daytwo.core.record import CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.core.secrets import SecretRegistry
from daytwo.quality import judge as judging
from daytwo.quality.checks import answer_of
from daytwo.quality.evaluate import (
    CHECK_VERSIONS,
    Verdict,
    draw,
    last_user_text,
    leak_redactor,
    matches,
    run_checks,
    sampled_checks,
)

log = logging.getLogger("daytwo.quality")

#: The worker looks at the queue this often; it is woken sooner only once WAKE_AT calls wait.
#: Waking a thread per call would hand it the GIL while the answer is still being sent
#: (measured: it doubled the added p50 at concurrency 1); checking in batches does not.
POLL_S = 0.05
WAKE_AT = 64
#: How long :meth:`QualityRoom.close` waits for queued checks and running judges.
CLOSE_TIMEOUT_S = 10.0


class ScoreSink(Protocol):
    def submit_score(self, score: ScoreRecord) -> None: ...


class VerdictCounter(Protocol):
    def verdict(self, evaluator: str, result: str, value: float | None) -> None: ...
    def shed(self, stage: str) -> None: ...


class EvaluationTracer(Protocol):
    def evaluated(self, record: CallRecord, scores: Sequence[ScoreRecord]) -> None: ...


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
        tracer: EvaluationTracer | None = None,
        secrets: SecretRegistry | None = None,
    ) -> None:
        self.config = cfg
        self._secrets = secrets
        #: The ``leak`` check's redactor (the secrets daytwo resolved, key shapes, patterns).
        self._leak = leak_redactor(cfg.leak, secrets)
        self._sink = sink
        self._counter: VerdictCounter = counter or _NoCounter()
        self._transport = transport
        self._tracer = tracer
        #: Wake the worker before the queue can fill up between two polls.
        self._wake_at = max(1, min(WAKE_AT, cfg.queue_size // 2))
        self._q: deque[_Item] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Judge calls: running tasks and those waiting for a slot (both on the event loop).
        self._judging: set[asyncio.Task[None]] = set()
        self._waiting: deque[tuple[CallRecord, CallView, JudgeSpec]] = deque()
        self._all_judged = asyncio.Event()
        #: Work shed since start: calls whose checks did not fit the queue, judges over the cap.
        self.shed_calls = 0
        self.shed_judges = 0
        self._thread: threading.Thread | None = None

    def reconfigure(self, cfg: QualityConfig) -> None:
        """A config reload: the next calls are matched, sampled and judged by ``cfg`` (one
        attribute swap; calls already queued keep the evaluators they were queued with)."""
        self._wake_at = max(1, min(WAKE_AT, cfg.queue_size // 2))
        if cfg.leak != self.config.leak:
            self._leak = leak_redactor(cfg.leak, self._secrets)
        self.config = cfg

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
        q = self._q
        q.append((record, view, chosen))
        if len(q) >= self._wake_at and not self._wake.is_set():
            self._wake.set()

    async def aclose(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Check what is queued, wait for running judges, stop the worker (graceful shutdown:
        run before the ledger closes, so the scores reach it)."""
        deadline = time.monotonic() + timeout_s
        self._stop.set()
        self._wake.set()
        if self._thread is not None:  # it checks what is queued, then stops
            await asyncio.to_thread(self._thread.join, timeout_s)
        await asyncio.sleep(0)  # judges the worker handed over last are in the loop's queue
        if self._judging or self._waiting:
            self._all_judged.clear()
            left = max(0.0, deadline - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_judged.wait(), left)

    # -- worker thread ------------------------------------------------------------------------

    def _run(self) -> None:
        q = self._q
        while True:
            stopping = self._stop.is_set()
            while q:
                record, view, chosen = q.popleft()
                try:
                    self._evaluate(record, view, chosen)
                except Exception:  # a bug in a check must not stop the room
                    log.exception("quality check of call %s failed", record.id)
            if stopping:
                return
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _evaluate(
        self, record: CallRecord, view: CallView, chosen: Sequence[EvaluatorConfig]
    ) -> None:
        seed = self.config.seed
        names = sampled_checks(chosen, record.id, seed)
        verdicts = run_checks(
            names, view.request, view.response, record.output_tokens, leak=self._leak
        )
        made = [
            self._score(
                record, v.evaluator, CHECK_VERSIONS[v.evaluator], v.value, v.label, v.explanation
            )
            for v in verdicts
        ]
        for v in verdicts:
            self._counter.verdict(v.evaluator, verdict_result(v), v.value)
        if self._tracer is not None:
            self._tracer.evaluated(record, made)
        bad = any(v.failed for v in verdicts)
        for ev in chosen:
            for spec in ev.judges:
                if spec.cascade and bad:
                    continue
                if spec.kind == "faithfulness" and not view.context:
                    continue  # nothing to check the answer against
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
    ) -> ScoreRecord:
        score = ScoreRecord(
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
        self._sink.submit_score(score)
        return score

    # -- judges (scheduled from the worker, run on the event loop) ----------------------------

    def _schedule_judge(self, record: CallRecord, view: CallView, spec: JudgeSpec) -> None:
        """From the worker thread: hand a sampled judge to the event loop."""
        loop = self._loop
        if loop is None or self._transport is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._admit_judge, record, view, spec)

    def _admit_judge(self, record: CallRecord, view: CallView, spec: JudgeSpec) -> None:
        """On the loop: run the judge now, queue it for a slot, or shed it (counted)."""
        judge = self.config.judge
        if len(self._judging) < judge.max_inflight:
            self._start_judge(record, view, spec)
        elif len(self._waiting) < judge.queue_size:
            self._waiting.append((record, view, spec))
        else:
            self.shed_judges += 1
            self._counter.shed("judge")

    def _start_judge(self, record: CallRecord, view: CallView, spec: JudgeSpec) -> None:
        task = asyncio.get_running_loop().create_task(self._judge(record, view, spec))
        self._judging.add(task)
        task.add_done_callback(self._judged)

    def _judged(self, task: asyncio.Task[None]) -> None:
        self._judging.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("judge call failed", exc_info=task.exception())
        if self._waiting:
            self._start_judge(*self._waiting.popleft())
        elif not self._judging:
            self._all_judged.set()

    async def _judge(self, record: CallRecord, view: CallView, spec: JudgeSpec) -> None:
        evaluator = f"judge:{spec.name}"
        version = judging.prompt_version(judge_prompt(spec))
        tag = f"{version.name}@v{version.version}"
        cfg = self.config.judge
        assert self._transport is not None
        assert cfg.model is not None
        headers = {
            "x-daytwo-project": cfg.project,
            "x-daytwo-workflow": evaluator,
            "x-daytwo-tags": f"judged_call={record.id}",
            "x-daytwo-prompt": f"{tag}; hash={version.hash}",
        }
        try:
            body = judge_request(spec, cfg.model, view)
            status, reply = await asyncio.wait_for(self._transport(body, headers), cfg.timeout_s)
            verdict = read_judge_verdict(spec, status, reply)
        except (judging.JudgeSkipped, TimeoutError) as exc:
            why = str(exc) or "the judge call timed out"
            skipped = self._score(record, evaluator, tag, None, "skipped", why)
            self._counter.verdict(evaluator, "skipped", None)
            if self._tracer is not None:
                self._tracer.evaluated(record, [skipped])
            log.info("judge %s skipped call %s: %s", evaluator, record.id, why)
            return
        label = "pass" if verdict.passed else "fail"
        score = self._score(record, evaluator, tag, verdict.value, label, verdict.reason)
        self._counter.verdict(evaluator, label, verdict.value)
        if self._tracer is not None:
            self._tracer.evaluated(record, [score])


def judge_prompt(spec: JudgeSpec) -> str:
    """The evals room's prompt a judge of this kind asks with."""
    return judging.FAITHFULNESS_PROMPT if spec.kind == "faithfulness" else judging.RUBRIC_PROMPT


def judge_request(spec: JudgeSpec, model: str, view: CallView) -> dict[str, Any]:
    """The judge call's chat body for one judged call."""
    answer = answer_of(view.response)
    text = answer.text if answer is not None else ""
    question = last_user_text(view.request or {})
    if spec.kind == "faithfulness":
        return judging.faithfulness_body(model, question, view.context or (), text)
    assert spec.rubric is not None  # the config requires one for kind rubric
    return judging.judge_body(model, spec.rubric, question, text)


def read_judge_verdict(spec: JudgeSpec, status: int, reply: dict[str, Any]) -> judging.JudgeVerdict:
    """The verdict in a judge call's answer, scored the way the judge's kind scores."""
    if spec.kind == "faithfulness":
        threshold = spec.threshold if spec.threshold is not None else RAG_THRESHOLD
        return judging.read_faithfulness(status, reply, threshold)
    return judging.read_verdict(status, reply)


def verdict_result(v: Verdict) -> str:
    """The ``result`` label of a check's verdict (``daytwo_quality_checks_total``)."""
    return "measured" if v.evaluator == "length" else ("fail" if v.failed else "pass")
