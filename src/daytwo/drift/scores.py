"""What drift reads from the ledger: the scores of a window joined to their calls (for the
model and the prompt version), grouped; the baseline's bad-outcome counts computed in SQL.
Blocking; the monitor calls it from a worker thread. Same SQL on SQLite and PostgreSQL.

Eval scores (``source = 'eval'``: canary and eval runs) are left out: they are not production
traffic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa

from daytwo.config.drift import DriftConfig
from daytwo.drift.detect import BAD_BELOW
from daytwo.ledger.schema import calls, scores
from daytwo.ledger.store import LedgerStore


@dataclass(frozen=True, slots=True, order=True)
class Group:
    """One model x prompt version x evaluator."""

    model: str
    prompt: str  #: ``name@vN``, or ``-`` for calls that used no prompt
    evaluator: str

    def labels(self) -> dict[str, str]:
        return {"model": self.model, "prompt": self.prompt, "evaluator": self.evaluator}


@dataclass(slots=True)
class Window:
    """The scores of one group in the recent window, in call order."""

    values: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    prompt_name: str | None = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.values, dtype=np.float64), np.asarray(self.times)


def matches(evaluator: str, patterns: Iterable[str]) -> bool:
    """``judge:*`` matches every judge; other names match themselves."""
    return any(
        evaluator.startswith(p[:-1]) if p.endswith("*") else evaluator == p for p in patterns
    )


def _evaluator_filter(names: Iterable[str]) -> sa.ColumnElement[bool]:
    terms = [
        scores.c.evaluator.like(n[:-1].replace("%", r"\%").replace("_", r"\_") + "%", escape="\\")
        if n.endswith("*")
        else scores.c.evaluator == n
        for n in names
    ]
    return sa.or_(*terms) if terms else sa.false()


def _model_column(cfg: DriftConfig) -> sa.ColumnElement[str]:
    if cfg.group_by == "served_model":
        return sa.func.coalesce(calls.c.served_model, calls.c.alias)
    return calls.c.alias


def _prompt(name: str | None, version: int | None) -> str:
    return "-" if name is None else f"{name}@v{version}"


def _joined(cfg: DriftConfig, since: float, until: float) -> sa.Select[Any]:
    names = (*cfg.rates, *cfg.distributions)
    return (
        sa.select(
            _model_column(cfg).label("model"),
            calls.c.prompt_name,
            calls.c.prompt_version,
            scores.c.evaluator,
            scores.c.value,
            calls.c.started_at,
        )
        .select_from(scores.join(calls, calls.c.id == scores.c.call_id))
        .where(
            scores.c.at >= since,
            scores.c.at < until,
            scores.c.value.is_not(None),
            scores.c.source != "eval",
            _evaluator_filter(names),
        )
    )


def read_window(
    store: LedgerStore, cfg: DriftConfig, since: float, until: float
) -> dict[Group, Window]:
    """Every group's scores with ``since <= at < until``, ordered by the call's start."""
    query = _joined(cfg, since, until).order_by(calls.c.started_at, scores.c.id)
    out: dict[Group, Window] = defaultdict(Window)
    with store.connect() as conn:
        for model, pname, pversion, evaluator, value, started in conn.execute(query):
            w = out[Group(str(model), _prompt(pname, pversion), str(evaluator))]
            w.values.append(float(value))
            w.times.append(float(started))
            w.prompt_name = pname
    return dict(out)


def read_baseline_counts(
    store: LedgerStore, cfg: DriftConfig, since: float, until: float
) -> dict[Group, tuple[int, int]]:
    """(bad outcomes, scores) per rate group in the baseline span, counted by the database."""
    inner = _joined(cfg, since, until).where(_evaluator_filter(cfg.rates)).subquery()
    bad = sa.func.sum(sa.case((inner.c.value < BAD_BELOW, 1), else_=0))
    query = sa.select(
        inner.c.model,
        inner.c.prompt_name,
        inner.c.prompt_version,
        inner.c.evaluator,
        bad,
        sa.func.count(),
    ).group_by(inner.c.model, inner.c.prompt_name, inner.c.prompt_version, inner.c.evaluator)
    with store.connect() as conn:
        return {
            Group(str(m), _prompt(pn, pv), str(e)): (int(b or 0), int(n))
            for m, pn, pv, e, b, n in conn.execute(query)
        }


def read_baseline_values(
    store: LedgerStore, cfg: DriftConfig, since: float, until: float
) -> dict[Group, np.ndarray]:
    """The values per distribution group in the baseline span (the newest ``max_events``)."""
    query = (
        _joined(cfg, since, until)
        .where(_evaluator_filter(cfg.distributions))
        .order_by(calls.c.started_at.desc())
    )
    out: dict[Group, list[float]] = defaultdict(list)
    with store.connect() as conn:
        for model, pname, pversion, evaluator, value, _ in conn.execute(query):
            values = out[Group(str(model), _prompt(pname, pversion), str(evaluator))]
            if len(values) < cfg.max_events:
                values.append(float(value))
    return {g: np.asarray(v, dtype=np.float64) for g, v in out.items()}
