"""Admin tokens: their format, how they are stored, roles, revocation, the admin events they
write, and migration 0003 that adds their table."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from tests.keys.migrations import migrate, revision

from daytwo.cli.admin import ROLE_NAMES
from daytwo.core.errors import NotFound
from daytwo.core.secrets import redact_key_shapes
from daytwo.keys.admin_tokens import (
    ROLES,
    TOKEN_PREFIX,
    AdminTokens,
    parse_role,
    role_allows,
)
from daytwo.keys.errors import KeyStateError
from daytwo.keys.format import is_key_id, is_well_formed, new_secret, parse_secret
from daytwo.keys.hashing import key_digest
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore
from daytwo.ledger.migrate import HEAD, current_revision

T0 = 1_714_521_600.0


@pytest.fixture
def tokens(store: KeyStore) -> AdminTokens:
    return AdminTokens(store, clock=lambda: T0)


# -- format ---------------------------------------------------------------------------------


def test_a_token_is_typed_checksummed_and_not_a_virtual_key(tokens: AdminTokens) -> None:
    issued = {tokens.create("viewer", actor="t") for _ in range(20)}
    secrets = {i.secret for i in issued}
    assert len(secrets) == 20
    for i in issued:
        assert re.fullmatch(r"dt2_adm_[0-9A-Za-z]{38}", i.secret)
        assert is_well_formed(i.secret, TOKEN_PREFIX)
        assert not is_well_formed(i.secret)  # not a dt2_sk_ key
        assert parse_secret(i.secret, TOKEN_PREFIX).display_prefix == i.record.prefix
        assert i.record.prefix == i.secret[: len(TOKEN_PREFIX) + 4]
        assert is_key_id(i.record.id, "adm_") and not is_key_id(i.record.id)
        # the redactor scrubs it like every dt2_<kind>_ credential
        assert i.secret not in redact_key_shapes(f"Authorization: Bearer {i.secret}")
    typo = next(iter(secrets))
    typo = typo[:10] + ("a" if typo[10] != "a" else "b") + typo[11:]
    assert not is_well_formed(typo, TOKEN_PREFIX)
    assert not is_well_formed(new_secret(), TOKEN_PREFIX)


# -- storage --------------------------------------------------------------------------------


def test_only_the_peppered_hash_is_stored(store: KeyStore, tokens: AdminTokens) -> None:
    issued = tokens.create("admin", actor="t", project="acme", name="ops")
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM admin_tokens"))]
        events = conn.execute(sa.text("SELECT before, after FROM admin_events")).all()
    (row,) = rows
    assert row["hash"] == key_digest(b"test-pepper", issued.secret)
    assert row["hash"] != key_digest(b"", issued.secret)
    everything = repr(rows) + repr(events)
    assert issued.secret not in everything
    assert issued.secret[len(issued.record.prefix) :] not in everything
    assert row["hash"] not in repr(events)  # the event JSON carries neither secret nor hash


def test_authentication_needs_the_same_pepper(store: KeyStore, tokens: AdminTokens) -> None:
    issued = tokens.create("operator", actor="t")
    other = KeyStore(store._ledger, pepper=b"another-pepper")
    assert AdminTokens(other).authenticate(issued.secret) is None
    assert tokens.authenticate(issued.secret) is not None


# -- roles ----------------------------------------------------------------------------------


def test_roles_are_ordered_viewer_operator_admin() -> None:
    assert ROLES == ("viewer", "operator", "admin") == ROLE_NAMES
    allowed = {(have, need) for have in ROLES for need in ROLES if role_allows(have, need)}
    assert allowed == {
        ("viewer", "viewer"),
        ("operator", "viewer"),
        ("operator", "operator"),
        ("admin", "viewer"),
        ("admin", "operator"),
        ("admin", "admin"),
    }
    assert parse_role("operator") == "operator"
    with pytest.raises(ValueError, match=re.escape("viewer | operator | admin")):
        parse_role("root")


def test_a_token_authenticates_as_its_role_and_project(tokens: AdminTokens) -> None:
    issued = tokens.create("operator", actor="t", project="acme", name="oncall")
    who = tokens.authenticate(issued.secret)
    assert who is not None
    assert (who.token_id, who.role, who.project) == (issued.record.id, "operator", "acme")
    assert who.actor == f"{issued.record.id} (oncall)"
    assert who.allows("viewer") and who.allows("operator") and not who.allows("admin")
    plain = tokens.create("viewer", actor="t")
    assert tokens.authenticate(plain.secret).actor == plain.record.id  # type: ignore[union-attr]


def test_bad_input_is_refused_before_anything_is_stored(tokens: AdminTokens) -> None:
    with pytest.raises(ValueError, match="role"):
        tokens.create("root", actor="t")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="project"):
        tokens.create("viewer", actor="t", project=" ")
    assert tokens.list_tokens() == []


# -- revocation -----------------------------------------------------------------------------


def test_unknown_malformed_and_revoked_tokens_get_the_same_none(
    store: KeyStore, tokens: AdminTokens
) -> None:
    issued = tokens.create("admin", actor="cli:alice", name="ops")
    assert tokens.authenticate(issued.secret) is not None
    revoked = tokens.revoke(issued.record.id, actor="cli:bob", now=T0 + 5)
    assert revoked.revoked_at == T0 + 5 and not revoked.active
    assert tokens.get(issued.record.id) == revoked
    for secret in (
        issued.secret,
        "dt2_adm_" + "A" * 38,
        issued.secret[:-1],
        store.create(KeySpec(project="p"), actor="t").secret,  # a good virtual key
        "",
    ):
        assert tokens.authenticate(secret) is None
    with pytest.raises(KeyStateError, match="already revoked"):
        tokens.revoke(issued.record.id, actor="t")
    with pytest.raises(NotFound, match="adm_nothing"):
        tokens.revoke("adm_nothing", actor="t")

    events = store.events(target=issued.record.id)
    assert [(e.action, e.actor) for e in events] == [
        ("admin_token.create", "cli:alice"),
        ("admin_token.revoke", "cli:bob"),
    ]
    create, revoke = events
    assert create.before is None and create.after is not None
    assert (create.after["role"], create.after["state"]) == ("admin", "active")
    assert revoke.before is not None and revoke.after is not None
    assert (revoke.before["state"], revoke.after["state"]) == ("active", "revoked")
    assert revoke.after["revoked_at"] == T0 + 5


def test_list_shows_every_token_oldest_first(tokens: AdminTokens) -> None:
    a = tokens.create("viewer", actor="t", now=T0)
    b = tokens.create("admin", actor="t", project="acme", now=T0 + 1)
    assert [t.id for t in tokens.list_tokens()] == [a.record.id, b.record.id]
    assert tokens.list_tokens()[1].to_json()["project"] == "acme"


# -- migration 0003 -------------------------------------------------------------------------


def test_0003_follows_0002_and_keeps_the_event_log(engine: sa.Engine, db_url: str) -> None:
    assert revision("0003").down_revision == "0002"

    migrate(engine, "0002")
    with engine.begin() as conn:
        assert not sa.inspect(conn).has_table("admin_tokens")
        conn.execute(
            sa.text(
                "INSERT INTO admin_events (at, actor, action, target) "
                "VALUES (1, 'cli:x', 'key.create', 'key_0123456789')"
            )
        )
    with KeyStore.open(db_url) as store:  # opening migrates to head
        with store.engine.connect() as conn:
            assert current_revision(conn) == HEAD
        issued = AdminTokens(store).create("viewer", actor="t")
        assert [e.target for e in store.events()] == ["key_0123456789", issued.record.id]


def test_0003_downgrades_cleanly(engine: sa.Engine) -> None:
    migrate(engine, "0003")
    migrate(engine, "0002", down=True)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert current_revision(conn) == "0002"
    assert "admin_tokens" not in tables
    assert {"virtual_keys", "admin_events"} <= tables
