"""``daytwo prompts``: the prompt directory from the command line (list, show, diff, render,
lock, check for CI, per-version stats from the ledger).

Exit codes: 0 ok, 1 check failed or a runtime failure, 2 usage error. Failures are one line.
"""

from __future__ import annotations

import difflib
import os
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import orjson

from daytwo.cli.common import DEFAULT_CONFIG, fail, json_option
from daytwo.cli.oneline import one_line_family

if TYPE_CHECKING:
    from daytwo.config.schema import Config
    from daytwo.prompts import PromptSet, PromptVersion

UsageError, Command, Group = one_line_family("daytwo prompts")


def _fail(message: str, code: int = 1) -> NoReturn:
    fail(message, code, prefix=UsageError.prefix)


def _config(config_path: str | None) -> tuple[Config | None, Path | None]:
    explicit = config_path or os.environ.get("DAYTWO_CONFIG")
    path = Path(explicit or DEFAULT_CONFIG)
    if not path.is_file():
        if explicit:
            raise UsageError(f"config file not found: {path}")
        return None, None
    from daytwo.config.load import load_config
    from daytwo.core.errors import ConfigError

    try:
        return load_config(path), path
    except ConfigError as exc:
        _fail("; ".join(exc.problems))


def _root(directory: str | None, cfg: Config | None, cfg_path: Path | None) -> Path:
    if directory is not None:
        return Path(directory)
    if cfg is not None and cfg.prompts.dir is not None:
        d = Path(cfg.prompts.dir)
        return d if d.is_absolute() or cfg_path is None else cfg_path.parent / d
    return Path("prompts")


def _load(directory: str | None, config_path: str | None) -> tuple[PromptSet, Path, Config | None]:
    from daytwo.prompts import PromptLoadError, load_prompts

    cfg, cfg_path = _config(config_path)
    root = _root(directory, cfg, cfg_path)
    labels = cfg.prompts.labels if cfg is not None else None
    try:
        return load_prompts(root, labels_override=labels), root, cfg
    except PromptLoadError as exc:
        for line in exc.problems:
            click.echo(f"daytwo prompts: {line}", err=True)
        raise SystemExit(1) from None


def _pick(prompts: PromptSet, text: str) -> tuple[PromptVersion, str | None]:
    from daytwo.core.errors import DaytwoError
    from daytwo.prompts import parse_reference

    try:
        found = prompts.resolve(parse_reference(text))
    except DaytwoError as exc:
        _fail(exc.message)
    return found.version, found.label


def _emit(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


_dir = click.option(
    "--dir",
    "directory",
    metavar="DIR",
    help="The prompt directory [prompts.dir of the config, else ./prompts].",
)
_cfg = click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="daytwo.yaml [$DAYTWO_CONFIG, else ./daytwo.yaml when present].",
)


@click.group(cls=Group)
def prompts() -> None:
    """Prompts as code: versioned YAML files the gateway serves."""


@prompts.command("list")
@_dir
@_cfg
@json_option
def list_(directory: str | None, config_path: str | None, as_json: bool) -> None:
    """Every prompt, its versions and labels."""
    ps, _, _ = _load(directory, config_path)
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "versions": sorted(versions),
            "labels": dict(sorted(ps.labels.get(name, {}).items())),
            "model": versions[max(versions)].spec.model,
        }
        for name, versions in sorted(ps.versions.items())
    ]
    if as_json:
        _emit(rows)
        return
    for r in rows:
        labels = ", ".join(f"{k}=v{v}" for k, v in r["labels"].items()) or "no labels"
        versions = ", ".join(f"v{n}" for n in r["versions"])
        click.echo(f"{r['name']}  {versions}  ({labels})  model {r['model']}")


@prompts.command()
@click.argument("ref")
@_dir
@_cfg
@json_option
def show(ref: str, directory: str | None, config_path: str | None, as_json: bool) -> None:
    """A version: NAME (the default label), NAME@LABEL or NAME@vN."""
    ps, root, _ = _load(directory, config_path)
    v, label = _pick(ps, ref)
    if as_json:
        _emit({**v.spec.model_dump(mode="json"), "hash": v.hash, "label": label, "file": v.file})
        return
    click.echo(f"# {v.file}  {v.hash}" + (f"  (label {label})" if label else ""))
    click.echo((root.parent / v.file).read_text(encoding="utf-8"), nl=False)


@prompts.command()
@click.argument("name")
@click.argument("a")
@click.argument("b")
@_dir
@_cfg
def diff(name: str, a: str, b: str, directory: str | None, config_path: str | None) -> None:
    """The unified diff of two versions' files: NAME vA vB."""
    ps, root, _ = _load(directory, config_path)
    old = _pick(ps, f"{name}@v{a.removeprefix('v')}")[0]
    new = _pick(ps, f"{name}@v{b.removeprefix('v')}")[0]
    text = difflib.unified_diff(
        (root.parent / old.file).read_text(encoding="utf-8").splitlines(keepends=True),
        (root.parent / new.file).read_text(encoding="utf-8").splitlines(keepends=True),
        old.file,
        new.file,
    )
    click.echo("".join(text), nl=False)


@prompts.command()
@click.argument("ref")
@click.option("--var", "pairs", multiple=True, metavar="K=V", help="A variable (repeat).")
@_dir
@_cfg
@json_option
def render(
    ref: str, pairs: tuple[str, ...], directory: str | None, config_path: str | None, as_json: bool
) -> None:
    """Render a version's messages with variables (``--var k=v``; JSON values for non-string
    variables: ``--var n=3``)."""
    from daytwo.core.errors import DaytwoError

    ps, _, _ = _load(directory, config_path)
    v, _ = _pick(ps, ref)
    given: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--var: expected K=V, got {pair!r}")
        var = v.spec.variables.get(key)
        if var is not None and var.type != "string":
            try:
                given[key] = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise UsageError(f"--var {key}: expected JSON for a {var.type}") from None
        else:
            given[key] = value
    try:
        out = ps.render(v, given)
    except DaytwoError as exc:
        _fail(exc.message)
    if as_json:
        _emit({"messages": list(out.messages), "params": dict(out.params), "hash": v.hash})
        return
    for m in out.messages:
        click.echo(f"[{m['role']}]\n{m['content']}\n")


@prompts.command()
@_dir
@_cfg
def lock(directory: str | None, config_path: str | None) -> None:
    """Write prompts.lock: the content hash of every version (commit it; check holds them)."""
    from daytwo.prompts.published import write_lock

    ps, root, _ = _load(directory, config_path)
    path = write_lock(ps, root)
    click.echo(f"{path}: {len(ps)} versions locked")


@prompts.command()
@click.option("--base", metavar="REF", help="Compare with this git ref (the PR's base branch).")
@click.option("--summary", "summary_path", metavar="FILE", help="Write a Markdown summary here.")
@click.option("--days", default=7, show_default=True, help="Traffic window for the estimate.")
@click.option("--ledger", metavar="URL", help="The ledger to read traffic from [config].")
@_dir
@_cfg
def check(
    base: str | None,
    summary_path: str | None,
    days: int,
    ledger: str | None,
    directory: str | None,
    config_path: str | None,
) -> None:
    """For CI: validate every file, refuse edits to published versions (git base and/or
    prompts.lock), and summarize each new version (diff, tokens, cost at last week's traffic).
    Exit 0 when good, 1 with one line per problem."""
    from daytwo.prompts import PromptLoadError
    from daytwo.prompts.check import (
        file_diff,
        hygiene_problems,
        immutability_problems,
        impacts,
        label_moves,
        move_impacts,
        new_versions,
        summary_markdown,
    )
    from daytwo.prompts.published import Published, at_git_base, labels_at_git_base, read_lock
    from daytwo.prompts.store import read_labels

    try:
        ps, root, cfg = _load(directory, config_path)
    except SystemExit:
        if summary_path is not None:  # the PR comment says the files did not load
            Path(summary_path).write_text(
                "## daytwo prompts check\n\n**Failed:** the prompt files do not load; "
                "see the job's log (`daytwo prompts check`).\n",
                encoding="utf-8",
            )
        raise
    problems = hygiene_problems(ps)
    published: Published = {}
    moved: list[tuple[str, str, int | None, int]] = []
    try:
        locked = read_lock(root)
        if locked is not None:
            problems += immutability_problems(ps, locked, "prompts.lock")
            published.update(locked)
        if base is not None:
            at_base = at_git_base(root, base)
            problems += immutability_problems(
                ps, {k: v.hash for k, v in at_base.items()}, f"on {base}"
            )
            published.update({k: v.hash for k, v in at_base.items()})
            # labels.yaml as committed (a gateway's own overrides are not the PR's)
            moved = label_moves(labels_at_git_base(root, base), read_labels(root, []))
    except PromptLoadError as exc:
        _fail("; ".join(exc.problems))
    if cfg is None:
        click.echo("daytwo prompts: no config: model aliases and prices not checked", err=True)
    else:
        problems += _model_problems(ps, cfg)
    changed = new_versions(ps, published)
    traffic = _traffic(cfg, ledger, days)
    price = _input_price(cfg, config_path)
    found = impacts(ps, changed, calls=lambda name: traffic(name, None), input_price=price)
    moves = move_impacts(ps, moved, calls=traffic, input_price=price)
    for line in problems:
        click.echo(f"daytwo prompts: {line}", err=True)
    if summary_path is not None:
        text = summary_markdown(
            found,
            problems,
            days=days,
            diff=lambda i: file_diff(
                i.previous, i.version, lambda f: (root.parent / f).read_text(encoding="utf-8")
            ),
            moves=moves,
        )
        Path(summary_path).write_text(text, encoding="utf-8")
    if problems:
        raise SystemExit(1)
    click.echo(f"{root}: ok ({len(ps)} versions, {len(changed)} new, {len(moves)} labels moved)")


def _model_problems(ps: PromptSet, cfg: Config) -> list[str]:
    from daytwo.pricing.catalog import PriceBook

    prices = PriceBook.from_config(cfg.pricing)
    out = []
    for v in ps.all():
        alias = cfg.models.get(v.spec.model)
        if alias is None:
            out.append(f"{v.file}: model: `{v.spec.model}` is not a model alias of the config")
            continue
        for d in alias.deployments:
            ptype = cfg.providers[d.provider].type
            if prices.lookup(d.model, provider=d.provider, provider_type=ptype) is None:
                out.append(
                    f"{v.file}: model: `{v.spec.model}` deployment {d.provider}/{d.model} "
                    "has no known price"
                )
    return out


def _traffic(cfg: Config | None, ledger: str | None, days: int) -> Any:
    url = ledger or (cfg.ledger.url if cfg is not None else None)
    if url is None:
        return lambda name, label: None
    from daytwo.core.errors import DaytwoError
    from daytwo.ledger.prompts import prompt_calls
    from daytwo.ledger.store import open_store

    try:
        store = open_store(url, create=False)
    except DaytwoError as exc:
        click.echo(f"daytwo prompts: no traffic read: {exc.message}", err=True)
        return lambda name, label: None
    now = time.time()

    def calls(name: str, label: str | None) -> int:
        return prompt_calls(store, name, now - days * 86_400, now, label=label)

    return calls


def _input_price(cfg: Config | None, config_path: str | None) -> Any:
    if cfg is None:
        return lambda alias: None
    from daytwo.pricing.catalog import PriceBook

    prices = PriceBook.from_config(cfg.pricing)

    def price(alias: str) -> Decimal | None:
        spec = cfg.models.get(alias)
        if spec is None or not spec.deployments:
            return None
        d = spec.deployments[0]
        ptype = cfg.providers[d.provider].type
        entry = prices.lookup(d.model, provider=d.provider, provider_type=ptype)
        return entry.input if entry is not None else None

    return price


@prompts.command(cls=Command)
@click.argument("name")
@click.option("--since", default="30d", show_default=True, help="Window ending now.")
@click.option("--ledger", metavar="URL", help="Database URL [config's ledger.url].")
@_cfg
@json_option
def stats(
    name: str, since: str, ledger: str | None, config_path: str | None, as_json: bool
) -> None:
    """Per version of NAME: calls, tokens and cost per call, latency p50/p95, error and
    refusal rates -- so "this prompt edit doubled cost" is one command."""
    from daytwo.cli.common import ledger_url_or_fail
    from daytwo.cli.spend import parse_duration
    from daytwo.core.errors import DaytwoError
    from daytwo.ledger.prompts import prompt_stats
    from daytwo.ledger.store import open_store

    try:
        length = parse_duration(since)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    url = ledger_url_or_fail(ledger, config_path, UsageError)
    now = time.time()
    try:
        with open_store(url, create=False) as store:
            rows = prompt_stats(store, name, now - length.total_seconds(), now)
    except DaytwoError as exc:
        _fail(exc.message)
    if as_json:
        _emit({"prompt": name, "versions": [r.to_json() for r in rows]})
        return
    if not rows:
        click.echo(f"no calls named prompt `{name}` in the last {since}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"prompt {name}, last {since}")
    columns = ("version", "calls", "in/call", "out/call", "cost/call", "p50 ms", "p95 ms")
    for col in (*columns, "errors", "refused"):
        table.add_column(col, justify="right")
    for r in rows:
        per = r.cost_per_call_usd(6)
        table.add_row(
            f"v{r.version}",
            f"{r.calls:,}",
            f"{r.input_per_call:,.1f}",
            f"{r.output_per_call:,.1f}",
            "-" if per is None else f"${per}",
            "-" if r.latency_p50_ms is None else f"{r.latency_p50_ms:,.1f}",
            "-" if r.latency_p95_ms is None else f"{r.latency_p95_ms:,.1f}",
            f"{r.error_rate:.1%}",
            f"{r.refusal_rate:.1%}",
        )
    Console().print(table)
