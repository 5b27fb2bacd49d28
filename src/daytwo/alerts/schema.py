"""The alert history table. It lives in the ledger's database (SQLite or PostgreSQL), created by
the ledger's migration ``v0005_alerts``, and is described here on its own :data:`metadata`.

``alert_events`` holds one row per state change of an alert (``kind = 'transition'``: its
``state`` is ``pending``, ``firing``, ``resolved`` or ``inactive``) and one per delivery attempt
of a notification to a sink (``kind = 'delivery'``: ``state`` is what was delivered --
``firing``, ``resolved`` or ``test`` -- and ``outcome`` is ``ok`` or ``failed``, with the
reason in ``detail``). An alert is one (``rule``, ``fingerprint``): the fingerprint hashes the
rule's name and the label values it is evaluated per. ``labels`` is a JSON object. Times are
Unix seconds; ``replica`` names the gateway process that wrote the row.
"""

from __future__ import annotations

import sqlalchemy as sa

from daytwo.ledger.schema import NAMING_CONVENTION
from daytwo.ledger.schema import text_column as _text

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
    sa.Column("at", sa.Double(), nullable=False),
    _text("kind", nullable=False),
    _text("rule", nullable=False),
    _text("fingerprint", nullable=False),
    _text("state", nullable=False),
    _text("severity", nullable=False),
    _text("labels", nullable=False),
    sa.Column("value", sa.Double(), nullable=True),
    sa.Column("threshold", sa.Double(), nullable=True),
    sa.Column("started_at", sa.Double(), nullable=True),
    _text("sink"),
    sa.Column("attempt", sa.Integer(), nullable=True),
    _text("outcome"),
    _text("detail"),
    _text("replica"),
    sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
    sa.Index("ix_alert_events_at", "at"),
    sa.Index("ix_alert_events_rule_fingerprint", "rule", "fingerprint"),
)
