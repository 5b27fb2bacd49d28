"""`daytwo demo` runs end to end: real gateway, simulated providers, SQLite ledger, report."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_drives_traffic_and_prints_the_spend_report(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "daytwo.cli", "demo", "--seconds", "4", "--dir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Spend by workflow" in out
    for workflow in ("answer", "rag", "nightly-digest", "triage"):
        assert workflow in out
    assert f"ledger: {workdir / 'ledger.db'}" in out.replace("\n", "")
    with sqlite3.connect(workdir / "ledger.db") as conn:
        projects = dict(conn.execute("SELECT project, COUNT(*) FROM calls GROUP BY project"))
        unattributed = conn.execute("SELECT COUNT(*) FROM calls WHERE attributed = 0").fetchone()
        priced = conn.execute("SELECT COUNT(*) FROM calls WHERE cost_nanousd > 0").fetchone()
    conn.close()
    assert set(projects) == {"support", "search", "batch", "default"}
    assert unattributed[0] == projects["default"]
    assert priced[0] > 0
    assert "Traceback" not in result.stderr
