"""Findings: which models in use are retired, retire soon, or are deprecated.

Pure: the caller gathers what is in use (:func:`configured_models`, and models served recently,
read from the ledger by the CLI) and passes ``today``, so a check is repeatable for any date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from daytwo.config.schema import Config
from daytwo.lifecycle.catalog import LifecycleCatalog, LifecycleEntry, load_bundled

Status = Literal["retired", "retiring", "deprecated"]
DEFAULT_WITHIN_DAYS = 90


@dataclass(frozen=True, slots=True)
class ModelUse:
    """A model name in use: where (``alias smart → openai/gpt-5``, or ``42 calls in the last
    30d``), through which configured provider and of which provider type (None: unknown)."""

    model: str
    where: str
    provider: str | None = None
    provider_type: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    model: str
    provider: str | None
    entry: LifecycleEntry
    status: Status
    #: The retirement date (the deprecation date when no retirement date is announced).
    date: date
    #: Days from ``today`` to ``date``: negative once retired.
    days_left: int
    used_in: tuple[str, ...]

    @property
    def successor(self) -> str | None:
        return self.entry.successor

    @property
    def failing(self) -> bool:
        """Retired, or retiring within the window: what makes ``daytwo models check`` exit 1."""
        return self.status != "deprecated"

    def message(self) -> str:
        """One line for a log or a terminal."""
        when = {
            "retired": f"was retired on {self.date} ({-self.days_left} days ago)",
            "retiring": f"retires on {self.date} (in {self.days_left} days)",
            "deprecated": f"is deprecated since {self.date}",
        }[self.status]
        if self.status == "deprecated" and self.entry.retires is not None:
            when = f"is deprecated and retires on {self.entry.retires} (in {self.days_left} days)"
        advice = (
            f"; suggested successor: {self.successor}"
            if self.successor
            else f"; {self.entry.note}"
            if self.entry.note
            else ""
        )
        return (
            f"model {self.model} ({self.entry.key}) {when}; used by {', '.join(self.used_in)}"
            f"{advice}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "provider": self.provider,
            "status": self.status,
            "date": self.date.isoformat(),
            "days_left": self.days_left,
            "successor": self.successor,
            "note": self.entry.note,
            "used_in": list(self.used_in),
            "entry": self.entry.to_json(),
        }


def check(
    uses: Iterable[ModelUse],
    today: date,
    within_days: int = DEFAULT_WITHIN_DAYS,
    *,
    catalog: LifecycleCatalog | None = None,
) -> list[Finding]:
    """Findings for the models in ``uses``, soonest date first: ``retired`` (date passed),
    ``retiring`` (within ``within_days`` of ``today``), ``deprecated`` (announced, later)."""
    catalog = catalog or load_bundled()
    horizon = today + timedelta(days=within_days)
    grouped: dict[tuple[str, str | None, str], tuple[LifecycleEntry, list[str]]] = {}
    for use in uses:
        entry = catalog.match(use.model, provider_type=use.provider_type)
        if entry is None:
            continue
        key = (use.model, use.provider, entry.key)
        _, where = grouped.setdefault(key, (entry, []))
        if use.where not in where:
            where.append(use.where)
    findings = []
    for (model, provider, _), (entry, where) in grouped.items():
        found = _status(entry, today, horizon)
        if found is not None:
            status, when = found
            findings.append(
                Finding(
                    model=model,
                    provider=provider,
                    entry=entry,
                    status=status,
                    date=when,
                    days_left=(when - today).days,
                    used_in=tuple(where),
                )
            )
    findings.sort(key=lambda f: (f.date, f.model, f.provider or ""))
    return findings


def _status(entry: LifecycleEntry, today: date, horizon: date) -> tuple[Status, date] | None:
    if entry.retires is not None:
        if entry.retires <= today:
            return "retired", entry.retires
        if entry.retires <= horizon:
            return "retiring", entry.retires
    started = entry.deprecated or entry.announced
    if started is not None and started <= today:
        return "deprecated", entry.retires or started
    return None  # announced for later, and retiring beyond the window


def configured_models(config: Config) -> list[ModelUse]:
    """Every deployment of every alias in ``config``."""
    uses = []
    for alias, spec in config.models.items():
        for dep in spec.deployments:
            provider = config.providers.get(dep.provider)
            uses.append(
                ModelUse(
                    model=dep.model,
                    where=f"alias {alias} → {dep.id}",
                    provider=dep.provider,
                    provider_type=None if provider is None else provider.type,
                )
            )
    return uses


def startup_findings(
    config: Config, today: date, *, within_days: int = DEFAULT_WITHIN_DAYS
) -> list[Finding]:
    """What the gateway warns about at start-up: configured models retired or retiring within
    ``within_days``. Log one warning per finding with :meth:`Finding.message`."""
    return [f for f in check(configured_models(config), today, within_days) if f.failing]
