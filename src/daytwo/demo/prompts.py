"""The demo's prompts (prompts as code): ``support-reply`` v1 in production, a more verbose v2
promoted midway by editing ``labels.yaml`` -- the gateway picks it up without a restart, and the
ledger shows each version's cost per call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from daytwo.ledger.prompts import VersionStats

NAME = "support-reply"
#: When (share of the run) the demo's operator promotes v2.
PROMOTE_AT = 0.5

#: support-reply v1 (the incident and rollouts demos serve it too).
V1 = """\
name: support-reply
version: 1
model: gpt-4o
system: "You are a friendly support agent for {{ shop }}. Answer briefly."
variables:
  shop: {type: string, default: the shop}
  topic: {type: string}
messages:
  - role: user
    content: "{{ topic }}"
metadata: {owner: support, description: Answers customer questions}
"""

_V2 = """\
name: support-reply
version: 2
model: gpt-4o
system: |
  You are a friendly, thorough support agent for {{ shop }}. Before answering, restate the
  customer's problem in your own words so they know you understood it. Then explain every step
  they need to take, one numbered step per line, with what they will see on the screen after
  each step. Mention the relevant help-center article, our refund and shipping policies when
  they apply, and what to do if the steps do not work. Close with a short summary and ask
  whether there is anything else you can help with. Keep a warm, professional tone throughout.
variables:
  shop: {type: string, default: the shop}
  topic: {type: string}
messages:
  - role: user
    content: "{{ topic }}"
metadata: {owner: support, description: "Answers customer questions, more thoroughly"}
"""


def write_prompts(workdir: Path) -> Path:
    """The demo's prompt directory (v1 in production), fresh for every run."""
    root = workdir / "prompts"
    (root / NAME).mkdir(parents=True, exist_ok=True)
    (root / NAME / "v1.yaml").write_text(V1, encoding="utf-8")
    (root / NAME / "v2.yaml").write_text(_V2, encoding="utf-8")
    (root / "labels.yaml").write_text(f"{NAME}: {{production: 1}}\n", encoding="utf-8")
    return root


def promote(root: Path) -> None:
    """The one-line pull request: production → v2."""
    (root / "labels.yaml").write_text(f"{NAME}: {{production: 2}}\n", encoding="utf-8")


def versions_table(rows: Sequence[VersionStats]) -> Table:
    table = Table(title=f"prompt {NAME} by version", title_justify="left", expand=False)
    for col in ("version", "calls", "input tok/call", "cost/call"):
        table.add_column(col, justify="right")
    for r in rows:
        per = r.cost_per_call_usd(6)
        table.add_row(
            f"v{r.version}",
            f"{r.calls:,}",
            f"{r.input_per_call:,.0f}",
            "-" if per is None else f"${per}",
        )
    return table
