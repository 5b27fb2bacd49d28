"""An eval project in a temporary directory, as a team commits it: ``daytwo.yaml`` (the
in-process simulator behind ``gpt-4o-mini``, a ``judge`` alias on another simulated model, an
embeddings alias; a SQLite ledger), ``prompts/`` (support-reply v1 = production, v2 = staging)
and ``evals/<name>.yaml``."""

from __future__ import annotations

import copy
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tests.gateway.harness import route, sim_config
from tests.prompts.files import SUPPORT_VARS, support_prompts

#: Two cases for support-reply (its required variables) that also fill the model targets'
#: message template.
CASES: list[dict[str, Any]] = [
    {"id": "refund", "vars": {**SUPPORT_VARS, "topic": "a refund"}},
    {"id": "login", "vars": {**SUPPORT_VARS, "topic": "a login problem"}},
]
MESSAGES = [{"role": "user", "content": "Ticket from {{ customer }}: {{ topic }}"}]


def project_config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    cfg = sim_config(tmp_path)
    cfg["models"]["judge"] = route("sim", "gpt-4o")
    cfg["prompts"] = {"dir": "prompts", "reload_poll_s": 0}
    cfg.update(extra)
    return cfg


@dataclass
class Project:
    root: Path
    config: Path
    suite: Path

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.db"

    @property
    def cache_dir(self) -> Path:
        return self.root / ".daytwo"

    def runs(self) -> list[Path]:
        folder = self.cache_dir / "runs"
        return sorted(folder.glob("*.json")) if folder.is_dir() else []

    def rows(self) -> list[dict[str, Any]]:
        """Every ledger row, oldest first (the embedded gateway flushed them when it stopped)."""
        if not self.ledger.exists():
            return []
        conn = sqlite3.connect(self.ledger)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM calls ORDER BY started_at")]
        finally:
            conn.close()


def eval_project(
    tmp_path: Path,
    suite: dict[str, Any],
    *,
    config: dict[str, Any] | None = None,
    name: str = "support",
) -> Project:
    support_prompts(tmp_path / "prompts")
    cfg_path = tmp_path / "daytwo.yaml"
    cfg_path.write_text(yaml.safe_dump(config or project_config(tmp_path), sort_keys=False))
    (tmp_path / "evals").mkdir(exist_ok=True)
    suite_path = tmp_path / "evals" / f"{name}.yaml"
    suite_path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return Project(tmp_path, cfg_path, suite_path)


def basic_suite(**over: Any) -> dict[str, Any]:
    """The production prompt and the raw model, both cases, one passing assertion each."""
    suite: dict[str, Any] = {
        "description": "support replies",
        "targets": ["prompt:support-reply@production", "gpt-4o-mini"],
        "messages": MESSAGES,
        "params": {"max_tokens": 100},  # above the simulator's longest answer: finish "stop"
        "tests": [{**c, "assert": [{"type": "finish-reason", "value": "stop"}]} for c in CASES],
    }
    suite.update(over)
    return copy.deepcopy(suite)  # tests edit it
