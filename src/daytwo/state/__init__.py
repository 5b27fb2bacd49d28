"""State backends for spend control: memory (one process) and Redis (many replicas).

See :mod:`daytwo.state.base` for the port every backend implements.
"""

from daytwo.state.base import State
from daytwo.state.memory import MemoryState

__all__ = ["MemoryState", "State"]
