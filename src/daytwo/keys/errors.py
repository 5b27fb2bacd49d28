"""Key management failures.

::

    DaytwoError (daytwo.core.errors)
    ├── NotFound
    │   └── KeyNotFound       no key has this id
    ├── InvalidRequest
    │   └── KeyStateError     the change does not apply (revoking a revoked key, rotating an
    │                         expired one)
    └── InternalError
        └── KeyStoreError     the database failed (mapped once from the driver)

Authentication never raises these: an unusable key is ``None``, whatever the reason.
"""

from __future__ import annotations

from daytwo.core.errors import InternalError, InvalidRequest, NotFound


class KeyNotFound(NotFound):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"no key with id {key_id}")
        self.key_id = key_id


class KeyStateError(InvalidRequest):
    pass


class KeyStoreError(InternalError):
    pass
