"""What the pipeline hands the audit trail with a call's record, and how it is readied for
storage: the content redacted (or kept whole), in canonical JSON, with its digest.

The pipeline builds a :class:`Capture` on the event loop (a few attribute reads: no copying, no
redaction) and puts it on the record before the record is submitted. The ledger's writer thread
calls :func:`prepare` before the record is written anywhere -- the database or a spill file --
which turns it into a plain JSON-able dict (:data:`Prepared`): redaction happens off the
response path, and never after anything was written.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from daytwo.audit.vault import Vault
from daytwo.core.record import CallRecord
from daytwo.core.redact import Redactor

log = logging.getLogger("daytwo.audit")

#: A readied capture: ``{"v": 1, "mode", "decisions", "content": None | {...}}``; ``content``
#: holds ``json`` (the canonical text stored, compressed), ``digest`` (its sha256),
#: ``size``, ``redactions``, ``expires_at``, ``vault`` (base64) and ``vault_key``.
Prepared = dict[str, Any]
_SORT = orjson.OPT_SORT_KEYS


@dataclass(slots=True, repr=False)
class Capture:
    """A call's audit capture before redaction (see the module docstring)."""

    mode: str  #: "metadata" | "redacted" | "full"
    retention_s: float  #: how long the content is kept
    request: dict[str, Any] | None
    response: dict[str, Any] | None
    #: What spend control decided for the call (reservation, budgets, downgrade, limits).
    decisions: dict[str, Any]
    #: The variables of the prompt the call named, as the client sent them.
    variables: dict[str, Any] | None = None
    #: The wire format of ``request`` when it is the client's own body in a format other than
    #: Chat Completions (``anthropic``), and the client's beta flags with it.
    wire: str | None = None
    beta: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never the content (a fallback encoder may print a repr)
        return f"Capture(mode={self.mode!r})"


@dataclass(frozen=True, slots=True)
class Preparer:
    """Readies captures: the redactor for ``redacted`` content and, in reversible mode, the
    vault its originals are sealed with."""

    redactor: Redactor
    vault: Vault | None = None

    def prepare(self, record: CallRecord) -> None:
        """Turn ``record.audit`` from a :class:`Capture` into a :data:`Prepared` dict in place
        (a dict is left as it is). Never raises: a capture that cannot be readied keeps its
        summary and loses its content, and the failure is logged (without the content)."""
        capture = record.audit
        if not isinstance(capture, Capture):
            return
        try:
            record.audit = self._prepared(record, capture)
        except Exception as exc:  # a bug must not cost the call its record
            log.error(
                "audit capture of call %s failed (%s); its content is not kept",
                record.id,
                type(exc).__name__,
            )
            record.audit = {
                "v": 1,
                "mode": capture.mode,
                "decisions": capture.decisions,
                "content": None,
                "error": f"capture failed: {type(exc).__name__}",
            }

    def _prepared(self, record: CallRecord, capture: Capture) -> Prepared:
        out: Prepared = {"v": 1, "mode": capture.mode, "decisions": capture.decisions}
        if capture.mode not in ("redacted", "full"):
            out["content"] = None
            return out
        content: Any = {"request": capture.request, "response": capture.response}
        if capture.variables is not None:
            content["variables"] = capture.variables
        redactions: dict[str, int] = {}
        vault: str | None = None
        if capture.mode == "redacted":
            done = self.redactor.tree(content)
            content, redactions = done.value, dict(done.counts)
            if self.vault is not None and done.originals:
                sealed = self.vault.seal(list(done.originals), record.id.encode())
                vault = base64.b64encode(sealed).decode()
        if capture.wire is not None:  # names, not content: never redacted
            content = {**content, "wire": capture.wire}
            if capture.beta:
                content["beta"] = list(capture.beta)
        text = orjson.dumps(content, option=_SORT)
        out["content"] = {
            "json": text.decode(),
            "digest": hashlib.sha256(text).hexdigest(),
            "size": len(text),
            "redactions": redactions,
            "expires_at": record.ended_at + capture.retention_s,
            "vault": vault,
            "vault_key": self.vault.key_id if self.vault is not None and vault else None,
        }
        return out
