"""The call ledger: one row per call, stored in SQLite (default) or PostgreSQL, plus rollups.

* ``schema`` -- the tables: raw ``calls`` and ``attempts`` (the upstream attempts of retried
  calls), ``rollup_hourly``, ``rollup_daily_user``.
* ``migrations/`` + ``migrate`` -- Alembic migrations, run when a store is opened.
* ``store`` -- :class:`~daytwo.ledger.store.LedgerStore`: one transaction per batch writes the
  raw rows and upserts the rollups, so the two never disagree.
* ``writer`` -- :class:`~daytwo.ledger.writer.Ledger`: the hot path's
  ``submit()`` (a deque append) and the one background thread that writes batches, retries
  while the database is down and spills to a JSON-lines file when the queue is full.
* ``report`` -- :func:`~daytwo.ledger.report.spend_report`, answered from the rollups only.
* ``synth`` -- realistic synthetic traffic for benchmarks and demos.

The ledger knows nothing about HTTP: it receives :class:`~daytwo.core.record.CallRecord` values.
"""
