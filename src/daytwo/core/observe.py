"""What observers (metrics, traces, alerts) see of a finished call beyond its ledger record.

The pipeline calls every observer once per call, right after the record is submitted, on the
event loop: an observer must be quick and must not raise (it runs on the response path's tail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from daytwo.core.record import CallRecord


@dataclass(frozen=True, slots=True)
class CallView:
    #: The request's W3C ``traceparent`` header as received (None: none, or malformed).
    traceparent: str | None
    #: The normalized (OpenAI-shaped) request body; None when the call never got that far.
    request: dict[str, Any] | None
    #: The OpenAI-shaped answer (``chat.completion`` / embeddings list); for a stream, the
    #: assembled answer when content capture is on, else None.
    response: dict[str, Any] | None
    #: Finish reasons of the answer's choices (streams included), in choice order.
    finish_reasons: tuple[str, ...]
    #: The answer's id (``chatcmpl-...``), when the upstream gave one.
    response_id: str | None
    #: The retrieved context the application sent with the call (``daytwo_context``), for the
    #: ``faithfulness`` judge; never stored, never forwarded.
    context: tuple[str, ...] | None = None


class CallObserver(Protocol):
    def __call__(self, record: CallRecord, view: CallView) -> None: ...
