"""The ledger writer: the request path hands records over; one thread stores them in batches.

Guarantees
----------
* :meth:`Ledger.submit` never blocks and never raises: it appends to an in-memory deque (a few
  hundred nanoseconds). It never touches the disk or the database (except after :meth:`close`).
* The writer thread takes up to ``batch_size`` records at a time, at least every
  ``flush_interval_ms``, and stores each batch (raw rows + rollups) in one transaction.
* Past ``queue_size`` queued records, new records go to an overflow deque that the writer moves
  to the spill file (JSON lines) before every database attempt and between retries; the spill
  is replayed once the queue is drained, and at the next open if the process stopped first.
* A batch that fails because the database cannot take it now (down, restarting, locked,
  read-only, disk full) is kept and retried with exponential backoff (50 ms doubling to 5 s);
  every failure and the recovery are logged on ``daytwo.ledger``. A batch the database refuses
  as data is split until the offending record is found; that record alone goes to
  ``<spill>.rejected`` (logged), the others are stored.
* :meth:`close` drains everything. If the database still refuses writes when 80% of the
  timeout has passed, what is left is spilled to disk for the next open.
* Scores (:meth:`Ledger.submit_score`, the quality room's verdicts) go through the same thread:
  a queue of their own (``queue_size`` long), stored in batches of ``batch_size`` whenever the
  writer has caught up with the call queue (or reached a flush marker), retried with the same
  backoff, drained by :meth:`flush` and :meth:`close`. What differs: scores are not spilled to
  disk. A score arriving at a full score queue, one submitted after close, and what is left
  when the database still refuses writes at close's give-up time are dropped, counted
  (``LedgerStats.scores_dropped``) and logged; a score batch the database refuses as data is
  split like call batches and the offending score alone is dropped (logged).
* After a hard kill (SIGKILL, power loss) the records still in memory are lost: at most the
  queue (about ``flush_interval_ms`` x the call rate, or ``batch_size`` records in flight, more
  only while the database is slow or down). Spilled records are flushed to the OS on every
  append, so they survive a killed process (not a power loss: there is no fsync).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from daytwo.config.schema import LedgerConfig
from daytwo.core.record import CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.ledger.codec import to_json_line
from daytwo.ledger.errors import LedgerError, LedgerRejected
from daytwo.ledger.spill import SpillFile
from daytwo.ledger.store import BatchHook, LedgerStore, open_store

log = logging.getLogger("daytwo.ledger")

#: First wait after a failed write; it doubles up to BACKOFF_MAX_S.
BACKOFF_START_S = 0.05
BACKOFF_MAX_S = 5.0
#: Share of close()'s timeout spent retrying before what is left is spilled to disk.
CLOSE_RETRY_SHARE = 0.8
DEFAULT_CLOSE_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class LedgerStats:
    queued: int  #: records in memory, not yet stored (queue, overflow, the batch being written)
    written: int  #: records stored since open (replayed spill included)
    spilled: int  #: records written to the spill file since open
    write_errors: int  #: failed batch attempts since open (each was retried)
    last_flush_age_s: float  #: seconds since the writer last had everything stored
    rejected: int = 0  #: records the database refused as data, kept in ``<spill>.rejected``
    scores_written: int = 0  #: scores stored since open
    scores_dropped: int = 0  #: scores lost: queue full, refused as data, or unstored at close


class _Marker:
    """Put in the queue by flush(): set once everything before it is stored."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()


class RecordHook(BatchHook, Protocol):
    """A batch hook that also readies records before anything of them is written anywhere
    (the audit trail redacts captured content here: before the database, and before a spill
    file)."""

    def prepare(self, records: list[CallRecord]) -> None:
        """Ready ``records`` in place; idempotent; never raises."""
        ...


def default_spill_path(store: LedgerStore) -> Path:
    """Next to the SQLite file, or ``daytwo-ledger.spill.jsonl`` in the working directory."""
    if store.sqlite_path is not None:
        return store.sqlite_path.with_name(store.sqlite_path.name + ".spill.jsonl")
    return Path.cwd() / "daytwo-ledger.spill.jsonl"


class Ledger:
    """A store plus the background thread that writes to it. See the module docstring."""

    def __init__(
        self,
        store: LedgerStore,
        *,
        spill: SpillFile,
        queue_size: int = 100_000,
        batch_size: int = 2_000,
        flush_interval_s: float = 0.1,
        hook: RecordHook | None = None,
    ) -> None:
        self.store = store
        #: Written with each batch, in its transaction (the audit trail); set before records
        #: arrive.
        self.hook = hook
        self.spill_path = spill.path
        self._spill = spill
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._q: deque[CallRecord | _Marker] = deque()
        self._overflow: deque[CallRecord] = deque()
        self._inflight: list[CallRecord] = []
        self._scores: deque[ScoreRecord] = deque()
        self._scores_written = 0
        self._scores_dropped = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._kick = threading.Event()  # flush() and close(): retry now, do not finish a backoff
        self._close_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._closed = False
        self._give_up_at = float("inf")
        self._spill_dirty = True  # whatever a previous process left is replayed first
        self._spill_failing = False
        self._overflowing = False
        self._left_at_close = 0
        self._written = 0
        self._spilled = 0
        self._write_errors = 0
        self._rejected = 0
        self._caught_up_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="daytwo-ledger-writer", daemon=True)
        self._thread.start()

    @classmethod
    def open(
        cls,
        cfg: LedgerConfig,
        *,
        spill_path: str | None = None,
        hook: Callable[[LedgerStore], RecordHook | None] | None = None,
    ) -> Ledger:
        """Open (and migrate) the store at ``cfg.url`` and start the writer thread. ``hook``
        builds the batch hook from the open store, before anything (a spill replay included)
        is written."""
        store = open_store(cfg.url)
        path = Path(spill_path).resolve() if spill_path else default_spill_path(store)
        log.info("ledger open: %s (spill file %s)", store.safe_url, path)
        try:
            made = hook(store) if hook is not None else None
        except BaseException:
            store.close()
            raise
        return cls(
            store,
            spill=SpillFile(path),
            queue_size=cfg.queue_size,
            batch_size=cfg.batch_size,
            flush_interval_s=cfg.flush_interval_ms / 1000,
            hook=made,
        )

    # ------------------------------------------------------------------ any thread

    def submit(self, record: CallRecord) -> None:
        """Hand a record to the writer. Never blocks on I/O, never raises."""
        if self._closed:
            log.warning(
                "ledger record %s submitted after close; spilled to %s", record.id, self.spill_path
            )
            self._spill_records([record], why="submitted after close")
            return
        q = self._q
        if len(q) < self._queue_size:
            q.append(record)
            if len(q) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        else:
            self._overflow.append(record)
            if not self._wake.is_set():
                self._wake.set()

    def submit_score(self, score: ScoreRecord) -> None:
        """Hand a score to the writer (any thread). Never blocks on I/O, never raises; past
        ``queue_size`` queued scores, or after close, the score is dropped and counted."""
        if self._closed or len(self._scores) >= self._queue_size:
            with self._count_lock:
                self._scores_dropped += 1
            log.warning("ledger dropped score %s of call %s", score.id, score.call_id)
            return
        self._scores.append(score)
        if len(self._scores) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything submitted so far is stored; False if ``timeout_s`` passed."""
        if self._closed:
            return self._left_at_close == 0 and not self._thread.is_alive()
        marker = _Marker()
        self._q.append(marker)
        self._wake.set()
        self._kick.set()
        return marker.event.wait(timeout_s)

    def stats(self) -> LedgerStats:
        return LedgerStats(
            queued=len(self._q) + len(self._overflow) + len(self._inflight),
            written=self._written,
            spilled=self._spilled,
            write_errors=self._write_errors,
            last_flush_age_s=max(0.0, time.monotonic() - self._caught_up_at),
            rejected=self._rejected,
            scores_written=self._scores_written,
            scores_dropped=self._scores_dropped,
        )

    def close(self, timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S) -> None:
        """Store everything queued and stop the writer; blocks up to ``timeout_s``.

        What cannot be stored in time (database down) is spilled to disk for the next open.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + timeout_s
        self._give_up_at = time.monotonic() + timeout_s * CLOSE_RETRY_SHARE
        self._stop.set()
        self._wake.set()
        self._kick.set()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        stuck = self._thread.is_alive()
        left: list[CallRecord] = list(self._inflight) if stuck else []
        left.extend(self._pop_all())
        self._drop_scores(len(self._scores), why="not stored by close")
        self._scores.clear()
        if left:
            self._left_at_close = len(left)
            log.error(
                "ledger closing with %d records not stored%s; spilling them to %s",
                len(left),
                " (the writer is stuck in a database call)" if stuck else "",
                self.spill_path,
            )
            self._spill_records(left, why="close")
        self._spill.close()
        if stuck:
            log.error(
                "ledger writer did not stop within %.1fs; leaving its connection open", timeout_s
            )
        else:
            self.store.close()

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            try:
                self._drain()
            except Exception:  # a bug, not a database problem: those are retried inside
                log.exception(
                    "ledger writer failed unexpectedly; its batch goes to %s",
                    self._spill.rejected_path,
                )
                inflight, self._inflight = self._inflight, []
                self._reject(inflight)
            if stopping:
                return
            self._wake.wait(self._interval)
            self._wake.clear()

    def _drain(self) -> None:
        while True:
            batch, markers = self._take()
            self._spill_overflow()
            if batch:
                self._inflight = batch
                self._write(batch)
                self._inflight = []
            caught_up = not self._q
            if markers or caught_up:
                self._spill_overflow()
                if self._spill_dirty and not self._giving_up():
                    self._replay()
                self._drain_scores()  # their calls were handed to the store before them
            for marker in markers:
                marker.event.set()
            if caught_up:
                self._caught_up_at = time.monotonic()
                self._overflowing = False
                return

    def _drain_scores(self) -> None:
        scores = self._scores
        while scores:
            batch = [scores.popleft() for _ in range(min(len(scores), self._batch_size))]
            self._write_scores(batch)

    def _write_scores(self, batch: list[ScoreRecord]) -> None:
        """Store a batch of scores, retrying as :meth:`_write` does; never spilled."""
        delay = BACKOFF_START_S
        while True:
            if self._giving_up():
                self._drop_scores(len(batch), why="the database refused writes until close")
                return
            try:
                self.store.insert_scores(batch)
            except LedgerRejected as exc:
                if len(batch) > 1:
                    mid = len(batch) // 2
                    self._write_scores(batch[:mid])
                    self._write_scores(batch[mid:])
                    return
                self._drop_scores(1, why=f"score {batch[0].id} refused: {exc.message}")
                return
            except LedgerError as exc:
                with self._count_lock:
                    self._write_errors += 1
                log.warning(
                    "ledger write of %d scores failed (retry in %.2fs): %s",
                    len(batch),
                    delay,
                    exc.message,
                )
                self._backoff(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            else:
                self._scores_written += len(batch)
                return

    def _drop_scores(self, n: int, *, why: str) -> None:
        if not n:
            return
        with self._count_lock:
            self._scores_dropped += n
        log.error("ledger dropped %d scores (%s)", n, why)

    def _take(self) -> tuple[list[CallRecord], list[_Marker]]:
        q = self._q
        batch: list[CallRecord] = []
        markers: list[_Marker] = []
        while q and len(batch) < self._batch_size:
            item = q.popleft()
            if isinstance(item, _Marker):
                markers.append(item)
            else:
                batch.append(item)
        return batch, markers

    def _write(self, batch: list[CallRecord]) -> None:
        delay = BACKOFF_START_S
        failures = 0
        while True:
            if self._giving_up():
                self._spill_records(batch, why="the database refused writes until close")
                return
            try:
                if self.hook is not None:
                    self.hook.prepare(batch)
                self.store.insert_batch(batch, self.hook)
            except LedgerRejected as exc:
                if len(batch) > 1:  # find the offending record(s); store the rest
                    mid = len(batch) // 2
                    self._write(batch[:mid])
                    self._write(batch[mid:])
                    return
                log.error(
                    "ledger refused call %s (%s); kept in %s",
                    batch[0].id,
                    exc.message,
                    self._spill.rejected_path,
                )
                self._reject(batch)
                return
            except LedgerError as exc:
                failures += 1
                with self._count_lock:
                    self._write_errors += 1
                log.warning(
                    "ledger write of %d records failed (attempt %d, retry in %.2fs): %s",
                    len(batch),
                    failures,
                    delay,
                    exc.message,
                )
                self._spill_overflow()
                self._backoff(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            else:
                self._written += len(batch)
                if failures:
                    log.warning("ledger write succeeded again after %d failed attempts", failures)
                return

    def _backoff(self, delay: float) -> None:
        if self._stop.is_set():  # closing: retry until give-up time, then spill
            delay = min(delay, max(0.0, self._give_up_at - time.monotonic()))
        self._kick.wait(delay)  # flush() and close() cut the wait short, once
        self._kick.clear()

    def _giving_up(self) -> bool:
        return self._stop.is_set() and time.monotonic() >= self._give_up_at

    def _replay(self) -> None:
        self._spill_dirty = False
        try:
            files = self._spill.rotate()
        except OSError as exc:
            log.error("ledger cannot rotate spill file %s: %s", self.spill_path, exc)
            return
        for path in files:
            count = 0
            for chunk in self._spill.read(path, self._batch_size):
                self._inflight = chunk
                self._write(chunk)  # stored, or back in the active spill file when giving up
                self._inflight = []
                count += len(chunk)
                self._spill_overflow()
            path.unlink()
            log.info("ledger replayed %d spilled records from %s", count, path)

    # ------------------------------------------------------------------ spilling

    def _pop_all(self) -> list[CallRecord]:
        out: list[CallRecord] = []
        for q in (self._q, self._overflow):
            while q:
                item = q.popleft()
                if not isinstance(item, _Marker):  # a pending flush() stays unsatisfied
                    out.append(item)
        return out

    def _spill_overflow(self) -> None:
        if not self._overflow:
            return
        records = []
        overflow = self._overflow
        while overflow:
            records.append(overflow.popleft())
        if not self._overflowing:
            self._overflowing = True
            log.warning(
                "ledger queue is full (%d records); spilling new records to %s",
                self._queue_size,
                self.spill_path,
            )
        self._spill_records(records, why="queue full")

    def _spill_records(self, records: list[CallRecord], *, why: str) -> None:
        if self.hook is not None:
            self.hook.prepare(records)  # redacted before it is written, even to the spill
        try:
            n = self._spill.append(records)
        except OSError as exc:
            if not self._closed:  # keep them in memory and try again on the next cycle
                self._overflow.extend(records)
                if not self._spill_failing:
                    log.error(
                        "ledger cannot spill to %s (%s); keeping %d records in memory",
                        self.spill_path,
                        exc,
                        len(records),
                    )
                self._spill_failing = True
            else:
                log.error(
                    "ledger cannot spill to %s (%s): %d records are lost",
                    self.spill_path,
                    exc,
                    len(records),
                )
            return
        if self._spill_failing:
            log.warning("ledger spill file %s is writable again", self.spill_path)
        self._spill_failing = False
        self._spill_dirty = True
        with self._count_lock:
            self._spilled += n
        log.debug("ledger spilled %d records (%s)", n, why)

    def _reject(self, records: Iterable[CallRecord]) -> None:
        records = list(records)
        if self.hook is not None:
            self.hook.prepare(records)
        lines = [to_json_line(r) for r in records]
        if not lines:
            return
        try:
            self._spill.reject(lines)
        except OSError as exc:
            log.error(
                "ledger cannot write %s (%s): %d refused records are lost",
                self._spill.rejected_path,
                exc,
                len(lines),
            )
            return
        with self._count_lock:
            self._rejected += len(lines)
