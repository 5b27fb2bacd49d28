"""Alerting failures.

::

    DaytwoError (daytwo.core.errors)
    └── InternalError
        ├── DeliveryFailed      a sink could not deliver a notification (after its retries,
        │                       or at once when the target is refused as unsafe)
        └── AlertStoreError     the alert history could not be read or written

Messages name the sink and the cause, never a secret (a Slack URL, a routing key, a password):
they pass through the gateway's redactor.
"""

from __future__ import annotations

from daytwo.core.errors import InternalError


class DeliveryFailed(InternalError):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        #: False when trying again cannot help (an unsafe target, a 4xx other than 408/429).
        self.retryable = retryable


class AlertStoreError(InternalError):
    pass
