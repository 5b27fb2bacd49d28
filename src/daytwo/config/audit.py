"""The ``audit`` section of ``daytwo.yaml``: the audit trail (docs/audit.md).

::

    audit:
      enabled: true                     # chain every call and every change (default on)
      replica_id: gw-1                  # this replica's stream (default: $DAYTWO_REPLICA_ID, else
                                        # the host name)
      capture: metadata                 # the default policy: none | metadata | redacted | full
      rules:                            # per project / workflow; the most specific wins
        - {project: support, capture: redacted, content_retention: 30d}
        - {project: support, workflow: billing, capture: full, content_retention: 7d}
      retention:
        content: 30d                    # captured content (a rule may shorten or lengthen it)
        metadata: null                  # call rows (ledger) too; null: kept
        check_interval_s: 3600
      redaction:
        detectors: [secrets, key_shapes, email, phone, card, iban, national_id]
        patterns: [{name: ticket, regex: "TCK-[0-9]{6}"}]
        reversible_key: env:DAYTWO_AUDIT_VAULT_KEY     # optional: originals kept encrypted
      signing_key: file:/run/secrets/daytwo-audit.pem  # Ed25519 private key (PEM or base64 seed)
      digest_interval_s: 3600           # a signed digest per stream this often, and at shutdown

Policies: ``none`` (the call is not entered in the audit chain; its ledger row still counts
its spend), ``metadata`` (a chained call summary, no content), ``redacted`` (the summary and
the content with every detector's findings replaced), ``full`` (the content as sent and
received).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from daytwo.config.slos import Duration
from daytwo.core.secrets import parse_ref

CaptureMode = Literal["none", "metadata", "redacted", "full"]
Detector = Literal["secrets", "key_shapes", "email", "phone", "card", "iban", "national_id"]
DEFAULT_DETECTORS: tuple[Detector, ...] = (
    "secrets",
    "key_shapes",
    "email",
    "phone",
    "card",
    "iban",
    "national_id",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _ref(value: str) -> str:
    parse_ref(value)
    return value


def pattern_problem(regex: str) -> str | None:
    """Why ``regex`` cannot be a redaction pattern (None when it can)."""
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        return f"does not compile: {exc}"
    if compiled.fullmatch("") is not None:
        return "matches the empty string"
    return None


def _pattern(regex: str) -> str:
    problem = pattern_problem(regex)
    if problem is not None:
        raise ValueError(f"redaction pattern {regex!r} {problem}")
    return regex


class RedactionPattern(_Model):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    regex: Annotated[str, AfterValidator(_pattern)]


class RedactionConfig(_Model):
    detectors: tuple[Detector, ...] = DEFAULT_DETECTORS
    patterns: tuple[RedactionPattern, ...] = ()
    #: With a key, each redacted value is kept encrypted (AES-256-GCM) beside the content;
    #: only an admin can reveal it, and every reveal is an audit entry.
    reversible_key: Annotated[str, AfterValidator(_ref)] | None = None


class CaptureRule(_Model):
    project: str | None = None
    workflow: str | None = None
    capture: CaptureMode
    #: How long this rule's captured content is kept (default: ``retention.content``).
    content_retention: Duration | None = None

    @model_validator(mode="after")
    def _selects(self) -> CaptureRule:
        if self.project is None and self.workflow is None:
            raise ValueError("a capture rule names a project, a workflow or both")
        return self


class RetentionConfig(_Model):
    content: Duration = timedelta(days=30)
    #: Call rows (and their attempts and scores) older than this are deleted; None: kept.
    metadata: Duration | None = None
    check_interval_s: float = Field(default=3600.0, gt=0)


class AuditConfig(_Model):
    enabled: bool = True
    replica_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )
    capture: CaptureMode = "metadata"
    rules: tuple[CaptureRule, ...] = ()
    retention: RetentionConfig = RetentionConfig()
    redaction: RedactionConfig = RedactionConfig()
    signing_key: Annotated[str, AfterValidator(_ref)] | None = None
    digest_interval_s: float = Field(default=3600.0, gt=0)

    @model_validator(mode="after")
    def _rules_unique(self) -> AuditConfig:
        seen: set[tuple[str | None, str | None]] = set()
        for rule in self.rules:
            key = (rule.project, rule.workflow)
            if key in seen:
                raise ValueError(
                    f"two capture rules for project={rule.project} workflow={rule.workflow}"
                )
            seen.add(key)
        return self

    def policy(self, project: str, workflow: str | None) -> tuple[CaptureMode, timedelta]:
        """The capture mode and content retention of a call (the most specific rule wins:
        project and workflow, then workflow, then project, then the default)."""
        best: CaptureRule | None = None
        best_rank = -1
        for rule in self.rules:
            if rule.project is not None and rule.project != project:
                continue
            if rule.workflow is not None and rule.workflow != workflow:
                continue
            rank = (rule.project is not None) + 2 * (rule.workflow is not None)
            if rank > best_rank:
                best, best_rank = rule, rank
        if best is None:
            return self.capture, self.retention.content
        return best.capture, best.content_retention or self.retention.content

    @property
    def captures_content(self) -> bool:
        modes = {self.capture, *(r.capture for r in self.rules)}
        return self.enabled and bool(modes & {"redacted", "full"})
