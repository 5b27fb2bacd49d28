"""``Idempotency-Key``: a request repeated with the same key (same client, same route, same
body) within the store's TTL gets the first one's answer again instead of a second upstream
call -- an agent or a job runner retrying after a timeout cannot pay twice.

* The first request *claims* the key and runs; only a call that succeeded (200, and for a stream
  one that ended cleanly) is stored. Anything else releases the claim, so the client's retry
  with the same key runs again: a budget refusal or an upstream outage must not be replayed.
* While it runs, the same key answers 409 (``conflict_error``, code ``idempotency_key_in_use``);
  the key with a different body answers 422 (code ``idempotency_key_reused``).
* A replay is sent byte for byte with ``idempotent-replayed: true`` and recorded in the ledger
  as a call with ``cache_status = replay``, no tokens, and the original cost as saved.
* Keys are scoped to the virtual key (or, without keys, the project) and the route, so two
  clients never see each other's answers. The store is in memory or Redis (``idempotency``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from daytwo.core.errors import Conflict, StateUnavailable, Unprocessable
from daytwo.gateway.http import Send
from daytwo.replay import (
    IdempotencyStore,
    InProgress,
    Mismatch,
    Replay,
    StoredOutcome,
    check_idempotency_key,
    fingerprint,
    idempotency_scope,
)

HEADER = b"idempotency-key"
REPLAYED = (b"idempotent-replayed", b"true")


@dataclass(slots=True)
class Claim:
    """A claimed key: what the client is sent is captured, to be stored if the call succeeds."""

    store: IdempotencyStore
    scope: str
    fingerprint: str
    status: int = 0
    content_type: str = "application/json"
    chunks: list[bytes] = field(default_factory=list)

    def capture(self, send: Send) -> Send:
        async def capturing(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"content-type":
                        self.content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                self.chunks.append(message.get("body", b""))
            await send(message)

        return capturing

    async def settle(self, ok: bool, call_id: str, cost_nanousd: int | None) -> None:
        """Store the answer of a call that succeeded; release the key otherwise."""
        try:
            if ok and self.status == 200:
                outcome = StoredOutcome(
                    status=200,
                    content_type=self.content_type,
                    body=b"".join(self.chunks),
                    call_id=call_id,
                    cost_nanousd=cost_nanousd,
                )
                await self.store.complete(self.scope, self.fingerprint, outcome)
            else:
                await self.store.release(self.scope)
        except StateUnavailable:
            pass  # the claim expires by itself after lock_s; the store logged the failure


async def claim(
    store: IdempotencyStore, value: bytes, principal_scope: str, route: str, raw_body: bytes
) -> Claim | Replay:
    """Claim the key (or get the outcome to replay). Raises :class:`Conflict` while another
    request holds it, :class:`Unprocessable` when it came with another body,
    :class:`InvalidRequest` for a malformed key, :class:`StateUnavailable` when the store
    cannot be reached (the client asked for at-most-once: it is not served without it)."""
    key = check_idempotency_key(value.decode("latin-1").strip())
    scope = idempotency_scope(principal_scope, route, key)
    fp = fingerprint(raw_body)
    got = await store.claim(scope, fp)
    if isinstance(got, Replay):
        return got
    if isinstance(got, InProgress):
        raise Conflict(
            "A request with this Idempotency-Key is still in progress; retry after it finishes.",
            param="Idempotency-Key",
            code="idempotency_key_in_use",
        )
    if isinstance(got, Mismatch):
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request body.",
            param="Idempotency-Key",
            code="idempotency_key_reused",
        )
    return Claim(store, scope, fp)


def replay_headers(outcome: StoredOutcome) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", outcome.content_type.encode("latin-1")),
        REPLAYED,
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in outcome.headers),
    ]
