"""Plain types of the keys room: what a key carries, its stored record, the principal it
authenticates as. Pure: the rules for "is this key usable at ``now``" live here, once, so the
store and the in-memory cache cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

KeyState = Literal["active", "grace", "expired", "revoked", "rotated"]


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What an operator asks for when creating a key. The attribution fields override the
    caller's headers; ``models`` None means every model."""

    project: str
    workflow: str | None = None
    feature: str | None = None
    environment: str | None = None
    models: tuple[str, ...] | None = None
    budget: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    expires_at: float | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class KeyPrincipal:
    """Who a request is, once its key checked out: what the pipeline's later stages use."""

    key_id: str
    project: str
    workflow: str | None
    feature: str | None
    environment: str | None
    models: tuple[str, ...] | None
    budget: str | None
    rpm: int | None
    tpm: int | None

    def allows_model(self, model: str) -> bool:
        return self.models is None or model in self.models


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One row of ``virtual_keys``. ``digest`` is the peppered hash, never the secret."""

    id: str
    prefix: str
    spec: KeySpec
    created_at: float
    created_by: str
    revoked_at: float | None = None
    rotated_from: str | None = None
    grace_until: float | None = None
    digest: str = field(default="", repr=False)

    def state(self, now: float) -> KeyState:
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.spec.expires_at is not None and self.spec.expires_at <= now:
            return "expired"
        if self.grace_until is not None:
            return "grace" if now < self.grace_until else "rotated"
        return "active"

    def usable(self, now: float) -> bool:
        return self.state(now) in ("active", "grace")

    def principal(self) -> KeyPrincipal:
        s = self.spec
        return KeyPrincipal(
            key_id=self.id,
            project=s.project,
            workflow=s.workflow,
            feature=s.feature,
            environment=s.environment,
            models=s.models,
            budget=s.budget,
            rpm=s.rpm,
            tpm=s.tpm,
        )

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        """Everything about the key that may be shown: never the secret, never the digest."""
        s = self.spec
        data: dict[str, Any] = {
            "id": self.id,
            "prefix": self.prefix + "…",
            "project": s.project,
            "workflow": s.workflow,
            "feature": s.feature,
            "environment": s.environment,
            "models": None if s.models is None else list(s.models),
            "budget": s.budget,
            "rpm": s.rpm,
            "tpm": s.tpm,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "expires_at": s.expires_at,
            "revoked_at": self.revoked_at,
            "rotated_from": self.rotated_from,
            "grace_until": self.grace_until,
            "description": s.description,
        }
        if now is not None:
            data["state"] = self.state(now)
        return data


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just created: the only time the secret exists outside the caller's hands."""

    secret: str = field(repr=False)
    record: KeyRecord


@dataclass(frozen=True, slots=True)
class AdminEvent:
    id: int
    at: float
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
