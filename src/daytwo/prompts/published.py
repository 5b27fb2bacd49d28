"""What has been published, to hold versions immutable: the committed lock file
(``prompts.lock``: ``NAME@vN: sha256:...``, written by ``daytwo prompts lock``) and the
versions on a git base (``git show REF:path``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from daytwo.prompts.errors import PromptLoadError
from daytwo.prompts.sandbox import Sandbox
from daytwo.prompts.spec import PromptVersion
from daytwo.prompts.store import LABELS_FILE, LOCK_FILE, PromptSet, load_version

#: (name, version) → the version's content hash when it was published.
Published = dict[tuple[str, int], str]


def read_lock(root: Path) -> Published | None:
    """The lock file's entries; None when there is no lock file."""
    path = root / LOCK_FILE
    if not path.exists():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise PromptLoadError([f"{path}: expected a mapping of NAME@vN: sha256:..."])
    out: Published = {}
    for key, value in data.items():
        name, _, v = str(key).partition("@v")
        if not v.isdigit() or not isinstance(value, str):
            raise PromptLoadError([f"{path}: {key}: expected NAME@vN: sha256:..."])
        out[name, int(v)] = value
    return out


def lock_text(prompts: PromptSet) -> str:
    lines = [
        "# Content hashes of the published prompt versions (daytwo prompts lock).",
        "# `daytwo prompts check` refuses a change to any of them: add a new version instead.",
    ]
    lines += [f"{v.name}@v{v.version}: {v.hash}" for v in prompts.all()]
    return "\n".join(lines) + "\n"


def write_lock(prompts: PromptSet, root: Path) -> Path:
    path = root / LOCK_FILE
    path.write_text(lock_text(prompts), encoding="utf-8")
    return path


def at_git_base(root: Path, ref: str) -> dict[tuple[str, int], PromptVersion]:
    """Every version file under ``root`` as it was at ``ref`` (raises PromptLoadError when git
    cannot answer)."""
    if ref.startswith("-"):
        raise PromptLoadError([f"--base: {ref!r} is not a git ref"])
    root = root.resolve()
    top = Path(_git(root, "rev-parse", "--show-toplevel").strip()).resolve()
    rel = root.relative_to(top)
    listing = _git(top, "ls-tree", "-r", "--name-only", ref, "--", str(rel))
    out: dict[tuple[str, int], PromptVersion] = {}
    sandbox = Sandbox()
    for path in listing.splitlines():
        parts = Path(path).relative_to(rel).parts
        if len(parts) != 2 or not parts[1].endswith((".yaml", ".yml")):
            continue
        raw = _git(top, "show", f"{ref}:{path}").encode()
        problems: list[str] = []
        # Named like the working tree's file (``prompts/NAME/vN.yaml``) for diffs and messages.
        got = load_version(raw, str(Path(root.name, *parts)), sandbox, problems)
        if got is not None:
            out[got.name, got.version] = got
    return out


def labels_at_git_base(root: Path, ref: str) -> dict[str, dict[str, int]]:
    """``labels.yaml`` as it was at ``ref`` ({} when it did not exist or does not parse)."""
    if ref.startswith("-"):
        raise PromptLoadError([f"--base: {ref!r} is not a git ref"])
    root = root.resolve()
    top = Path(_git(root, "rev-parse", "--show-toplevel").strip()).resolve()
    rel = root.relative_to(top) / LABELS_FILE
    try:
        text = _git(top, "show", f"{ref}:{rel}")
    except PromptLoadError:
        return {}
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        return {}
    return {
        str(name): {str(k): v for k, v in labels.items() if isinstance(v, int)}
        for name, labels in data.items()
        if isinstance(labels, dict)
    }


def _git(cwd: Path, *args: str) -> str:
    try:
        # git from PATH, as CI runs it; arguments are a ref and paths, never a shell line
        done = subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PromptLoadError([f"git {args[0]}: {exc}"]) from None
    if done.returncode != 0:
        raise PromptLoadError([f"git {' '.join(args[:2])}: {done.stderr.strip()}"])
    return done.stdout
