"""The eval cache: answers (and judge verdicts, embeddings) already paid for, so a rerun of an
unchanged suite makes no calls.

One SQLite file, ``<cache_dir>/eval-cache.sqlite``: a key (see :func:`cache_key`) → the JSON
of what the call returned. The runner's calls all come from one event loop and an entry is a
few kilobytes, so reads and writes are synchronous (~20 µs a read, a write committed at once
in WAL mode with ``synchronous=NORMAL``); several processes may share the file (WAL, a busy
timeout). A rerun of 1,000 cached items is bench/'s figure.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

CACHE_FILE = "eval-cache.sqlite"
#: How long a writer waits for another process's write to finish.
BUSY_TIMEOUT_MS = 10_000
#: The pause between tries of the file's set-up while another connection holds it.
SETUP_RETRY_S = 0.01

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    created_at REAL NOT NULL
)
"""


def cache_key(identity: str, body: Mapping[str, Any], repeat: int) -> str:
    """sha256 of (the target or judge identity, the canonical request body, the repeat
    index): the same request under the same deployments is the same answer, and each repeat
    is its own sample."""
    canon = orjson.dumps(
        {"identity": identity, "body": body, "repeat": repeat}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canon).hexdigest()


class EvalCache:
    """The cache file, opened for one run."""

    def __init__(self, cache_dir: Path) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = cache_dir / CACHE_FILE
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._setup()

    def _setup(self) -> None:
        """WAL mode (kept by the file) and the table. Switching to WAL while another
        connection opens the file is refused as busy without SQLite's busy handler, so it is
        retried here until the busy timeout."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                (mode,) = self._db.execute("PRAGMA journal_mode").fetchone()
                if mode != "wal":
                    self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(SETUP_RETRY_S)

    def get(self, key: str) -> Any | None:
        row = self._db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else orjson.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO entries (key, value, created_at) VALUES (?, ?, ?)",
            (key, orjson.dumps(value), time.time()),
        )

    def __len__(self) -> int:
        (n,) = self._db.execute("SELECT count(*) FROM entries").fetchone()
        return int(n)

    def close(self) -> None:
        self._db.close()
