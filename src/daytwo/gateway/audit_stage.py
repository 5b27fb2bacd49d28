"""Stage 8's audit capture: what the audit trail keeps of a call beyond its record, chosen by
the call's capture policy (``audit.capture`` and ``audit.rules``, per project and workflow).

On the event loop this only reads: the policy (cached per runtime), the spend-control
decisions, and references to the request and answer already in memory. Redaction, hashing and
compression happen in the ledger's writer thread (:mod:`daytwo.audit.capture`).
"""

from __future__ import annotations

from typing import Any

from daytwo.audit.capture import Capture
from daytwo.gateway.call import Call

_CONTENT = frozenset({"redacted", "full"})


def capture(call: Call) -> Capture | None:
    """The call's capture, or None when its policy is ``none`` (or audit is off)."""
    runtime = call.runtime
    if not runtime.config.audit.enabled:
        return None
    mode, keep_s = runtime.capture_policy(call.attribution.project, call.attribution.workflow)
    if mode == "none":
        return None
    request = response = variables = None
    wire: str | None = None
    beta: tuple[str, ...] = ()
    if mode in _CONTENT:
        req = call.request
        if req is not None:
            variables = req.variables
            native = req.native
            if native is None:
                request = req.body
            else:  # the client's own body, kept by its door (the Anthropic door's relay)
                request, wire, beta = native.body, native.wire, native.beta
        response = call.answer
    return Capture(mode, keep_s, request, response, decisions(call), variables, wire, beta)


def decisions(call: Call) -> dict[str, Any]:
    """What spend control decided for the call: the reservation and the budgets it held, a
    downgrade, rate-limit counters, an unmetered admission; and a cache answer."""
    out: dict[str, Any] = {}
    ticket = call.ticket
    if ticket is not None:
        r = ticket.reservation
        if r is not None:
            out["reserved_nanousd"] = r.nanos
            out["reserved_tokens"] = r.tokens
            out["budgets"] = sorted({f"{h.budget.name}:{h.scope_key}" for h in r.holds})
            if r.downgraded:
                out["downgraded_to"] = call.alias
        a = ticket.admission
        if a is not None and (a.tpm_keys or a.lease_keys):
            out["rate_limits"] = sorted({*a.tpm_keys, *a.lease_keys})
        if ticket.unmetered:
            out["unmetered"] = True
    if call.cache_status is not None:
        out["answered_from"] = call.cache_status
    return out
