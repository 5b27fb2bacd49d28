"""One replay from start to end: choose the calls (:mod:`replay`), rebuild their requests
(:mod:`replay_build`), run them through a gateway (:mod:`replay_run`), compare
(:mod:`replay_report`). What ``daytwo replay`` calls; every refusal is a
:class:`~daytwo.incidents.replay.ReplayRefused` with a message for the user.
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from daytwo.config.schema import Config
from daytwo.core.ids import new_call_id
from daytwo.evals.model import RunAborted
from daytwo.incidents.replay import CapturedCall, ReplayRefused, Selection, select
from daytwo.incidents.replay_build import (
    Against,
    Rebuilt,
    Skip,
    checkpoint_alias_name,
    checkpoint_models,
    with_model,
    with_prompt,
)
from daytwo.incidents.replay_report import ReplayReport, build_report
from daytwo.incidents.replay_run import (
    API_KEY_ENV,
    DEFAULT_CONCURRENCY,
    Job,
    Replayer,
    embedded_gateway,
    remote,
)
from daytwo.ledger.store import LedgerStore


@dataclass(frozen=True)
class ReplayOptions:
    selection: Selection
    against: Against
    #: daytwo.yaml: the gateway served in this process (unless ``gateway_url``), its ledger
    #: and its prompt directory.
    config_path: Path | None = None
    #: The ledger the production calls are read from (default: the config's).
    ledger_url: str | None = None
    #: A running gateway instead of the embedded one; its key from ``$key_env``.
    gateway_url: str | None = None
    key_env: str = API_KEY_ENV
    judge: str | None = None
    max_cost_usd: float | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    alpha: float = 0.05


def run_replay(options: ReplayOptions) -> ReplayReport:
    """The replay ``options`` ask for, reported (partial when the cost cap stopped it).
    Raises :class:`ReplayRefused` (nothing to replay, a bad alternative, a gateway that
    cannot be set up or refuses the replay)."""
    config = _config(options.config_path)
    if options.gateway_url is None and config is None:
        raise ReplayRefused(
            "no gateway to replay through: pass --config daytwo.yaml (a gateway in this "
            "process) or --gateway URL (a running one)"
        )
    url = options.ledger_url or (config.ledger.url if config is not None else None)
    if url is None:
        raise ReplayRefused("no ledger to read the calls from: pass --ledger URL or --config")
    from daytwo.ledger.errors import LedgerError
    from daytwo.ledger.store import open_store

    try:
        store = open_store(url, create=False)
    except LedgerError as exc:
        raise ReplayRefused(exc.message) from None
    try:
        return _run(options, config, store)
    finally:
        store.close()


def _run(options: ReplayOptions, config: Config | None, store: LedgerStore) -> ReplayReport:
    against, selection = options.against, options.selection
    if against.kind == "prompt" and selection.prompt is None:
        # Only calls of that prompt can be re-rendered with another of its versions.
        selection = replace(selection, prompt=against.value.partition("@v")[0])
    selected = select(store, selection)
    extra_models: dict[str, Any] = {}
    skipped: Counter[str] = Counter(selected.left_out)
    jobs: list[Job] = []
    build = _builder(options, config, store, extra_models)
    for call in selected.calls:
        got = build(call)
        if isinstance(got, Skip):
            skipped[got.reason] += 1
        else:
            jobs.append(Job(call, got))
    run_id = new_call_id()
    with ExitStack() as stack:
        if options.gateway_url is not None:
            where = stack.enter_context(remote(options.gateway_url, options.key_env))
        else:
            assert config is not None
            assert options.config_path is not None
            where = stack.enter_context(
                embedded_gateway(
                    config, options.config_path, run_id, options.max_cost_usd, extra_models
                )
            )
        replayer = Replayer(
            where,
            run_id,
            judge=options.judge,
            cap=options.max_cost_usd,
            concurrency=options.concurrency,
        )
        try:
            outcome = replayer.run(jobs) if jobs else None
        except RunAborted as exc:
            raise ReplayRefused(f"the gateway stopped the replay: {exc}") from None
    if outcome is None:
        reasons = "; ".join(f"{n}: {reason}" for reason, n in skipped.most_common())
        raise ReplayRefused(
            f"none of the {len(selected.calls)} selected calls can be replayed against "
            f"{against.label} ({reasons})"
        )
    return build_report(
        run_id=run_id,
        against=against,
        selection=selection,
        in_window=selected.in_window,
        captured=selected.captured,
        selected=len(selected.calls) + sum(selected.left_out.values()),
        skipped=skipped,
        outcome=outcome,
        judge=options.judge,
        alpha=options.alpha,
    )


def _builder(
    options: ReplayOptions,
    config: Config | None,
    store: LedgerStore,
    extra_models: dict[str, Any],
) -> Any:
    """The function that rebuilds one call for the alternative (filling ``extra_models`` with
    the checkpoint aliases the embedded gateway must serve)."""
    against = options.against
    if against.kind == "model":
        return lambda call: with_model(call, against.value)
    if against.kind == "prompt":
        prompts = _prompts(config, options.config_path)
        return lambda call: with_prompt(call, prompts, against.value)
    if options.gateway_url is not None:
        raise ReplayRefused(
            "--config-checkpoint replays through a gateway served in this process (it adds "
            "the checkpoint's alias): pass --config instead of --gateway"
        )
    from daytwo.incidents.replay import checkpoint_text

    models = checkpoint_models(checkpoint_text(store, against.value))

    def build(call: CapturedCall) -> Rebuilt | Skip:
        spec = models.get(call.alias)
        if spec is None:
            return Skip(f"alias {call.alias} is not defined in checkpoint {against.value}")
        name = checkpoint_alias_name(against.value, call.alias)
        extra_models[name] = spec
        return with_model(call, name)

    return build


def _config(path: Path | None) -> Config | None:
    if path is None:
        return None
    from daytwo.config.load import load_config
    from daytwo.core.errors import ConfigError

    if not path.is_file():
        raise ReplayRefused(f"config file not found: {path}")
    try:
        return load_config(path)
    except ConfigError as exc:
        raise ReplayRefused("; ".join(exc.problems)) from None


def _prompts(config: Config | None, path: Path | None) -> Any:
    """The prompt set of the config's ``prompts.dir`` (re-rendering needs the templates)."""
    from daytwo.gateway.prompt_stage import PromptSource
    from daytwo.prompts import PromptLoadError

    if config is None or config.prompts.dir is None:
        raise ReplayRefused(
            "replaying against a prompt version needs the prompt directory: pass --config "
            "(a daytwo.yaml whose prompts.dir holds the prompt)"
        )
    source = PromptSource(config.prompts, path.parent if path is not None else None)
    try:
        prompts = source.load()
    except PromptLoadError as exc:
        raise ReplayRefused("; ".join(exc.problems)) from None
    if prompts is None:
        raise ReplayRefused("the config's prompts.dir holds no prompts")
    return prompts
