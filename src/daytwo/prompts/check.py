"""What ``daytwo prompts check`` finds: edits to published versions, and for each new version
what it changes -- its diff, its prompt's token count, and its cost at last week's traffic.

Pure: the caller loads the prompts, what was published, the traffic and the prices.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from daytwo.core.tokens import estimate_messages_tokens
from daytwo.prompts.published import Published
from daytwo.prompts.render import render
from daytwo.prompts.spec import PromptVersion
from daytwo.prompts.store import PromptSet, unused_variables

_PLACEHOLDER: dict[str, Any] = {
    "integer": 0,
    "number": 0,
    "boolean": False,
    "array": [],
    "object": {},
}


def immutability_problems(
    prompts: PromptSet, published: Mapping[tuple[str, int], str], source: str
) -> list[str]:
    """A published version edited or removed, one line each, naming the file."""
    problems = []
    for (name, n), was in sorted(published.items()):
        now = prompts.versions.get(name, {}).get(n)
        if now is None:
            problems.append(f"{name}@v{n}: published ({source}) and removed")
        elif now.hash != was:
            latest = max(prompts.versions[name])
            problems.append(
                f"{now.file}: {name}@v{n} is published ({source}) and was edited; "
                f"versions never change: add v{latest + 1} instead"
            )
    return problems


def hygiene_problems(prompts: PromptSet) -> list[str]:
    """Declared variables no template uses."""
    return [
        f"{v.file}: variables.{name}: declared but no template uses it"
        for v in prompts.all()
        for name in unused_variables(v)
    ]


def placeholders(version: PromptVersion) -> dict[str, Any]:
    """Variables to render with for a size estimate: defaults, else ``{name}``-like values."""
    return {
        name: var.default
        if var.default is not None
        else _PLACEHOLDER.get(var.type, "{" + name + "}")
        for name, var in version.spec.variables.items()
    }


def prompt_tokens(version: PromptVersion) -> int:
    """Estimated input tokens of the rendered prompt messages (core/tokens.py's estimate)."""
    messages = list(render(version, placeholders(version)).messages)
    return estimate_messages_tokens(messages)


@dataclass(frozen=True, slots=True)
class Impact:
    """A new version against the one before it."""

    version: PromptVersion
    previous: PromptVersion | None
    tokens: int
    previous_tokens: int | None
    #: Calls of this prompt (any version) in the traffic window; None: no ledger read.
    calls: int | None
    #: USD per million input tokens of the version's model; None: unpriced.
    input_price: Decimal | None
    #: For a label move: the label (``calls`` then counts the calls that reached it).
    label: str | None = None

    @property
    def delta_tokens(self) -> int:
        return self.tokens - (self.previous_tokens or 0) if self.previous else self.tokens

    @property
    def cost_usd(self) -> Decimal | None:
        """Δ tokens per call x calls x price, in USD (None when calls or price are unknown)."""
        if self.calls is None or self.input_price is None:
            return None
        return Decimal(self.delta_tokens * self.calls) * self.input_price / Decimal(1_000_000)


def new_versions(prompts: PromptSet, published: Published) -> list[PromptVersion]:
    return [v for v in prompts.all() if (v.name, v.version) not in published]


def impacts(
    prompts: PromptSet,
    changed: list[PromptVersion],
    *,
    calls: Callable[[str], int | None],
    input_price: Callable[[str], Decimal | None],
) -> list[Impact]:
    out = []
    for v in changed:
        older = [n for n in prompts.versions[v.name] if n < v.version]
        prev = prompts.versions[v.name][max(older)] if older else None
        out.append(
            Impact(
                v,
                prev,
                prompt_tokens(v),
                prompt_tokens(prev) if prev is not None else None,
                calls(v.name),
                input_price(v.spec.model),
            )
        )
    return out


def label_moves(
    before: Mapping[str, Mapping[str, int]], now: Mapping[str, Mapping[str, int]]
) -> list[tuple[str, str, int | None, int]]:
    """(prompt, label, version before or None, version now) for every label that moved."""
    return [
        (name, label, before.get(name, {}).get(label), n)
        for name in sorted(now)
        for label, n in sorted(now[name].items())
        if before.get(name, {}).get(label) != n
    ]


def move_impacts(
    prompts: PromptSet,
    moves: list[tuple[str, str, int | None, int]],
    *,
    calls: Callable[[str, str], int | None],
    input_price: Callable[[str], Decimal | None],
) -> list[Impact]:
    out = []
    for name, label, old, new in moves:
        versions = prompts.versions[name]
        v, prev = versions[new], versions.get(old) if old is not None else None
        out.append(
            Impact(
                v,
                prev,
                prompt_tokens(v),
                prompt_tokens(prev) if prev is not None else None,
                calls(name, label),
                input_price(v.spec.model),
                label,
            )
        )
    return out


def file_diff(old: PromptVersion | None, new: PromptVersion, texts: Callable[[str], str]) -> str:
    a = texts(old.file).splitlines(keepends=True) if old is not None else []
    b = texts(new.file).splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, old.file if old else "/dev/null", new.file, n=3))


def usd(amount: Decimal) -> str:
    sign = "+" if amount >= 0 else "-"
    return f"{sign}${abs(amount).quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


def summary_markdown(
    found: list[Impact],
    problems: list[str],
    *,
    days: int,
    diff: Callable[[Impact], str],
    moves: list[Impact] | None = None,
) -> str:
    """The pull-request comment."""
    lines = ["## daytwo prompts check", ""]
    if problems:
        lines += ["**Failed:**", ""] + [f"- {p}" for p in problems] + [""]
    if moves:
        lines += _moves(moves, days)
    if not found:
        lines.append("No new prompt versions.")
        return "\n".join(lines) + "\n"
    lines += [
        f"| prompt | version | compared with | prompt tokens | Δ tokens/call "
        f"| calls (last {days} d) | est. cost impact |",
        "|---|---|---|---|---|---|---|",
    ]
    for i in found:
        v = i.version
        cost = i.cost_usd
        lines.append(
            f"| {v.name} | v{v.version} | {f'v{i.previous.version}' if i.previous else '-'} "
            f"| {i.tokens} | {i.delta_tokens:+d} | "
            f"{'-' if i.calls is None else f'{i.calls:,}'} | "
            f"{'-' if cost is None else usd(cost) + f'/{_per(days)}'} |"
        )
    for i in found:
        v = i.version
        lines += ["", f"### {v.name} v{v.version} (`{v.hash[:19]}`)", ""]
        cost = i.cost_usd
        if cost is not None:
            lines.append(
                f"{i.delta_tokens:+,} input tokens per call × {i.calls:,} calls/{_per(days)} "
                f"≈ {usd(cost)}/{_per(days)} on {v.spec.model} "
                f"(${i.input_price} per 1M input tokens)"
            )
        elif i.input_price is None:
            lines.append(f"{i.delta_tokens:+,} input tokens per call; `{v.spec.model}` is unpriced")
        else:
            lines.append(f"{i.delta_tokens:+,} input tokens per call; no traffic read")
        lines += ["", "```diff", diff(i).rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


def _moves(moves: list[Impact], days: int) -> list[str]:
    lines = [
        "### Label moves",
        "",
        f"| prompt | label | from | to | Δ tokens/call | calls with the label (last {days} d) "
        "| est. cost impact |",
        "|---|---|---|---|---|---|---|",
    ]
    for i in moves:
        cost = i.cost_usd
        lines.append(
            f"| {i.version.name} | {i.label} | "
            f"{f'v{i.previous.version}' if i.previous else '-'} | v{i.version.version} | "
            f"{i.delta_tokens:+d} | {'-' if i.calls is None else f'{i.calls:,}'} | "
            f"{'-' if cost is None else usd(cost) + f'/{_per(days)}'} |"
        )
    for i in moves:
        cost = i.cost_usd
        if cost is not None:
            lines.append("")
            lines.append(
                f"{i.version.name}@{i.label}: {i.delta_tokens:+,} input tokens per call × "
                f"{i.calls:,} calls/{_per(days)} ≈ {usd(cost)}/{_per(days)} on "
                f"{i.version.spec.model}"
            )
    return [*lines, ""]


def _per(days: int) -> str:
    return "week" if days == 7 else f"{days} d"
