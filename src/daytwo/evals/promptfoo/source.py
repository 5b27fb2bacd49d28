"""Reading a promptfoo config and its files, and the state of one conversion: the YAML loader
(YAML 1.2 as promptfoo reads it), ``file://`` references, what was left behind."""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from daytwo.evals.model import SuiteError
from daytwo.prompts.sandbox import Sandbox


class _Loader(yaml.SafeLoader):
    """YAML as promptfoo (js-yaml, YAML 1.2) reads it: only true/false are booleans, so
    ``body: Yes`` stays the text ``Yes``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Dumper(yaml.SafeDumper):
    """Every target spells its messages out (no ``&id001`` anchors: the suite is read by
    people)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(suite: Mapping[str, Any]) -> str:
    """The suite as YAML, keys in the order a suite is read."""
    return yaml.dump(suite, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


@dataclass(frozen=True, slots=True)
class Skipped:
    """One thing the import could not carry: its key path in the promptfoo config and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class Converted:
    """The daytwo suite (the YAML document as data) and what was left behind."""

    suite: dict[str, Any]
    skipped: tuple[Skipped, ...]
    #: Prompt files to write (``--prompts-dir``): path → content.
    prompt_files: Mapping[Path, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Import:
    """The state of one conversion: where files are read from and written to, what was
    skipped."""

    source_dir: Path
    suite_dir: Path
    aliases: Mapping[str, str]
    fallback_model: str | None
    #: ``assertionTemplates``: what ``$ref: '#/assertionTemplates/NAME'`` names.
    templates: Mapping[str, Any] = field(default_factory=dict)
    sandbox: Sandbox = field(default_factory=Sandbox)
    #: Provider ids that map to no alias.
    unmapped: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def skip(self, where: str, reason: str) -> None:
        item = Skipped(where, reason)
        if item not in self.skipped:  # a test whose array variables expand is read per copy
            self.skipped.append(item)


def read_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(str(path), "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(str(path), f"cannot read the file: {exc}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise SuiteError(f"{path}{at}", getattr(exc, "problem", None) or "invalid YAML") from None
    if not isinstance(data, dict):
        raise SuiteError(str(path), "a promptfoo config is a mapping (prompts, providers, tests)")
    if "prompts" not in data:
        raise SuiteError(f"{path}: prompts", "required key is missing")
    return data


def files(state: Import, ref: str) -> list[Path]:
    """The files a ``file://`` reference names (a glob pattern may name several)."""
    name = ref.removeprefix("file://")
    pattern = str(state.source_dir / name)
    if any(c in name for c in "*?["):
        return [Path(p) for p in sorted(glob.glob(pattern))]
    return [Path(pattern)]


def read_text(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(where, f"cannot read {path}: {exc}") from None


def parsed(path: Path, where: str) -> Any:
    text = read_text(path, where)
    try:
        if path.suffix == ".json":
            return orjson.loads(text)
        if path.suffix == ".jsonl":
            return [orjson.loads(line) for line in text.splitlines() if line.strip()]
        return yaml.load(text, Loader=_Loader)  # noqa: S506  # a safe loader
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise SuiteError(where, f"{path.name}: invalid {path.suffix[1:].upper()}: {exc}") from None


def load_one(state: Import, ref: str, where: str) -> Any:
    paths = files(state, ref)
    if len(paths) != 1 or paths[0].suffix not in (".json", ".yaml", ".yml"):
        raise SuiteError(where, f"{ref}: expected one JSON or YAML file")
    return parsed(paths[0], where)
