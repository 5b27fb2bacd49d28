"""Ledger failures, mapped once from the database driver's exceptions.

::

    InternalError (daytwo.core.errors)
    └── LedgerError
        ├── LedgerUnavailable   the database cannot take writes now (down, locked, read-only,
        │                       disk full); the same batch may succeed later
        ├── LedgerRejected      the database refuses this data (bad value, constraint); retrying
        │                       the same records fails the same way
        └── LedgerNotFound      no ledger exists at the given location (read-only open)
"""

from __future__ import annotations

from daytwo.core.errors import InternalError


class LedgerError(InternalError):
    """Root of the ledger's errors."""


class LedgerUnavailable(LedgerError):
    pass


class LedgerRejected(LedgerError):
    pass


class LedgerNotFound(LedgerError):
    pass
