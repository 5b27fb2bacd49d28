"""``daytwo eval compare``: a baseline and a candidate on the same items, metric by metric
(docs/gate.md). Each side is a target label run on the suite's items (both in one run) or a
saved run (``run:PATH``, or a path ending ``.json``; ``PATH#LABEL`` picks its target).

Also the pieces ``daytwo gate`` shares: the run options, resolving the two sides, the reports.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from daytwo.cli.common import echo_json, fail
from daytwo.cli.evals import Command, _config_file, _load_config

if TYPE_CHECKING:
    from daytwo.evals.model import Comparison, GateVerdict, ItemResult, RunResult, Target
    from daytwo.evals.suite import Suite

F = TypeVar("F", bound=Callable[..., Any])
RUN_PREFIX = "run:"

#: The options of a command that runs a suite (or reads saved runs) and compares two sides.
RUN_OPTIONS: tuple[Callable[[Any], Any], ...] = (
    click.option("--suite", type=click.Path(dir_okay=False), help="The suite (evals/<name>.yaml)."),
    click.option("--repeat", type=click.IntRange(1, 100), help="Samples per case and target."),
    click.option("-j", "--concurrency", type=click.IntRange(1, 256), help="Items in flight."),
    click.option(
        "--max-cost",
        type=click.FloatRange(0, min_open=True),
        metavar="USD",
        help="Stop the run before it spends more than this (answers + judges).",
    ),
    click.option("--no-cache", is_flag=True, help="Make every call again (refreshes the cache)."),
    click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        help="daytwo.yaml of the gateway run in this process [default: ./daytwo.yaml].",
    ),
    click.option("--gateway", "gateway_url", metavar="URL", help="A running gateway instead."),
    click.option(
        "--cache-dir",
        type=click.Path(file_okay=False),
        default=".daytwo",
        show_default=True,
        help="The eval cache and saved runs.",
    ),
    click.option(
        "--alpha",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        default=0.05,
        show_default=True,
        help="Significance level (the CIs are 1 - alpha).",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print JSON."),
    click.option("--junit", type=click.Path(dir_okay=False), help="Write a JUnit XML report."),
    click.option("--html", type=click.Path(dir_okay=False), help="Write an HTML report."),
    click.option("--markdown", type=click.Path(dir_okay=False), help="Write a Markdown summary."),
)


def run_options(f: F) -> F:
    """Decorate a command with :data:`RUN_OPTIONS`."""
    for option in reversed(RUN_OPTIONS):
        f = option(f)
    return f


@dataclass(frozen=True)
class RunFlags:
    """The values of :data:`RUN_OPTIONS`."""

    suite: str | None
    repeat: int | None
    concurrency: int | None
    max_cost: float | None
    no_cache: bool
    config_path: str | None
    gateway_url: str | None
    cache_dir: str
    alpha: float
    as_json: bool
    junit: str | None
    html: str | None
    markdown: str | None

    @classmethod
    def take(cls, kwargs: dict[str, Any]) -> RunFlags:
        """The run flags out of a command's keyword arguments (removed from them)."""
        names = cls.__dataclass_fields__
        return cls(**{name: kwargs.pop(name) for name in list(names)})

    @property
    def reports(self) -> dict[str, Path | None]:
        return {
            "junit": Path(self.junit) if self.junit else None,
            "html": Path(self.html) if self.html else None,
            "markdown": Path(self.markdown) if self.markdown else None,
        }


@dataclass(frozen=True)
class Sides:
    """Baseline and candidate, resolved: their labels within ``run`` and the run holding both
    (one run of the suite, or the saved runs' items put together)."""

    run: RunResult
    baseline: str
    candidate: str
    suite: Suite | None
    #: The run made by this command (None: both sides were saved runs).
    executed: RunResult | None

    def compare(self, alpha: float) -> Comparison:
        from daytwo.evals.compare import compare

        return compare(
            self.run.for_target(self.baseline),
            self.run.for_target(self.candidate),
            baseline_label=self.baseline,
            candidate_label=self.candidate,
            alpha=alpha,
        )


class Resolver:
    """Turns the two side specs into :class:`Sides`: loads the suite when one is given or
    needed, runs the labels in one run, reads the saved runs. Bad input is a one-line
    failure (exit 2) under ``prefix``."""

    def __init__(self, flags: RunFlags, prefix: str, *, aborted: str = "") -> None:
        self.flags = flags
        self.prefix = prefix
        #: Put before the message of a stopped run (the gate's ``CANNOT RUN for C: ``).
        self.aborted = aborted
        self._suite: Suite | None = None

    def fail(self, message: str) -> NoReturn:
        fail(message, 2, prefix=self.prefix)

    def suite(self, required: bool) -> Suite | None:
        """The suite of ``--suite`` (loaded once); a failure when ``required`` and not given."""
        if self._suite is not None:
            return self._suite
        if self.flags.suite is None:
            if required:
                self.fail("a target label needs --suite (the items to run it on)")
            return None
        from daytwo.evals.model import SuiteError
        from daytwo.evals.runner import load_suite

        config_file = _config_file(self.flags.config_path, self.flags.gateway_url)
        config = _load_config(config_file)
        try:
            self._suite = load_suite(
                Path(self.flags.suite),
                config,
                config_dir=config_file.parent if config_file else None,
            )
        except SuiteError as exc:
            self.fail(str(exc))
        return self._suite

    def sides(self, baseline: str, candidate: str) -> Sides:
        """Read what are saved runs, then run what are labels (in one run)."""
        if baseline == candidate:
            self.fail(f"the baseline and the candidate are the same: {baseline}")
        specs = (baseline, candidate)
        saved = {spec: self.saved(spec) for spec in specs}
        labels = tuple(spec for spec in specs if saved[spec] is None)
        executed = self.execute(labels) if labels else None
        if executed is not None and len(labels) == 2:
            return Sides(executed, baseline, candidate, self._suite, executed)
        picked: list[tuple[RunResult, str]] = []
        for spec in specs:
            got = saved[spec]
            if got is None:
                assert executed is not None
                got = executed, spec
            picked.append(got)
        return _joined(picked, self._suite, executed)

    def one(self, spec: str) -> tuple[RunResult, str]:
        """One side alone (a gate with no baseline): a saved run, or the label run."""
        got = self.saved(spec)
        if got is not None:
            return got
        return self.execute((spec,)), spec

    def execute(self, labels: Sequence[str]) -> RunResult:
        from daytwo.evals.model import RunAborted, SuiteError
        from daytwo.evals.runner import RunOptions, execute

        suite = self.suite(required=True)
        assert suite is not None
        flags = self.flags
        options = RunOptions(
            targets=tuple(labels),
            config=_config_file(flags.config_path, flags.gateway_url),
            gateway_url=flags.gateway_url,
            repeat=flags.repeat,
            concurrency=flags.concurrency,
            max_cost_usd=flags.max_cost,
            use_cache=not flags.no_cache,
            cache_dir=Path(flags.cache_dir),
            progress=not flags.as_json and sys.stderr.isatty(),
        )
        try:
            return execute(suite, options)
        except SuiteError as exc:
            self.fail(str(exc))
        except RunAborted as exc:
            self.fail(f"{self.aborted}{exc}")

    def saved(self, spec: str) -> tuple[RunResult, str] | None:
        """A saved run and its target's label: ``run:PATH[#LABEL]``, or ``PATH[#LABEL]`` with
        PATH ending ``.json``; None: ``spec`` is a target label."""
        body = spec.removeprefix(RUN_PREFIX)
        path, _, label = body.partition("#")
        if not (spec.startswith(RUN_PREFIX) or path.endswith(".json")):
            return None
        run = self.load_run(Path(path))
        labels = [t.label for t in run.targets]
        if not label:
            if len(labels) != 1:
                self.fail(
                    f"{path}: the run has targets {', '.join(labels)}; say which: {path}#LABEL"
                )
            return run, labels[0]
        if label not in labels:
            self.fail(f"{path}: the run has no target `{label}` (it has: {', '.join(labels)})")
        return run, label

    def load_run(self, path: Path) -> RunResult:
        import orjson

        from daytwo.evals.model import RunResult

        try:
            return RunResult.from_json(orjson.loads(path.read_bytes()))
        except FileNotFoundError:
            self.fail(f"{path}: no such saved run")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            self.fail(f"{path}: not a saved run ({what})")


def _joined(
    picked: list[tuple[RunResult, str]], suite: Suite | None, executed: RunResult | None
) -> Sides:
    """Both sides in one run: the candidate's run id; when both sides carry the same label
    (one target in two runs), each is named with its run id."""
    from dataclasses import replace

    from daytwo.evals.model import RunResult

    (base_run, base), (cand_run, cand) = picked
    if base == cand:
        base, cand = f"{base} (run {base_run.run_id})", f"{cand} (run {cand_run.run_id})"
    parts: list[tuple[Target, tuple[ItemResult, ...]]] = []
    for run, old, new in ((base_run, picked[0][1], base), (cand_run, picked[1][1], cand)):
        target = next(t for t in run.targets if t.label == old)
        items = tuple(replace(i, target=new) for i in run.for_target(old))
        parts.append((replace(target, label=new), items))
    run = RunResult(
        run_id=cand_run.run_id,
        suite=cand_run.suite,
        description=cand_run.description,
        started_at=min(base_run.started_at, cand_run.started_at),
        finished_at=max(base_run.finished_at, cand_run.finished_at),
        targets=tuple(t for t, _ in parts),
        items=tuple(i for _, items in parts for i in items),
        cache_hits=executed.cache_hits if executed else 0,
        calls=executed.calls if executed else 0,
        spent_usd=executed.spent_usd if executed else 0.0,
    )
    return Sides(run, base, cand, suite, executed)


def write_reports(
    flags: RunFlags,
    run: RunResult,
    comparison: Comparison | None,
    verdict: GateVerdict | None = None,
    suite: Suite | None = None,
) -> None:
    """The reports asked for (``--junit/--html/--markdown``); the reports package (Jinja2,
    the templates) is loaded only then. ``suite``: its cases' variables and expected answers
    go into the HTML report."""
    if not any(flags.reports.values()):
        return
    from daytwo.evals.report import write_reports as write

    cases = suite.cases if suite is not None else ()
    write(run, comparison, **flags.reports, verdict=verdict, cases=cases)


def console() -> Any:
    from rich.console import Console

    # Not a terminal (CI logs): wide enough for the table without wrapping a verdict.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


PREFIX = "daytwo eval compare"


@click.command("compare", cls=Command)
@click.option(
    "--baseline", metavar="B", help="Target label or saved run [default: the suite's first target]."
)
@click.option(
    "--candidate",
    metavar="C",
    help="Target label or saved run [default: the suite's second target].",
)
@run_options
def compare(baseline: str | None, candidate: str | None, **kwargs: Any) -> None:
    """Compare a baseline and a candidate on the same items, metric by metric: deltas, 95%
    CIs, p-values, verdicts and the smallest difference the sample could detect. B and C are
    target labels (prompt:NAME@vN, prompt:NAME@label, model aliases) run on --suite's items,
    or saved runs (run:PATH, or PATH.json; PATH#LABEL picks a target). Exit 0 when it ran,
    2 on bad input or a stopped run."""
    flags = RunFlags.take(kwargs)
    resolver = Resolver(flags, PREFIX)
    baseline, candidate = _defaults(resolver, baseline, candidate)
    sides = resolver.sides(baseline, candidate)
    comparison = sides.compare(flags.alpha)
    write_reports(flags, sides.run, comparison, suite=sides.suite)
    if flags.as_json:
        echo_json({"comparison": comparison_json(comparison), "run_id": sides.run.run_id})
        return
    from daytwo.evals.report.table import print_comparison

    print_comparison(comparison, console(), alpha=flags.alpha)


def _defaults(resolver: Resolver, baseline: str | None, candidate: str | None) -> tuple[str, str]:
    """Missing sides: the suite's first and second targets."""
    if baseline is not None and candidate is not None:
        return baseline, candidate
    suite = resolver.suite(required=False)
    targets = suite.targets if suite is not None else ()
    if baseline is None and candidate is None and len(targets) >= 2:
        return targets[0], targets[1]
    if candidate is None:
        resolver.fail("--candidate is required (or a suite with two targets)")
    if baseline is None:
        if not targets or targets[0] == candidate:
            resolver.fail("--baseline is required (or a suite whose first target is another)")
        baseline = targets[0]
    return baseline, candidate


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(comparison)
