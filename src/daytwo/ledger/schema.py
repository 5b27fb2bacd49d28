"""The ledger's tables, identical on SQLite and PostgreSQL (SQLAlchemy Core).

* ``calls`` -- one row per :class:`~daytwo.core.record.CallRecord`, one column per field, plus
  ``hour_start`` (the Unix second at which the call's UTC hour began) so raw rows and rollups
  can be reconciled with a plain ``GROUP BY``. Money is integer nano-dollars; ``cost_nanousd``
  NULL means *unpriced*.
* ``rollup_hourly`` -- one row per (``dim``, ``hour_start``, ``value``): for every reporting
  dimension (and ``dim='total'``, ``value=''``), the sums of :data:`METRICS` over the calls that
  started in that hour with that value. ``value`` is ``''`` when the record had none.
  Rows per hour are bounded by the cardinality of each dimension, not by their product, so a
  ``--by X`` report over N hours reads at most N x |X| rows whatever the traffic.
* ``rollup_daily_user`` -- the same metrics per (``day_start``, ``user``): users are the one
  high-cardinality dimension, so they are kept per UTC day instead of per hour.
* ``scores`` -- judgements of calls (:class:`~daytwo.core.score.ScoreRecord`): online
  evaluators' checks, sampled judges' verdicts, the application's feedback; keyed by score id,
  linked to ``calls`` by ``call_id`` (a score may arrive before its call's row is written).
* ``attempts`` -- one row per upstream attempt of a call that made more than one (a call's
  ``attempt_log``), keyed by (``call_id``, ``n``), with its own ``hour_start``. A call with a
  single attempt has no rows here: the ``calls`` row describes that attempt fully.

Rollups and attempts are written in the same transaction as the raw rows (see ``store.py``).
Attempt metrics count under the *call's* hour and dimension values (a failed attempt on one
provider of a call served by another counts under the provider that served it); per-attempt
questions read ``attempts``.
"""

from __future__ import annotations

import sqlalchemy as sa

from daytwo.ledger.dims import HOURLY_DIMS as HOURLY_DIMS
from daytwo.ledger.dims import REPORT_DIMS as REPORT_DIMS

#: The counters each rollup row holds (all integers; money in nano-dollars).
METRICS = (
    "calls",
    "errors",  # status == "error"
    "rejected",  # status == "rejected" (refused by policy before any upstream call)
    "cancelled",  # status == "cancelled" (the client went away)
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_nanousd",  # sum over priced calls
    "unpriced_calls",  # cost_nanousd IS NULL for a call that used tokens
    "estimated_calls",  # tokens_estimated
    "failed_calls",  # status != "ok"
    "failed_cost_nanousd",
    "retried_calls",  # attempts > 1
    "retried_cost_nanousd",
    "attributed_calls",
    "unattributed_calls",
    "unattributed_cost_nanousd",
    "extra_attempts",  # attempts - 1, over calls with attempts > 1
    "failed_attempts",  # attempt rows with outcome != "ok"
    "failed_attempt_cost_nanousd",  # their cost
    "cache_hits",  # cache_status == "hit"
    "replays",  # cache_status == "replay" (an Idempotency-Key answered again)
    "saved_nanousd",  # what cache hits and replays would have cost upstream
)

HOUR = 3600
DAY = 86_400

#: Constraint and index names, the same for every table in the ledger's database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def text_column(name: str, *, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


calls = sa.Table(
    "calls",
    metadata,
    sa.Column("id", sa.Text(), primary_key=True),
    sa.Column("started_at", sa.Double(), nullable=False),
    sa.Column("ended_at", sa.Double(), nullable=False),
    sa.Column("hour_start", sa.BigInteger(), nullable=False),
    sa.Column("latency_ms", sa.Double(), nullable=False),
    sa.Column("ttft_ms", sa.Double(), nullable=True),
    text_column("status", nullable=False),
    sa.Column("http_status", sa.Integer(), nullable=False),
    text_column("operation", nullable=False),
    text_column("alias", nullable=False),
    text_column("trace_id", nullable=False),
    text_column("error_class"),
    text_column("error_message"),
    sa.Column("stream", sa.Boolean(), nullable=False),
    # attribution
    text_column("project", nullable=False),
    text_column("workflow"),
    text_column("feature"),
    text_column("agent"),
    text_column("session"),
    text_column("user"),
    text_column("environment"),
    text_column("tags", nullable=False),  # JSON object, keys sorted
    sa.Column("attributed", sa.Boolean(), nullable=False),
    text_column("key_id"),
    # routing
    text_column("provider"),
    text_column("deployment"),
    text_column("served_model"),
    text_column("system_fingerprint"),  # CallRecord.fingerprint
    sa.Column("attempts", sa.Integer(), nullable=False),
    text_column("upstream_request_id"),
    # usage and cost
    sa.Column("input_tokens", sa.BigInteger(), nullable=False),
    sa.Column("output_tokens", sa.BigInteger(), nullable=False),
    sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
    sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
    sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
    sa.Column("tokens_estimated", sa.Boolean(), nullable=False),
    sa.Column("cost_nanousd", sa.BigInteger(), nullable=True),
    text_column("price_ref"),
    # answered without an upstream call
    text_column("cache_status"),  # "hit" | "replay"
    sa.Column("saved_nanousd", sa.BigInteger(), nullable=True),
    # the prompt that made the call (prompts as code), NULL when it named none
    text_column("prompt_name"),
    sa.Column("prompt_version", sa.Integer(), nullable=True),
    text_column("prompt_label"),
    text_column("prompt_hash"),
    # who called from where, under which config (migration 0009)
    text_column("client_ip"),
    text_column("config_hash"),
    # answered in degraded mode: static | cached | alias (migration 0010)
    text_column("degraded"),
    # the rollout that routed the call, and its arm: control | candidate (migration 0011)
    text_column("rollout_id"),
    text_column("rollout_arm"),
    sa.Index(None, "started_at"),
    sa.Index(None, "prompt_name", "started_at"),
    sa.Index(None, "key_id", "started_at"),
    sa.Index(None, "rollout_id", "started_at"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    text_column("call_id", nullable=False),
    sa.Column("n", sa.Integer(), nullable=False),
    sa.Column("started_at", sa.Double(), nullable=False),
    sa.Column("hour_start", sa.BigInteger(), nullable=False),
    sa.Column("latency_ms", sa.Double(), nullable=False),
    text_column("provider", nullable=False),
    text_column("deployment", nullable=False),
    text_column("model", nullable=False),
    text_column("outcome", nullable=False),  # "ok" | "error" | "cancelled"
    sa.Column("upstream_status", sa.Integer(), nullable=True),
    text_column("error_class"),
    text_column("decision"),
    sa.Column("delay_ms", sa.Double(), nullable=False),
    sa.Column("input_tokens", sa.BigInteger(), nullable=False),
    sa.Column("output_tokens", sa.BigInteger(), nullable=False),
    sa.Column("cost_nanousd", sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint("call_id", "n"),
    # Same reading pattern as calls: a time range (which provider failed when).
    sa.Index(None, "started_at"),
)


scores = sa.Table(
    "scores",
    metadata,
    text_column("id", nullable=False),
    text_column("call_id", nullable=False),
    text_column("trace_id"),
    sa.Column("at", sa.Double(), nullable=False),
    sa.Column("hour_start", sa.BigInteger(), nullable=False),
    text_column("evaluator", nullable=False),
    text_column("evaluator_version", nullable=False),
    text_column("source", nullable=False),  # "online" | "feedback" | "eval"
    sa.Column("value", sa.Double(), nullable=True),
    text_column("label"),
    text_column("explanation"),
    sa.PrimaryKeyConstraint("id"),
    # A window of one evaluator's scores (rates, drift, SLIs); a call's scores.
    sa.Index(None, "evaluator", "at"),
    sa.Index(None, "call_id"),
    sa.Index(None, "at"),
)


def _metric_columns() -> list[sa.Column[int]]:
    return [
        sa.Column(name, sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        for name in METRICS
    ]


rollup_hourly = sa.Table(
    "rollup_hourly",
    metadata,
    text_column("dim", nullable=False),
    sa.Column("hour_start", sa.BigInteger(), nullable=False),
    text_column("value", nullable=False),
    *_metric_columns(),
    # (dim, hour_start) first: a report reads one dimension over a range of hours.
    sa.PrimaryKeyConstraint("dim", "hour_start", "value"),
)

rollup_daily_user = sa.Table(
    "rollup_daily_user",
    metadata,
    sa.Column("day_start", sa.BigInteger(), nullable=False),
    text_column("user", nullable=False),
    *_metric_columns(),
    sa.PrimaryKeyConstraint("day_start", "user"),
)
