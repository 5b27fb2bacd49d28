"""``daytwo eval import promptfoo CONFIG``: a promptfoo config converted into a daytwo suite
(see docs/evals-promptfoo.md). Writes the suite, checks it loads, then prints one line per
item it could not carry. Exit 0 when converted, 2 when the input cannot be read."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from daytwo.cli.common import echo_json, fail
from daytwo.cli.evals import PREFIX, Command


@click.command("import", cls=Command)
@click.argument("kind", type=click.Choice(["promptfoo"]))
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="The suite to write [default: evals/<name>.yaml, name: the config's folder].",
)
@click.option(
    "--alias",
    "mapping",
    multiple=True,
    metavar="ID=ALIAS",
    help="Map a promptfoo provider id to a daytwo model alias (repeatable).",
)
@click.option(
    "--model", metavar="ALIAS", help="The alias providers that are not model APIs run as."
)
@click.option(
    "--judge",
    metavar="ALIAS",
    default="judge",
    show_default=True,
    help="The judge alias when the config names no grader.",
)
@click.option(
    "--embedding-model",
    metavar="ALIAS",
    default="text-embedding-3-small",
    show_default=True,
    help="The embeddings alias when the config names none.",
)
@click.option(
    "--prompts-dir",
    type=click.Path(file_okay=False),
    help="Write the prompts as prompt files here (targets prompt:NAME@v1) instead of messages.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def import_(
    kind: str,
    config: str,
    output: str | None,
    mapping: tuple[str, ...],
    model: str | None,
    judge: str,
    embedding_model: str,
    prompts_dir: str | None,
    as_json: bool,
) -> None:
    """Convert a promptfoo CONFIG (promptfooconfig.yaml) into a daytwo suite. Prints what could
    not be carried, one line each with its key path."""
    from daytwo.evals.model import SuiteError
    from daytwo.evals.promptfoo import convert, dump

    source = Path(config)
    target = Path(output) if output else Path("evals") / f"{_name(source)}.yaml"
    aliases = _aliases(mapping)
    try:
        converted = convert(
            source,
            target.parent,
            aliases=aliases,
            model=model,
            judge=judge,
            embedding_model=embedding_model,
            prompts_dir=Path(prompts_dir) if prompts_dir else None,
        )
    except SuiteError as exc:
        fail(str(exc), 2, prefix=PREFIX)
    header = f"# Imported from promptfoo: {source} (daytwo eval import promptfoo)\n"
    try:
        _write(target, header + dump(converted.suite), converted.prompt_files)
    except SuiteError as exc:
        fail(f"the converted suite does not load: {exc.message} ({exc.where})", 2, prefix=PREFIX)
    targets = len(converted.suite["targets"])
    tests = len(converted.suite["tests"])
    if as_json:
        echo_json(
            {
                "suite": str(target),
                "targets": targets,
                "tests": tests,
                "prompt_files": [str(p) for p in converted.prompt_files],
                "not_carried": [{"where": s.where, "reason": s.reason} for s in converted.skipped],
            }
        )
        return
    click.echo(f"wrote {target}: {targets} targets, {tests} tests")
    for path in converted.prompt_files:
        click.echo(f"wrote {path}")
    if converted.skipped:
        click.echo(f"not carried ({len(converted.skipped)}):")
        for item in converted.skipped:
            click.echo(f"  {item}")


def _write(target: Path, text: str, prompt_files: Mapping[Path, Any]) -> None:
    """The prompt files, then the suite: written beside its destination and loaded before it
    takes the name, so a suite that would not load is never left behind (nor its prompts)."""
    from daytwo.evals.promptfoo import dump
    from daytwo.evals.suite import load

    for path, spec in prompt_files.items():
        path.parent.mkdir(parents=True)
        path.write_text(dump(spec), encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".import-", suffix=".yaml", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        load(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        for path in prompt_files:
            shutil.rmtree(path.parent, ignore_errors=True)
        raise


def _name(source: Path) -> str:
    if source.stem.startswith("promptfooconfig") and source.resolve().parent.name:
        return source.resolve().parent.name
    return source.stem


def _aliases(mapping: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in mapping:
        pid, sep, alias = item.rpartition("=")
        if not sep or not pid or not alias:
            fail(f"--alias: expected ID=ALIAS, got `{item}`", 2, prefix=PREFIX)
        out[pid] = alias
    return out
