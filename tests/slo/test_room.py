"""The slo room sits below alerts: importing it loads none of the rooms above it (alerts,
gateway, admin, evals, cli)."""

from __future__ import annotations

import subprocess
import sys


def test_slo_imports_no_room_above_it() -> None:
    probe = (
        "import sys, daytwo.slo.status, daytwo.slo.prometheus\n"
        "above = ('daytwo.alerts', 'daytwo.gateway', 'daytwo.admin', 'daytwo.evals',"
        " 'daytwo.cli')\n"
        "print(sorted(m for m in sys.modules if m.startswith(above)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
