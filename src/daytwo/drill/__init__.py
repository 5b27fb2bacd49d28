"""Game days: drills that break a provider on purpose in front of a real gateway and report
what the gateway's clients saw (``daytwo drill``). Sits on top, beside ``demo``: it runs the
gateway, the simulator and the ledger, and imports from all of them.

::

    outage.py    OutageSpec, run_outage(): the phases, the traffic, the breaker watch
    stage.py     the gateway the drill plays against: self-contained (simulators) or a config
    faults.py    how the provider fails: the simulator's own outage, or a swapped adapter
    traffic.py   open-loop HTTP clients at a fixed rate; what each call saw
    report.py    per-phase figures, failover latency, breaker timing, cost impact
"""

from daytwo.drill.faults import MODES, Mode
from daytwo.drill.outage import OutageSpec, run_outage
from daytwo.drill.report import OutageReport
from daytwo.drill.stage import DrillFailed, DrillUsageError

__all__ = [
    "MODES",
    "DrillFailed",
    "DrillUsageError",
    "Mode",
    "OutageReport",
    "OutageSpec",
    "run_outage",
]
