"""``--prompts-dir``: the converted prompts as daytwo prompt files (``NAME/v1.yaml``, see
docs/prompts.md) and the targets as ``prompt:NAME@v1``, so the gateway renders them as it
renders an application's call.

A prompt file declares the variables a call may pass and refuses the rest, while promptfoo
tests often carry variables only their assertions read. Those assertions were rendered at
import, so such variables are dropped from the tests (listed) -- unless a ``python`` check may
read them, then they are declared optional. A variable whose values have several types cannot
be declared: prompt files are then not written and the targets keep their messages (listed).
"""

from __future__ import annotations

import os.path
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from daytwo.evals.model import SuiteError
from daytwo.evals.promptfoo.source import Import
from daytwo.evals.promptfoo.targets import Prompt
from daytwo.prompts.reference import PREFIX

#: JSON types of variable values, as prompt files name them.
_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),  # before int: a bool is an int in Python
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def prompt_files(
    state: Import,
    suite: dict[str, Any],
    targets: list[tuple[dict[str, Any], Prompt]],
    prompts_dir: Path,
) -> dict[Path, dict[str, Any]]:
    """The prompt files to write (path → content), the suite's targets rewritten to name them;
    nothing (and the suite untouched) when a variable cannot be declared."""
    tests: list[dict[str, Any]] = suite["tests"]
    default_vars: dict[str, Any] = suite.get("defaultTest", {}).get("vars", {})
    used = frozenset().union(*(p.names for _, p in targets))
    declared = _declared(state, tests, default_vars, used)
    if declared is None:
        return {}
    files: dict[Path, dict[str, Any]] = {}
    taken: set[str] = set()
    for target, prompt in targets:
        name = _name(str(target["id"]), taken)
        folder = prompts_dir / name
        if folder.exists():
            raise SuiteError(str(folder), "exists: the import does not overwrite prompts")
        files[folder / "v1.yaml"] = _spec(name, target, prompt, declared)
        for unread in sorted(set(declared) - prompt.names):
            state.skip(
                f"{prompt.where}.{unread}",
                f"declared in {name}/v1.yaml, which does not read it (tests pass it for other "
                "prompts or checks): `daytwo prompts check` lists it",
            )
        target.pop("messages")
        target["model"] = f"{PREFIX}{name}@v1"
    # `prompts:` goes after the description, where a suite names it
    rest = {k: suite.pop(k) for k in list(suite) if k != "description"}
    suite["prompts"] = Path(os.path.relpath(prompts_dir.resolve(), state.suite_dir.resolve()))
    suite["prompts"] = suite["prompts"].as_posix()
    suite.update(rest)
    return files


def _declared(
    state: Import,
    tests: list[dict[str, Any]],
    default_vars: dict[str, Any],
    used: frozenset[str],
) -> dict[str, dict[str, Any]] | None:
    """Each variable to declare, ``{type, required}``; variables only assertions read are
    dropped from the tests here (or kept optional when a python check may read them)."""
    python = any(a.get("type") == "python" for t in tests for a in t.get("assert", []))
    extra = sorted(({n for t in tests for n in t["vars"]} | set(default_vars)) - used)
    if extra and not python:
        for name in extra:
            for t in tests:
                t["vars"].pop(name, None)
            default_vars.pop(name, None)
            state.skip(
                f"tests.vars.{name}",
                "read by no prompt (its assertions were rendered at import): dropped, a prompt "
                "file refuses undeclared variables",
            )
        extra = []
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(used | set(extra)):
        values = [t["vars"][name] for t in tests if name in t["vars"]]
        values += [default_vars[name]] if name in default_vars else []
        kind = _type(values)
        if kind is None:
            state.skip(
                f"tests.vars.{name}",
                "values of several types: no prompt file written (the targets keep their messages)",
            )
            return None
        every = name in default_vars or all(name in t["vars"] for t in tests)
        out[name] = {"type": kind} if every and name in used else {"type": kind, "required": False}
    return out


def _type(values: Iterable[Any]) -> str | None:
    """The one type of a variable's values (integers with floats: ``number``), or None."""
    kinds = {next((k for t, k in _TYPES if isinstance(v, t)), "other") for v in values}
    if kinds == {"integer", "number"}:
        return "number"
    if not kinds:
        return "string"
    if len(kinds) > 1 or "other" in kinds:
        return None
    return kinds.pop()


def _name(label: str, taken: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", label.lower()).strip("-_")[:60] or "prompt"
    name, n = slug, 2
    while name in taken:
        name, n = f"{slug}-{n}", n + 1
    taken.add(name)
    return name


def _spec(
    name: str,
    target: Mapping[str, Any],
    prompt: Prompt,
    declared: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    messages = list(target["messages"])
    spec: dict[str, Any] = {"name": name, "version": 1, "model": target["model"]}
    if messages and messages[0]["role"] == "system":
        spec["system"] = messages.pop(0)["content"]
    if messages:
        spec["messages"] = messages
    spec["variables"] = dict(declared)
    spec["metadata"] = {"description": f"imported from promptfoo ({prompt.where})"}
    return spec
