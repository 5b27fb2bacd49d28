"""The prompt-reference case of ``gateway_overhead.py``: the same gateway, one call naming a
prompt (``model: prompt:bench-reply``: stage 3 renders its system message and parameters,
cached per version and variables) against one plain call, at concurrency 1.

In its row the "direct" columns are the plain call through daytwo, so ``added`` is what naming
a prompt adds. The goal: at most 0.1 ms at p50.
"""

from __future__ import annotations

from pathlib import Path

#: What the load generator sends as ``model``.
PROMPT_MODEL = "prompt:bench-reply"
PROMPT_FILE = """\
name: bench-reply
version: 1
model: gpt-4o-mini
system: "You are a support agent for {{ product }}. Answer in {{ style }} sentences."
variables:
  product: {type: string, default: daytwo}
  style: {type: string, default: short}
temperature: 0.2
max_tokens: 64
"""


def add_prompts(config: Path) -> None:
    """A prompt directory beside the config, and the config's ``prompts`` section."""
    root = config.parent / "prompts"
    (root / "bench-reply").mkdir(parents=True, exist_ok=True)
    (root / "bench-reply" / "v1.yaml").write_text(PROMPT_FILE)
    (root / "labels.yaml").write_text("bench-reply: {production: 1}\n")
    with config.open("a") as f:
        f.write("prompts: {dir: prompts}\n")
