"""``daytwo replay``: would the old version have done better? Captured production calls re-run
against another prompt version, model alias or config checkpoint, through the gateway, scored
side by side (docs/incidents.md). Exit 0 done (a --max-cost stop included: the report
says so), 1 refused or failed, 2 usage."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from daytwo.cli.common import DEFAULT_CONFIG, echo_json, fail
from daytwo.cli.oneline import one_line_family

PREFIX = "daytwo replay"
_UsageError, Command, _Group = one_line_family(PREFIX)


@click.command("replay", cls=Command)
@click.option(
    "--since",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="The window of production calls, ending now: 30m, 1h, 2d.",
)
@click.option("--project", help="Only calls of this project.")
@click.option("--workflow", help="Only calls of this workflow.")
@click.option("--alias", help="Only calls that asked for this model alias.")
@click.option("--prompt", "prompt_filter", metavar="NAME[@vN]", help="Only calls of this prompt.")
@click.option(
    "--against", "against_prompt", metavar="prompt:NAME@vN", help="Re-render with this version."
)
@click.option("--model", metavar="ALIAS", help="Send the same messages to this alias.")
@click.option(
    "--config-checkpoint",
    metavar="HASH",
    help="The alias each call asked for, as this config checkpoint defined it.",
)
@click.option("--sample", type=click.IntRange(1, 100_000), help="At most N calls (by id hash).")
@click.option(
    "--max-cost",
    type=click.FloatRange(0, min_open=True),
    metavar="USD",
    help="Stop before the replay (answers + judge) could spend more than this.",
)
@click.option("--judge", metavar="ALIAS", help="A pairwise judge (asked in both orders).")
@click.option("-j", "--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="daytwo.yaml: the gateway run in this process, its ledger and prompts "
    "[default: $DAYTWO_CONFIG or ./daytwo.yaml].",
)
@click.option("--gateway", "gateway_url", metavar="URL", help="A running gateway instead.")
@click.option(
    "--key-env",
    default="DAYTWO_API_KEY",
    show_default=True,
    metavar="VAR",
    help="The environment variable holding the running gateway's key.",
)
@click.option("--ledger", metavar="URL", help="The ledger to read calls from [the config's].")
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Significance level (the CIs are 1 - alpha).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--save-dataset",
    type=click.Path(dir_okay=False),
    metavar="FILE.jsonl",
    help="Write the replayed sample as an eval dataset.",
)
def replay(
    since: str,
    project: str | None,
    workflow: str | None,
    alias: str | None,
    prompt_filter: str | None,
    against_prompt: str | None,
    model: str | None,
    config_checkpoint: str | None,
    sample: int | None,
    max_cost: float | None,
    judge: str | None,
    concurrency: int,
    config_path: str | None,
    gateway_url: str | None,
    key_env: str,
    ledger: str | None,
    alpha: float,
    as_json: bool,
    save_dataset: str | None,
) -> None:
    """Replay captured production calls against --against prompt:NAME@vN, --model ALIAS or
    --config-checkpoint HASH, and compare original and replay: judge preference (both
    orders), refusal / format / truncation rates (McNemar, paired bootstrap CIs), cost and
    latency. Replay calls are attributed to project `replay` (session: the run id)."""
    import re

    from daytwo.cli.spend import parse_duration
    from daytwo.incidents.replay import ReplayRefused, Selection
    from daytwo.incidents.replay_build import against
    from daytwo.incidents.replay_job import ReplayOptions, run_replay
    from daytwo.incidents.replay_report import render_text
    from daytwo.incidents.replay_report import save_dataset as save

    try:
        span = parse_duration(since)
    except ValueError as exc:
        raise _UsageError(f"--since: {exc}") from None
    if prompt_filter is not None and not re.fullmatch(
        r"[a-z0-9][a-z0-9_-]{0,63}(@v[1-9][0-9]{0,8})?", prompt_filter
    ):
        raise _UsageError(f"--prompt: expected NAME or NAME@vN, got {prompt_filter!r}")
    try:
        alternative = against(against_prompt, model, config_checkpoint)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    if save_dataset is not None and not save_dataset.endswith(".jsonl"):
        raise _UsageError("--save-dataset: the dataset is a .jsonl file")
    end = time.time()
    options = ReplayOptions(
        selection=Selection(
            start=end - span.total_seconds(),
            end=end,
            project=project,
            workflow=workflow,
            alias=alias,
            prompt=prompt_filter,
            sample=sample,
        ),
        against=alternative,
        config_path=_config_file(config_path, gateway_url),
        ledger_url=ledger,
        gateway_url=gateway_url,
        key_env=key_env,
        judge=judge,
        max_cost_usd=max_cost,
        concurrency=concurrency,
        alpha=alpha,
    )
    try:
        report = run_replay(options)
    except ReplayRefused as exc:
        fail(str(exc), 1, prefix=PREFIX)
    saved = None
    if save_dataset is not None:
        try:
            saved = save(report, Path(save_dataset))
        except OSError as exc:
            fail(f"--save-dataset: cannot write {save_dataset}: {exc.strerror}", 1, prefix=PREFIX)
    if as_json:
        data = report.to_json()
        data["dataset"] = {"path": save_dataset, "rows": saved} if save_dataset else None
        echo_json(data)
    else:
        for line in render_text(report, alpha=alpha):
            click.echo(line)
        if save_dataset is not None:
            click.echo(f"  saved {saved} test cases to {save_dataset} (an eval dataset)")
    sys.exit(0)


def _config_file(given: str | None, gateway_url: str | None) -> Path | None:
    """``--config``, else ``$DAYTWO_CONFIG`` / ./daytwo.yaml when present (with ``--gateway``
    too: the ledger and the prompt directory are read from it)."""
    if given:
        return Path(given)
    path = Path(os.environ.get("DAYTWO_CONFIG", DEFAULT_CONFIG))
    return path if path.is_file() else None
