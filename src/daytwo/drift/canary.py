"""The canary: when a deployment of an alias changes model, run the alias's eval suite
(``drift.canary.suites``) through the gateway itself -- the evals room's runner, whose client
calls the gateway over HTTP, so admission, budgets and the ledger apply -- without the eval
cache (the point is to ask the new model), and compare it with the suite's last saved run from
before the change (the evals room's paired comparison): per target and metric, worse, better
or no detectable difference.

Blocking (the runner runs its own event loop); the drift service calls :func:`run_canary` in
a worker thread. The evals room is imported here, on first use only: it imports the gateway,
and the drift room sits above both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from daytwo.config.schema import Config
from daytwo.core.secrets import SecretRegistry

if TYPE_CHECKING:
    from daytwo.evals.model import Comparison, RunResult

#: Where the runner saves runs under its cache directory (daytwo.evals.runner.RUNS_DIR).
RUNS_DIR = "runs"


@dataclass(frozen=True, slots=True)
class CanaryReport:
    """One canary run and its comparison with the last run before the change."""

    suite: str
    run_id: str
    previous_run_id: str | None
    #: target label → metric → verdict (``worse`` / ``better`` / ``no detectable difference``).
    verdicts: dict[str, dict[str, str]] = field(default_factory=dict)
    #: target label → metric → (baseline, candidate, delta) for the message.
    values: dict[str, dict[str, tuple[float, float, float]]] = field(default_factory=dict)

    def message(self) -> str:
        if self.previous_run_id is None:
            return f"canary {self.suite}: run {self.run_id}; no run before the change to compare"
        parts = []
        for target, metrics in self.verdicts.items():
            moved = [f"{m} {v}" for m, v in metrics.items() if v != "no detectable difference"]
            parts.append(f"{target}: {', '.join(moved) or 'no detectable difference'}")
        return (
            f"canary {self.suite}: run {self.run_id} vs {self.previous_run_id} "
            f"(before the change): " + "; ".join(parts)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "run_id": self.run_id,
            "previous_run_id": self.previous_run_id,
            "verdicts": self.verdicts,
        }


def suite_path(config: Config, base_dir: Path | None, alias: str) -> Path | None:
    """The suite configured for ``alias`` (None: none)."""
    canary = config.drift.canary
    if canary is None or alias not in canary.suites:
        return None
    path = Path(canary.suites[alias])
    return path if path.is_absolute() or base_dir is None else base_dir / path


def last_run_before(cache_dir: Path, suite: str, before: float) -> RunResult | None:
    """The newest saved run of ``suite`` that finished before ``before``."""
    from daytwo.evals.model import RunResult

    best: RunResult | None = None
    folder = cache_dir / RUNS_DIR
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = orjson.loads(path.read_bytes())
        if data.get("suite") != suite or data.get("finished_at", before) >= before:
            continue
        if best is None or data["finished_at"] > best.finished_at:
            best = RunResult.from_json(data)
    return best


def run_canary(
    config: Config,
    secrets: SecretRegistry,
    base_dir: Path | None,
    path: Path,
    changed_at: float,
) -> CanaryReport:
    """Run the suite at ``path`` through the gateway and compare it with its last run before
    ``changed_at``. Raises the evals room's ``SuiteError`` / ``RunAborted`` on a bad suite or
    a run that could not finish."""
    from daytwo.evals.runner import RunOptions, execute, load_suite

    canary = config.drift.canary
    assert canary is not None
    cache_dir = Path(canary.cache_dir)
    if not cache_dir.is_absolute() and base_dir is not None:
        cache_dir = base_dir / cache_dir
    suite = load_suite(path, config, config_dir=base_dir)
    previous = last_run_before(cache_dir, suite.path, changed_at)
    url = canary.gateway_url or f"http://{config.server.host}:{config.server.port}"
    options = RunOptions(
        gateway_url=url,
        api_key=secrets.resolve(canary.api_key) if canary.api_key else None,
        use_cache=False,
        cache_dir=cache_dir,
        max_cost_usd=canary.max_cost_usd,
    )
    result = execute(suite, options)
    if previous is None:
        return CanaryReport(suite.path, result.run_id, None)
    return _report(suite.path, previous, result)


def _report(suite: str, previous: RunResult, result: RunResult) -> CanaryReport:
    from daytwo.evals.compare import compare

    report = CanaryReport(suite, result.run_id, previous.run_id)
    labels = [t.label for t in result.targets if t.label in {p.label for p in previous.targets}]
    for label in labels:
        comparison: Comparison = compare(
            previous.for_target(label),
            result.for_target(label),
            baseline_label=previous.run_id,
            candidate_label=result.run_id,
        )
        report.verdicts[label] = {m.metric: m.verdict for m in comparison.metrics}
        report.values[label] = {
            m.metric: (m.baseline, m.candidate, m.delta) for m in comparison.metrics
        }
    return report
