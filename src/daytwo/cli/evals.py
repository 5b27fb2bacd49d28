"""``daytwo eval``: run a suite (``run``), compare two targets or runs (``compare``), import a
promptfoo config (``import``). See docs/evals.md."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from daytwo.cli.common import DEFAULT_CONFIG, fail
from daytwo.cli.oneline import one_line_family

_UsageError, Command, _Group = one_line_family("daytwo eval")
PREFIX = "daytwo eval"

#: Subcommands that live in other modules: name → "module:attribute".
LAZY = {
    "compare": "daytwo.cli.eval_compare:compare",
    "import": "daytwo.cli.eval_import:import_",
}


class EvalGroup(click.Group):
    """The ``eval`` group: click's parse errors as one line; ``compare`` and ``import``
    imported when asked for."""

    command_class = Command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY.get(cmd_name)
        if target is None:
            got: click.Command | None = super().get_command(ctx, cmd_name)
            return got
        module, _, attr = target.partition(":")
        cmd: Any = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd


@click.group(cls=EvalGroup)
def eval_() -> None:
    """Evals: run suites of test cases through the gateway, compare targets, gate deploys."""


@eval_.command("run", cls=Command)
@click.argument("suite", type=click.Path(dir_okay=False))
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="T",
    help="Run this target instead of the suite's (repeatable).",
)
@click.option("--repeat", type=click.IntRange(1, 100), help="Samples per case and target.")
@click.option("-j", "--concurrency", type=click.IntRange(1, 256), help="Items in flight.")
@click.option(
    "--max-cost",
    type=click.FloatRange(0, min_open=True),
    metavar="USD",
    help="Stop the run before it spends more than this (answers + judges).",
)
@click.option("--no-cache", is_flag=True, help="Make every call again (refreshes the cache).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="daytwo.yaml of the gateway run in this process [default: ./daytwo.yaml].",
)
@click.option(
    "--gateway",
    "gateway_url",
    metavar="URL",
    help="A running gateway instead (key: $DAYTWO_API_KEY).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    default=".daytwo",
    show_default=True,
    help="The eval cache and saved runs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@click.option("--output", type=click.Path(dir_okay=False), help="Also write the run's JSON here.")
@click.option("--junit", type=click.Path(dir_okay=False), help="Write a JUnit XML report.")
@click.option("--html", type=click.Path(dir_okay=False), help="Write an HTML report.")
@click.option("--markdown", type=click.Path(dir_okay=False), help="Write a Markdown summary.")
def run(
    suite: str,
    targets: tuple[str, ...],
    repeat: int | None,
    concurrency: int | None,
    max_cost: float | None,
    no_cache: bool,
    config_path: str | None,
    gateway_url: str | None,
    cache_dir: str,
    as_json: bool,
    output: str | None,
    junit: str | None,
    html: str | None,
    markdown: str | None,
) -> None:
    """Run SUITE (evals/<name>.yaml). Exit 0 when every item passes, 1 when some fail or
    error, 2 when the suite is invalid or the run stopped (nothing is saved then)."""
    from daytwo.evals.model import RunAborted, SuiteError
    from daytwo.evals.runner import RunOptions, execute, load_suite, save_run

    config_file = _config_file(config_path, gateway_url)
    try:
        config = _load_config(config_file)
        loaded = load_suite(
            Path(suite), config, config_dir=config_file.parent if config_file else None
        )
        options = RunOptions(
            targets=targets,
            config=config_file,
            gateway_url=gateway_url,
            repeat=repeat,
            concurrency=concurrency,
            max_cost_usd=max_cost,
            use_cache=not no_cache,
            cache_dir=Path(cache_dir),
            progress=not as_json and sys.stderr.isatty(),
        )
        result = execute(loaded, options)
    except (SuiteError, RunAborted) as exc:
        fail(str(exc), 2, prefix=PREFIX)
    if output:
        save_run(result, Path(output))
    if junit or html or markdown:
        from daytwo.evals.report import write_reports  # Jinja2 and templates: only when asked

        write_reports(
            result,
            None,
            junit=Path(junit) if junit else None,
            html=Path(html) if html else None,
            markdown=Path(markdown) if markdown else None,
            cases=loaded.cases,
        )
    if as_json:
        from daytwo.cli.common import echo_json

        echo_json(result.to_json())
    else:
        from rich.console import Console

        from daytwo.evals.report.run_summary import render_summary

        render_summary(result, Console(highlight=False, width=None if sys.stdout.isatty() else 140))
    sys.exit(0 if all(item.passed for item in result.items) else 1)


def _config_file(given: str | None, gateway_url: str | None) -> Path | None:
    """The config to embed (or to check aliases against): ``--config``, else
    ``$DAYTWO_CONFIG`` / ./daytwo.yaml when present and no ``--gateway`` is given."""
    if given:
        return Path(given)
    if gateway_url:
        return None
    path = Path(os.environ.get("DAYTWO_CONFIG", DEFAULT_CONFIG))
    return path if path.is_file() else None


def _load_config(path: Path | None) -> Any:
    if path is None:
        return None
    from daytwo.config.load import load_config
    from daytwo.core.errors import ConfigError

    if not path.is_file():
        fail(f"config file not found: {path}", 2, prefix=PREFIX)
    try:
        return load_config(path)
    except ConfigError as exc:
        fail("; ".join(exc.problems), 2, prefix=PREFIX)
