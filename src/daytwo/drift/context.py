"""What else changed around the time a drift began: a prompt version first seen then, a
deployment whose served model or fingerprint changed (``model.changed`` admin events), a config
load or reload (``config.load`` / ``config.reload`` admin events, written by the drift service).
Blocking reads; the monitor calls them from a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from daytwo.alerts.notify import iso
from daytwo.keys.schema import admin_events
from daytwo.ledger.schema import calls
from daytwo.ledger.store import LedgerStore

#: The admin event actions that count as "a change" for drift's context.
MODEL_CHANGED = "model.changed"
CONFIG_ACTIONS = ("config.load", "config.reload")


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that changed: ``kind`` is ``prompt_version``, ``model_changed`` or ``config``."""

    kind: str
    at: float
    what: str
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": iso(self.at), "what": self.what, "detail": self.detail}


def changes_between(store: LedgerStore, model: str, since: float, until: float) -> list[Change]:
    """Everything that changed in ``[since, until]`` that could concern ``model`` (an alias or
    a served model), oldest first."""
    with store.connect() as conn:
        found = _prompt_versions(conn, model, since, until)
        found += _events(conn, model, since, until)
    return sorted(found, key=lambda c: c.at)


def _prompt_versions(conn: sa.Connection, model: str, since: float, until: float) -> list[Change]:
    first = sa.func.min(calls.c.started_at)
    query = (
        sa.select(calls.c.prompt_name, calls.c.prompt_version, first)
        .where(
            calls.c.prompt_name.is_not(None),
            calls.c.started_at <= until,
            sa.or_(calls.c.alias == model, calls.c.served_model == model),
        )
        .group_by(calls.c.prompt_name, calls.c.prompt_version)
        .having(first >= since)
    )
    return [
        Change(
            "prompt_version",
            float(at),
            f"prompt {name}@v{version} first seen",
            {"prompt": name, "version": version},
        )
        for name, version, at in conn.execute(query)
    ]


def _events(conn: sa.Connection, model: str, since: float, until: float) -> list[Change]:
    e = admin_events.c
    query = (
        sa.select(e.at, e.action, e.target, e.before, e.after)
        .where(
            e.at >= since,
            e.at <= until,
            e.action.in_((MODEL_CHANGED, *CONFIG_ACTIONS)),
        )
        .order_by(e.id)
    )
    out = []
    for at, action, target, before_text, after_text in conn.execute(query):
        before = orjson.loads(before_text) if before_text else {}
        after = orjson.loads(after_text) if after_text else {}
        if action == MODEL_CHANGED:
            if model not in (
                after.get("alias"),
                after.get("served_model"),
                before.get("served_model"),
            ):
                continue
            out.append(
                Change("model_changed", float(at), _model_text(target, before, after), after)
            )
        else:
            verb = "reloaded" if action == "config.reload" else "loaded"
            what = f"config {verb} (hash {after.get('hash', '?')})"
            out.append(Change("config", float(at), what, after))
    return out


def _model_text(target: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    return f"deployment {target}: {describe(before)} → {describe(after)}"


def describe(value: dict[str, Any]) -> str:
    """``model (fingerprint fp)`` as a model_changed event names one side."""
    text = str(value.get("served_model") or "?")
    if value.get("fingerprint"):
        text += f" (fingerprint {value['fingerprint']})"
    return text
