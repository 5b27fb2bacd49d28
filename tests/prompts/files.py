"""Writing prompt directories for tests (the same files a team commits)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SUPPORT_V1: dict[str, Any] = {
    "name": "support-reply",
    "version": 1,
    "model": "gpt-4o-mini",
    "system": "You are a support agent for {{ product }}. Be {{ tone }}.",
    "messages": [{"role": "user", "content": "Ticket from {{ customer }}: {{ topic }}"}],
    "variables": {
        "product": {"type": "string", "default": "daytwo"},
        "tone": {"type": "string", "default": "brief"},
        "customer": {"type": "string"},
        "topic": {"type": "string"},
    },
    "temperature": 0.2,
    "max_tokens": 200,
    "metadata": {"owner": "support", "description": "Replies to tickets", "tags": ["support"]},
}

#: The more verbose successor.
SUPPORT_V2: dict[str, Any] = {
    **SUPPORT_V1,
    "version": 2,
    "system": (
        "You are a senior support agent for {{ product }}. Be {{ tone }}, thorough and kind. "
        "Always restate the problem, list every step, and close with a summary."
    ),
    "max_tokens": 400,
}


def write_version(root: Path, spec: dict[str, Any]) -> Path:
    folder = root / spec["name"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"v{spec['version']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def write_labels(root: Path, labels: dict[str, dict[str, int]]) -> Path:
    """Replaces the file in one step (as a checkout renames it in), never half-written."""
    path = root / "labels.yaml"
    tmp = root / ".labels.yaml.tmp"
    tmp.write_text(yaml.safe_dump(labels, sort_keys=False))
    tmp.replace(path)
    return path


def prompt_dir(root: Path, *specs: dict[str, Any], labels: dict[str, dict[str, int]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        write_version(root, spec)
    write_labels(root, labels)
    return root


#: The variables SUPPORT_V1 and SUPPORT_V2 ask for (the others have defaults).
SUPPORT_VARS = {"customer": "Ann", "topic": "a refund"}


def support_prompts(root: Path) -> Path:
    """A prompt directory with ``support-reply`` v1 (label ``production``) and v2
    (``staging``)."""
    return prompt_dir(
        root, SUPPORT_V1, SUPPORT_V2, labels={"support-reply": {"production": 1, "staging": 2}}
    )
