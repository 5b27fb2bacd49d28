"""Spill files: call records the writer could not keep in memory, as JSON lines on local disk.

The active file is ``<path>``; records are appended to it (under a lock, flushed to the OS after
every append, so they survive the process being killed). To replay, the writer first renames it
to ``<path>.<time_ns>.replay`` (atomic), so that new spills go to a fresh file while old ones are
read; a replay file is deleted only after all of its records are stored. Replaying twice is
harmless: the store skips call ids it already has.

Lines that cannot be read back (a line torn by a crash, a record from an incompatible version)
are moved to ``<path>.rejected`` and logged, never silently dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from daytwo.core.record import CallRecord
from daytwo.ledger.codec import from_json_line, to_json_line

log = logging.getLogger("daytwo.ledger")


class SpillFile:
    """Append-only JSON-lines file of records, plus the replay files rotated out of it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rejected_path = path.with_name(path.name + ".rejected")
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._closed = False

    def append(self, records: Iterable[CallRecord]) -> int:
        """Append records; returns how many. Raises OSError if the disk refuses."""
        data = b"".join(to_json_line(r) for r in records)
        if not data:
            return 0
        with self._lock:
            if self._closed:  # after close: open, append, close (rare, never left open)
                with self.path.open("ab") as f:
                    f.write(data)
                return data.count(b"\n")
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("ab")
            self._file.write(data)
            self._file.flush()
        return data.count(b"\n")

    def reject(self, lines: Iterable[bytes]) -> None:
        """Keep lines (or records as JSON lines) that cannot be stored, for a human to look at."""
        data = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
        if data:
            with self._lock, self.rejected_path.open("ab") as f:
                f.write(data)

    def pending(self) -> bool:
        """True when there is anything to replay."""
        if self.path.exists() and self.path.stat().st_size > 0:
            return True
        return any(self._replay_files())

    def rotate(self) -> list[Path]:
        """Move the active file aside; return every replay file, oldest first."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            if self.path.exists():
                if self.path.stat().st_size > 0:
                    self.path.rename(
                        self.path.with_name(f"{self.path.name}.{time.time_ns()}.replay")
                    )
                else:
                    self.path.unlink()
        return sorted(self._replay_files(), key=lambda p: p.name)

    def read(self, path: Path, chunk: int) -> Iterator[list[CallRecord]]:
        """The records of one replay file, ``chunk`` at a time; unreadable lines are rejected."""
        batch: list[CallRecord] = []
        bad: list[bytes] = []
        with path.open("rb") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    batch.append(from_json_line(line))
                except (ValueError, TypeError):
                    bad.append(line)
                if len(batch) >= chunk:
                    yield batch
                    batch = []
        if batch:
            yield batch
        if bad:
            log.error(
                "ledger spill file %s had %d unreadable lines; moved to %s",
                path,
                len(bad),
                self.rejected_path,
            )
            self.reject(bad)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None

    def _replay_files(self) -> Iterator[Path]:
        return self.path.parent.glob(f"{_glob_escape(self.path.name)}.*.replay")


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
