"""Loading a prompt directory into a :class:`PromptSet`, the immutable thing the gateway serves.

Layout (see docs/prompts.md)::

    prompts/
      labels.yaml              {support-reply: {production: 3, staging: 4}}
      prompts.lock             written by `daytwo prompts lock`: name@vN → content hash
      support-reply/
        v3.yaml
        v4.yaml

Every problem is collected (file, key path, what was expected) before one
:class:`PromptLoadError` is raised: a CI run or a refused reload names them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from daytwo.config.load import format_errors
from daytwo.core.errors import ModelNotFound
from daytwo.prompts.errors import PromptError, PromptLoadError
from daytwo.prompts.reference import PromptRef, parse_reference
from daytwo.prompts.render import Rendered, check_variables, render
from daytwo.prompts.sandbox import Sandbox, TemplateRefused
from daytwo.prompts.spec import LabelsFile, PromptSpec, PromptVersion

LABELS_FILE = "labels.yaml"
LOCK_FILE = "prompts.lock"
DEFAULT_LABEL = "production"
_VERSION_FILE = re.compile(r"^v([1-9][0-9]{0,8})\.ya?ml$")
#: Rendered (version, variables) pairs kept per prompt set.
RENDER_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Resolved:
    """A reference resolved: the version, the label it was reached by (None: by number)."""

    version: PromptVersion
    label: str | None


class PromptSet:
    """Every version of every prompt in a directory, with their labels."""

    def __init__(
        self,
        versions: Mapping[str, Mapping[int, PromptVersion]],
        labels: Mapping[str, Mapping[str, int]],
        *,
        default_label: str = DEFAULT_LABEL,
        stamp: tuple[int, ...] = (),
    ) -> None:
        self.versions = versions
        self.labels = labels
        self.default_label = default_label
        #: The directory's state when loaded (the watcher compares it).
        self.stamp = stamp
        self._rendered: dict[tuple[str, bytes], Rendered] = {}
        self._found: dict[tuple[str, str | None, str | None], Resolved] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self.versions.values())

    def resolve(self, ref: PromptRef, environment: str | None = None) -> Resolved:
        """The version a reference names: ``@vN``, ``@label``, else the label named like the
        call's environment when the prompt has one, else the default label."""
        versions = self.versions.get(ref.name)
        if versions is None:
            raise ModelNotFound(f"prompt:{ref.name}")
        if ref.version is not None:
            got = versions.get(ref.version)
            if got is None:
                raise PromptError(
                    f"Prompt `{ref.name}` has no version {ref.version} "
                    f"(versions: {', '.join(f'v{n}' for n in sorted(versions))}).",
                    param="model",
                    code="prompt_version_not_found",
                )
            return Resolved(got, None)
        labels = self.labels.get(ref.name, {})
        label = ref.label
        if label is None:
            label = environment if environment and environment in labels else self.default_label
        number = labels.get(label)
        if number is None:
            raise PromptError(
                f"Prompt `{ref.name}` has no label `{label}` "
                f"(labels: {', '.join(sorted(labels)) or 'none'}).",
                param="model",
                code="prompt_label_not_found",
            )
        return Resolved(versions[number], label)

    def lookup(self, text: str, environment: str | None, *, param: str = "model") -> Resolved:
        """:func:`parse_reference` + :meth:`resolve`, cached per (reference, environment): the
        set never changes once loaded."""
        key = (text, environment, param)
        hit = self._found.get(key)
        if hit is not None:
            return hit
        found = self.resolve(parse_reference(text, param=param), environment)
        if len(self._found) >= RENDER_CACHE_SIZE:
            self._found.clear()
        self._found[key] = found
        return found

    def render(self, version: PromptVersion, given: Any) -> Rendered:
        """The version rendered with a call's variables (checked; cached per version and
        variables)."""
        key = (version.hash, orjson.dumps(given, option=orjson.OPT_SORT_KEYS))
        hit = self._rendered.get(key)
        if hit is not None:
            return hit
        out = render(version, check_variables(version, given))
        if len(self._rendered) >= RENDER_CACHE_SIZE:
            self._rendered.clear()  # cheap bound; a working set this large re-renders
        self._rendered[key] = out
        return out

    def all(self) -> Iterator[PromptVersion]:
        for name in sorted(self.versions):
            for n in sorted(self.versions[name]):
                yield self.versions[name][n]


def directory_stamp(root: Path) -> tuple[int, ...]:
    """A cheap fingerprint of the directory: (mtime_ns, size) of every YAML/lock file."""
    out: list[int] = []
    try:
        for path in sorted(_files(root)):
            st = os.stat(path)
            out += (hash(str(path)), st.st_mtime_ns, st.st_size)
    except OSError:
        return (-1,)
    return tuple(out)


def _files(root: Path) -> Iterator[Path]:
    for child in root.iterdir():
        if child.is_file() and child.name in (LABELS_FILE, LOCK_FILE):
            yield child
        elif child.is_dir() and not child.name.startswith("."):
            for f in child.iterdir():
                if f.is_file() and f.suffix in (".yaml", ".yml"):
                    yield f


def load_prompts(
    root: str | Path,
    *,
    labels_override: Mapping[str, Mapping[str, int]] | None = None,
    default_label: str = DEFAULT_LABEL,
) -> PromptSet:
    """Load and check a prompt directory; raises :class:`PromptLoadError` listing every
    problem."""
    root = Path(root)
    if not root.is_dir():
        raise PromptLoadError([f"{root}: not a directory"])
    stamp = directory_stamp(root)
    problems: list[str] = []
    sandbox = Sandbox()
    versions: dict[str, dict[int, PromptVersion]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.suffix not in (".yaml", ".yml"):
                continue
            where = _rel(root, path)
            got = load_version(path.read_bytes(), where, sandbox, problems)
            if got is None:
                continue
            m = _VERSION_FILE.match(path.name)
            if m is None:
                problems.append(f"{where}: a version's file is named v<N>.yaml")
                continue
            if got.name != folder.name:
                problems.append(f"{where}: name: `{got.name}` is not its folder's `{folder.name}`")
                continue
            if got.version != int(m.group(1)):
                problems.append(f"{where}: version: {got.version} is not its file's v{m.group(1)}")
                continue
            versions.setdefault(got.name, {})[got.version] = got
    labels = read_labels(root, problems)
    for name, override in (labels_override or {}).items():
        labels[name] = {**labels.get(name, {}), **override}
    for name, named in labels.items():
        for label, n in named.items():
            if n not in versions.get(name, {}):
                problems.append(
                    f"labels: {name}.{label}: prompt `{name}` has no version {n}"
                    if name in versions
                    else f"labels: {name}: no prompt `{name}` in {root}"
                )
    if problems:
        raise PromptLoadError(problems)
    return PromptSet(versions, labels, default_label=default_label, stamp=stamp)


def load_version(
    raw: bytes, where: str, sandbox: Sandbox, problems: list[str]
) -> PromptVersion | None:
    """One file's version, or None with its problems appended."""
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problems.append(f"{where}{at}: {getattr(exc, 'problem', None) or 'invalid YAML'}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{where}: the file must be a mapping (name, version, model, ...)")
        return None
    try:
        spec = PromptSpec.model_validate(data)
    except ValidationError as exc:
        problems.extend(f"{where}: {line}" for line in format_errors(exc))
        return None
    before = len(problems)
    system = _compile(sandbox, spec.system, f"{where}: system", problems)
    templates = tuple(
        _compile(sandbox, m.content, f"{where}: messages.{i}.content", problems)
        for i, m in enumerate(spec.messages)
    )
    if len(problems) > before:
        return None
    used: set[str] = set()
    for t in (system, *templates):
        if t is not None:
            used |= t.names
    for name in sorted(used - set(spec.variables)):
        problems.append(f"{where}: uses the variable `{name}`, which `variables` does not declare")
    if len(problems) > before:
        return None
    return PromptVersion(spec, where, system, templates)


def unused_variables(version: PromptVersion) -> list[str]:
    used: set[str] = set()
    for t in (version.system, *version.templates):
        if t is not None:
            used |= t.names
    return sorted(set(version.spec.variables) - used)


def _compile(sandbox: Sandbox, source: str | None, where: str, problems: list[str]) -> Any:
    if source is None:
        return None
    try:
        return sandbox.compile(source)
    except TemplateRefused as exc:
        problems.append(f"{where}: {exc}")
        return None


def read_labels(root: Path, problems: list[str]) -> dict[str, dict[str, int]]:
    path = root / LABELS_FILE
    if not path.exists():
        return {}
    where = _rel(root, path)
    try:
        data = yaml.safe_load(path.read_bytes())
    except yaml.YAMLError:
        problems.append(f"{where}: invalid YAML")
        return {}
    try:
        parsed = LabelsFile.model_validate({"labels": data or {}})
    except ValidationError as exc:
        problems.extend(f"{where}: {line.removeprefix('labels.')}" for line in format_errors(exc))
        return {}
    return {k: dict(v) for k, v in parsed.labels.items()}


def _rel(root: Path, path: Path) -> str:
    return str(Path(root.name) / path.relative_to(root))
