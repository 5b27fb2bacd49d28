"""The stats room stands alone: importing it loads nothing of daytwo but ``core``, so drift,
SLOs and rollouts can use it from any room above."""

from __future__ import annotations

import subprocess
import sys


def test_stats_imports_nothing_of_daytwo_but_core() -> None:
    probe = (
        "import sys, daytwo.stats\n"
        "print(sorted(m for m in sys.modules if m.startswith('daytwo.')"
        " and not m.startswith(('daytwo.stats', 'daytwo.core'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
