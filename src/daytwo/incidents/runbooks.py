"""Runbooks: what the on-call does for each kind of incident, shipped with daytwo and
overridable by a team (docs/incidents.md).

A runbook is a Markdown file ``<name>.md``: YAML front matter, then the fixed sections in
:data:`SECTIONS`, in that order, none empty, no other::

    ---
    name: provider-down                 # the file's name without .md
    title: The provider is down
    severity: sev2                      # sev1 (worst) .. sev4: how bad it usually is
    alerts: [error_rate, DaytwoHighErrorRate]   # alert kinds and names that point here
    page: the platform on-call          # who to page
    ---

    ## Symptoms
    ## First three checks               # exactly three numbered items, each a `daytwo ...` command
    ## Stop the bleeding
    ## Confirm recovery
    ## What to tell users
    ## Follow-ups

:func:`load_book` reads the shipped runbooks (package data, ``runbooks/*.md``) and then a
team's folder (``incidents.runbooks_dir``), whose runbook of the same name replaces the shipped
one. Any file that breaks the format stops the load with one :class:`RunbookError` naming the
file and the problem. Text is data: nothing in a runbook is evaluated or run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from daytwo.config.incidents import RUNBOOK_NAME

#: The sections every runbook has, in this order.
SECTIONS = (
    "Symptoms",
    "First three checks",
    "Stop the bleeding",
    "Confirm recovery",
    "What to tell users",
    "Follow-ups",
)
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
_FIELDS = ("name", "title", "severity", "alerts", "page")
_NAME = re.compile(rf"^{RUNBOOK_NAME}$")
_ALERT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_CHECK_ITEM = re.compile(r"^(\d+)\.\s", re.MULTILINE)
_COMMAND = re.compile(r"`(daytwo [^`]+)`")
#: A runbook file is a page, not a book.
MAX_BYTES = 64 * 1024


class RunbookError(ValueError):
    """A runbook file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class Runbook:
    name: str
    title: str
    severity: str
    alerts: tuple[str, ...]
    page: str
    #: (heading, text) in :data:`SECTIONS` order.
    sections: tuple[tuple[str, str], ...]
    #: ``shipped`` or the file's path.
    source: str

    def section(self, heading: str) -> str:
        return dict(self.sections)[heading]

    def checks(self) -> list[str]:
        """The ``daytwo`` commands of the first three checks, in order."""
        return _COMMAND.findall(self.section("First three checks"))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "severity": self.severity,
            "alerts": list(self.alerts),
            "page": self.page,
            "source": self.source,
            "sections": dict(self.sections),
        }


def parse(text: str, source: str, *, stem: str | None = None) -> Runbook:
    """One runbook from its file's text; ``stem``: the file's name without ``.md``, which the
    front matter's ``name`` must equal. Raises :class:`RunbookError`."""

    def bad(problem: str) -> RunbookError:
        return RunbookError(f"{source}: {problem}")

    if len(text.encode()) > MAX_BYTES:
        raise bad(f"larger than {MAX_BYTES // 1024} KiB")
    text = text.replace("\r\n", "\n")
    if not text.startswith("---\n"):
        raise bad("must start with YAML front matter between `---` lines")
    end = text.find("\n---\n", 3)
    if end < 0:
        raise bad("the front matter has no closing `---` line")
    meta = _front_matter(text[4:end], bad)
    if stem is not None and meta["name"] != stem:
        raise bad(f"name: `{meta['name']}` differs from the file's name `{stem}.md`")
    sections = _sections(text[end + 5 :], bad)
    return Runbook(
        name=meta["name"],
        title=meta["title"],
        severity=meta["severity"],
        alerts=tuple(meta["alerts"]),
        page=meta["page"],
        sections=sections,
        source=source,
    )


def _front_matter(text: str, bad: Any) -> dict[str, Any]:
    try:
        meta = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise bad(f"the front matter is not valid YAML{where}") from None
    if not isinstance(meta, dict):
        raise bad("the front matter must be a mapping of name, title, severity, alerts, page")
    missing = [f for f in _FIELDS if f not in meta]
    if missing:
        raise bad(f"front matter: missing {', '.join(missing)}")
    extra = sorted(str(k) for k in meta if k not in _FIELDS)
    if extra:
        raise bad(f"front matter: unknown key {extra[0]} (known: {', '.join(_FIELDS)})")
    for key in ("name", "title", "severity", "page"):
        if not isinstance(meta[key], str) or not meta[key].strip():
            raise bad(f"{key}: must be a non-empty string")
    if not _NAME.match(meta["name"]):
        raise bad(f"name: `{meta['name']}` must be lower-case letters, digits and dashes")
    if meta["severity"] not in SEVERITIES:
        raise bad(f"severity: `{meta['severity']}` is not one of {', '.join(SEVERITIES)}")
    alerts = meta["alerts"]
    if not isinstance(alerts, list) or not all(isinstance(a, str) for a in alerts):
        raise bad("alerts: must be a list of alert kinds or names ([] for none)")
    for a in alerts:
        if not _ALERT.match(a):
            raise bad(f"alerts: `{a}` is not an alert kind or name")
    return meta


def _sections(body: str, bad: Any) -> tuple[tuple[str, str], ...]:
    parts = re.split(r"^## +(.+?)[ \t]*$", body, flags=re.MULTILINE)
    if parts[0].strip():
        raise bad(f"text before the first section (`## {SECTIONS[0]}`)")
    found = [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts), 2)]
    headings = [h for h, _ in found]
    for h in headings:
        if h not in SECTIONS:
            raise bad(f"unknown section `## {h}` (the sections: {', '.join(SECTIONS)})")
    for h in SECTIONS:
        if headings.count(h) == 0:
            raise bad(f"missing section `## {h}`")
        if headings.count(h) > 1:
            raise bad(f"section `## {h}` appears twice")
    if headings != list(SECTIONS):
        raise bad(f"sections out of order: expected {', '.join(SECTIONS)}")
    for h, text in found:
        if not text:
            raise bad(f"section `## {h}` is empty")
    checks = dict(found)["First three checks"]
    items = _CHECK_ITEM.findall(checks)
    if items != ["1", "2", "3"]:
        raise bad("`## First three checks` must be exactly three numbered items (1. 2. 3.)")
    for n, item in enumerate(re.split(r"^\d+\.\s", checks, flags=re.MULTILINE)[1:], 1):
        if not _COMMAND.search(item):
            raise bad(f"`## First three checks` item {n} names no `daytwo ...` command")
    return tuple(found)


# ---------------------------------------------------------------- the book


@dataclass(frozen=True, slots=True)
class Book:
    """Every runbook by name: the shipped ones, and the team's over them."""

    runbooks: dict[str, Runbook]
    #: Names of shipped runbooks a team's file replaced.
    overridden: frozenset[str] = frozenset()

    def names(self) -> list[str]:
        return sorted(self.runbooks)

    def get(self, name: str) -> Runbook | None:
        return self.runbooks.get(name)

    def for_alert(self, alert: str) -> list[Runbook]:
        """The runbooks whose ``alerts`` name ``alert`` (a kind or an alert's name)."""
        return [r for r in self.runbooks.values() if alert in r.alerts]


def shipped() -> dict[str, Runbook]:
    """The runbooks that come with daytwo (package data)."""
    folder = resources.files("daytwo.incidents").joinpath("runbooks")
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".md"):
            stem = entry.name[:-3]
            out[stem] = parse(entry.read_text("utf-8"), f"shipped {entry.name}", stem=stem)
    out = {r.name: r for r in out.values()}
    return {n: _as_shipped(r) for n, r in out.items()}


def _as_shipped(r: Runbook) -> Runbook:
    return Runbook(r.name, r.title, r.severity, r.alerts, r.page, r.sections, "shipped")


def read_folder(folder: Path) -> list[Runbook]:
    """Every ``*.md`` runbook in ``folder`` (a team's). Raises :class:`RunbookError`."""
    if not folder.is_dir():
        raise RunbookError(f"incidents.runbooks_dir: {folder} is not a directory")
    out = []
    for path in sorted(folder.glob("*.md")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RunbookError(f"{path}: cannot read: {exc}") from None
        out.append(parse(text, str(path), stem=path.stem))
    return out


def load_book(team_dir: Path | None = None) -> Book:
    """The shipped runbooks, with a team's folder over them (same name: the team's wins)."""
    book = shipped()
    overridden: set[str] = set()
    if team_dir is not None:
        for r in read_folder(team_dir):
            if r.name in book and book[r.name].source == "shipped":
                overridden.add(r.name)
            book[r.name] = r
    return Book(book, frozenset(overridden))


def team_dir(runbooks_dir: str | None, base_dir: Path | None) -> Path | None:
    """``incidents.runbooks_dir`` as a path (relative: from the config file's folder)."""
    if runbooks_dir is None:
        return None
    path = Path(runbooks_dir).expanduser()
    return path if path.is_absolute() or base_dir is None else base_dir / path


# ---------------------------------------------------------------- rendering


def markdown(r: Runbook) -> str:
    """The runbook as plain Markdown (``daytwo runbook show NAME --format md``)."""
    alerts = ", ".join(f"`{a}`" for a in r.alerts) or "none (declared by hand)"
    lines = [
        f"# {r.title}",
        "",
        f"- **Runbook:** `{r.name}` ({r.source})",
        f"- **Severity:** {r.severity}",
        f"- **Page:** {r.page}",
        f"- **Alerts:** {alerts}",
        "",
    ]
    for heading, text in r.sections:
        lines += [f"## {heading}", "", text, ""]
    return "\n".join(lines)


def rich(r: Runbook) -> Any:
    """The runbook as a Rich renderable (``daytwo runbook show NAME`` in a terminal)."""
    from rich.markdown import Markdown

    return Markdown(markdown(r))


def problems(book: Book, refs: Iterable[tuple[str, str]]) -> list[str]:
    """Runbook names referred to (``(where, ref)`` pairs: a rule's ``runbook``) that the book
    does not have; URLs are not checked."""
    known = ", ".join(book.names())
    return [
        f"{where}: no runbook named `{ref}` (known: {known})"
        for where, ref in refs
        if "://" not in ref and ref not in book.runbooks
    ]
