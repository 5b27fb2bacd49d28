"""Admin tokens: the credentials of the admin API (``/admin/…``), each with a role and an
optional project.

A token has the shape of a virtual key with its own prefix (:mod:`daytwo.keys.format`):
``dt2_adm_`` + 32 random base62 characters + a 6-character checksum, so secret scanners and
daytwo's redactor recognise it. Its public id is ``adm_`` + 10 characters. Only the peppered
hash is stored (:mod:`daytwo.keys.hashing`, the same pepper as virtual keys), in the
``admin_tokens`` table of the ledger's database (migration ``0003``).

Roles are ordered, each including the one before:

* ``viewer`` -- every read of the admin API;
* ``operator`` -- also kill and revive switches;
* ``admin`` -- also create, revoke and rotate virtual keys.

A token with a ``project`` sees only that project and can act only inside it.

Tokens are created and revoked with direct database access only (``daytwo admin tokens``): the
operator who can reach the database is the root of trust, and the API cannot mint credentials.
Both changes write an admin event in the same transaction. Authentication follows the virtual
keys' contract: one answer (``None``) for unknown, malformed and revoked tokens, and the same
work for each (always hash, always look up, always compare in constant time).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import sqlalchemy as sa

from daytwo.core.errors import NotFound
from daytwo.keys.errors import KeyStateError
from daytwo.keys.format import display_prefix, is_well_formed, new_key_id, new_secret
from daytwo.keys.hashing import digest_matches
from daytwo.keys.schema import admin_tokens
from daytwo.keys.store import KeyStore, locked_row, shown, write_event

TOKEN_PREFIX = "dt2_adm_"  # noqa: S105  # the public prefix, not a secret
TOKEN_ID_PREFIX = "adm_"  # noqa: S105  # a public id prefix

Role = Literal["viewer", "operator", "admin"]
#: Every role, weakest first: a role may do everything the ones before it may.
ROLES: tuple[Role, ...] = get_args(Role)


def parse_role(text: str) -> Role:
    for role in ROLES:
        if text == role:
            return role
    raise ValueError(f"expected a role ({' | '.join(ROLES)}), got {text!r}")


def role_allows(have: Role, need: Role) -> bool:
    return ROLES.index(have) >= ROLES.index(need)


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    """Who an admin request is, once its token checked out."""

    token_id: str
    role: Role
    project: str | None
    name: str | None

    @property
    def actor(self) -> str:
        """How the admin event log names this token: ``adm_… (name)``."""
        return f"{self.token_id} ({self.name})" if self.name else self.token_id

    def allows(self, need: Role) -> bool:
        return role_allows(self.role, need)


@dataclass(frozen=True, slots=True)
class AdminToken:
    """One row of ``admin_tokens``. ``digest`` is the peppered hash, never the secret."""

    id: str
    prefix: str
    role: Role
    project: str | None
    name: str | None
    created_at: float
    created_by: str
    revoked_at: float | None = None
    digest: str = field(default="", repr=False)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def principal(self) -> AdminPrincipal:
        return AdminPrincipal(self.id, self.role, self.project, self.name)

    def to_json(self) -> dict[str, Any]:
        """Everything that may be shown: never the secret, never the digest."""
        return {
            "id": self.id,
            "prefix": self.prefix + "…",
            "role": self.role,
            "project": self.project,
            "name": self.name,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "revoked_at": self.revoked_at,
            "state": "active" if self.active else "revoked",
        }


@dataclass(frozen=True, slots=True)
class IssuedAdminToken:
    """A token just created: the only time the secret exists outside the caller's hands."""

    secret: str = field(repr=False)
    record: AdminToken


class AdminTokens:
    """Admin tokens over an open :class:`KeyStore` (same database, pepper and event log)."""

    def __init__(self, store: KeyStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def create(
        self,
        role: Role,
        *,
        actor: str,
        project: str | None = None,
        name: str | None = None,
        now: float | None = None,
    ) -> IssuedAdminToken:
        """Issue a token. The returned secret is never stored and cannot be shown again."""
        parse_role(role)
        if project is not None and not project.strip():
            raise ValueError("a token's project must not be empty")
        now = self._clock() if now is None else now
        secret = new_secret(TOKEN_PREFIX)
        record = AdminToken(
            id=new_key_id(TOKEN_ID_PREFIX),
            prefix=display_prefix(secret, TOKEN_PREFIX),
            role=role,
            project=project,
            name=name,
            created_at=now,
            created_by=actor,
            digest=self._store.digest(secret),
        )
        with self._store.transaction() as conn:
            conn.execute(admin_tokens.insert().values(_row(record)))
            write_event(conn, now, actor, "admin_token.create", record.id, None, shown(record))
        return IssuedAdminToken(secret=secret, record=record)

    def revoke(self, token_id: str, *, actor: str, now: float | None = None) -> AdminToken:
        """Revoke a token now; the next request with it is refused. Twice: KeyStateError."""
        now = self._clock() if now is None else now
        with self._store.transaction() as conn:
            before = _locked(conn, token_id)
            if before.revoked_at is not None:
                raise KeyStateError(f"admin token {token_id} is already revoked")
            conn.execute(
                admin_tokens.update().where(admin_tokens.c.id == token_id).values(revoked_at=now)
            )
            after = _locked(conn, token_id)
            write_event(
                conn, now, actor, "admin_token.revoke", token_id, shown(before), shown(after)
            )
        return after

    def get(self, token_id: str) -> AdminToken | None:
        row = self._store.row_where(admin_tokens, admin_tokens.c.id == token_id)
        return None if row is None else _record(row)

    def list_tokens(self) -> list[AdminToken]:
        query = sa.select(admin_tokens).order_by(admin_tokens.c.created_at, admin_tokens.c.id)
        return [_record(row) for row in self._store.rows(query)]

    def authenticate(self, secret: str) -> AdminPrincipal | None:
        """The token's principal, or None for any token that must not pass (one answer)."""
        digest = self._store.digest(secret)  # always: malformed tokens cost what valid ones do
        well_formed = is_well_formed(secret, TOKEN_PREFIX)
        row = self._store.row_where(admin_tokens, admin_tokens.c.hash == digest)
        record = None if row is None else _record(row)
        matches = digest_matches(record.digest if record is not None else None, digest)
        if record is not None and matches and well_formed and record.active:
            return record.principal()
        return None


def _locked(conn: sa.Connection, token_id: str) -> AdminToken:
    row = locked_row(conn, admin_tokens, token_id)
    if row is None:
        raise NotFound(f"no admin token with id {token_id}")
    return _record(row)


def _row(r: AdminToken) -> dict[str, Any]:
    return {
        "id": r.id,
        "hash": r.digest,
        "prefix": r.prefix,
        "role": r.role,
        "project": r.project,
        "name": r.name,
        "created_at": r.created_at,
        "created_by": r.created_by,
        "revoked_at": r.revoked_at,
    }


def _record(m: Any) -> AdminToken:
    return AdminToken(
        id=m["id"],
        prefix=m["prefix"],
        role=parse_role(m["role"]),
        project=m["project"],
        name=m["name"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        revoked_at=m["revoked_at"],
        digest=m["hash"],
    )
