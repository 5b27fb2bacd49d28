"""py-spy over a running gateway, summarised: busy share per thread and the hottest functions.

.venv/bin/python bench/spy.py RAW_FILE      # summarise a ``py-spy record --format raw
                                            #   --threads`` file recorded elsewhere
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

RATE_HZ = 200
PYSPY = Path(sys.executable).parent / "py-spy"
_LINE_NO = re.compile(r":\d+\)$")


def record(pid: int, duration_s: int, out: Path) -> subprocess.Popen[bytes]:
    """Start ``py-spy record`` (collapsed stacks, one root frame per thread) in the background."""
    cmd = [
        str(PYSPY), "record", "--pid", str(pid), "--duration", str(duration_s),
        "--rate", str(RATE_HZ), "--format", "raw", "--threads", "--nonblocking",
        "--output", str(out),
    ]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def summarize(path: Path, duration_s: float | None = None, top: int = 20) -> dict[str, Any]:
    """Shares of samples (non-idle stacks) per thread, and per function: self and inclusive."""
    threads: Counter[str] = Counter()
    self_n: Counter[str] = Counter()
    incl_n: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        head, *frames = stack.split(";")
        frames = [_LINE_NO.sub(")", f) for f in frames]
        count = int(n)
        threads[head.split(": ", 1)[-1]] += count
        if frames:
            self_n[frames[-1]] += count
        incl_n.update(dict.fromkeys(frames, count))
    total = sum(threads.values()) or 1

    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * n / total, 1)) for f, n in c.most_common(top)]

    out: dict[str, Any] = {"samples": total, "threads_pct_of_samples": share(threads)}
    if duration_s:
        ticks = RATE_HZ * duration_s
        out["threads_busy_pct_of_wall"] = [
            (t, round(100 * n / ticks, 1)) for t, n in threads.most_common(top)
        ]
    out["self_pct"] = share(self_n)
    out["inclusive_pct"] = share(incl_n)
    return out


if __name__ == "__main__":
    print(json.dumps(summarize(Path(sys.argv[1])), indent=1))
