"""Keys in the database: stored only as a hash, one answer for every unusable key, rotation
with grace, and an admin event for every change (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa

from daytwo.core.errors import DaytwoError
from daytwo.keys.errors import KeyNotFound, KeyStateError
from daytwo.keys.format import new_secret
from daytwo.keys.model import KeySpec
from daytwo.keys.schema import admin_events, virtual_keys
from daytwo.keys.store import KeyStore

#: 2024-05-01T00:00:00Z, the controlled clock's start (same as conftest).
T0 = 1_714_521_600.0


SPEC = KeySpec(
    project="search",
    workflow="rag",
    feature="answer",
    models=("gpt-4o", "fast"),
    budget="50/day",
    rpm=600,
    tpm=200_000,
    description="search backend",
)
DAY = 86_400.0


def test_created_key_authenticates_with_its_attributes(store: KeyStore) -> None:
    issued = store.create(SPEC, actor="alice", now=T0)
    p = store.authenticate(issued.secret, now=T0 + 1)
    assert p is not None
    assert (p.key_id, p.project, p.workflow, p.feature) == (
        issued.record.id,
        "search",
        "rag",
        "answer",
    )
    assert (p.models, p.budget, p.rpm, p.tpm) == (("gpt-4o", "fast"), "50/day", 600, 200_000)
    assert p.allows_model("fast")
    assert not p.allows_model("gpt-4.5")
    assert store.require(issued.record.id) == issued.record


def test_the_secret_is_never_stored(store: KeyStore, db_url: str) -> None:
    issued = store.create(SPEC, actor="alice", now=T0)
    random_part = issued.secret[len("dt2_sk_") :]
    with store.engine.connect() as conn:
        for table in (virtual_keys, admin_events):
            for row in conn.execute(sa.select(table)):
                text = repr(tuple(row))
                assert issued.secret not in text
                assert random_part[8:] not in text  # not even the part after the prefix
    assert "secret" not in repr(issued)
    if db_url.startswith("sqlite"):
        store.close()
        raw = b"".join(
            p.read_bytes() for p in Path(db_url.removeprefix("sqlite:///")).parent.iterdir()
        )
        assert issued.secret.encode() not in raw
        assert random_part.encode() not in raw


def test_unknown_malformed_revoked_and_expired_keys_get_the_same_answer(
    store: KeyStore,
) -> None:
    good = store.create(SPEC, actor="alice", now=T0)
    revoked = store.create(SPEC, actor="alice", now=T0)
    store.revoke(revoked.record.id, actor="alice", now=T0 + 10)
    expiring = store.create(dataclasses.replace(SPEC, expires_at=T0 + 60), actor="alice", now=T0)
    unknown = new_secret()  # well-formed, checksum ok, never issued here

    now = T0 + 120
    assert store.authenticate(good.secret, now=now) is not None
    answers = [
        store.authenticate(unknown, now=now),
        store.authenticate(good.secret[:-1] + ("a" if good.secret[-1] != "a" else "b"), now=now),
        store.authenticate("", now=now),
        store.authenticate("x" * 10_000, now=now),
        store.authenticate(revoked.secret, now=now),
        store.authenticate(expiring.secret, now=now),
    ]
    assert answers == [None] * len(answers)
    assert store.authenticate(expiring.secret, now=T0 + 59) is not None


def test_a_different_pepper_recognises_no_key(db_url: str, store: KeyStore) -> None:
    issued = store.create(SPEC, actor="alice", now=T0)
    with KeyStore.open(db_url, pepper=b"another") as other:
        assert other.authenticate(issued.secret, now=T0) is None


def test_rotation_keeps_the_old_key_until_the_grace_ends(store: KeyStore) -> None:
    old = store.create(SPEC, actor="alice", now=T0)
    new = store.rotate(old.record.id, grace=DAY, actor="bob", now=T0 + 100)
    assert new.secret != old.secret
    assert new.record.spec == old.record.spec
    assert new.record.rotated_from == old.record.id
    for t in (T0 + 100, T0 + 100 + DAY - 1):
        assert store.authenticate(old.secret, now=t) is not None
        assert store.authenticate(new.secret, now=t) is not None
    end = T0 + 100 + DAY
    assert store.authenticate(old.secret, now=end) is None
    assert store.authenticate(new.secret, now=end) is not None
    assert store.require(old.record.id).state(end) == "rotated"
    with pytest.raises(KeyStateError, match="only an active key"):
        store.rotate(old.record.id, grace=0, actor="bob", now=T0 + 200)


def test_rotation_without_grace_and_of_dead_keys(store: KeyStore) -> None:
    old = store.create(SPEC, actor="alice", now=T0)
    new = store.rotate(old.record.id, grace=0, actor="bob", now=T0)
    assert store.authenticate(old.secret, now=T0) is None
    assert store.authenticate(new.secret, now=T0) is not None
    store.revoke(new.record.id, actor="bob", now=T0 + 1)
    with pytest.raises(KeyStateError, match="revoked"):
        store.rotate(new.record.id, grace=60, actor="bob", now=T0 + 2)
    with pytest.raises(KeyNotFound):
        store.rotate("key_missing000", grace=60, actor="bob")


def test_revoke_during_grace_ends_it_now(store: KeyStore) -> None:
    old = store.create(SPEC, actor="alice", now=T0)
    store.rotate(old.record.id, grace=DAY, actor="bob", now=T0)
    store.revoke(old.record.id, actor="bob", now=T0 + 5)
    assert store.authenticate(old.secret, now=T0 + 6) is None
    with pytest.raises(KeyStateError, match="already revoked"):
        store.revoke(old.record.id, actor="bob", now=T0 + 7)
    with pytest.raises(KeyNotFound, match="key_missing000"):
        store.revoke("key_missing000", actor="bob")


def test_every_change_writes_an_admin_event_with_before_and_after(store: KeyStore) -> None:
    old = store.create(SPEC, actor="alice", now=T0)
    new = store.rotate(old.record.id, grace=60, actor="bob", now=T0 + 1)
    store.revoke(old.record.id, actor="carol", now=T0 + 2)
    events = store.events()
    assert [(e.action, e.target, e.actor, e.at) for e in events] == [
        ("key.create", old.record.id, "alice", T0),
        ("key.rotate", old.record.id, "bob", T0 + 1),
        ("key.create", new.record.id, "bob", T0 + 1),
        ("key.revoke", old.record.id, "carol", T0 + 2),
    ]
    create, rotate, _, revoke = events
    assert create.before is None
    assert create.after is not None and create.after["project"] == "search"
    assert rotate.before is not None and rotate.before["grace_until"] is None
    assert rotate.after is not None and rotate.after["grace_until"] == T0 + 61
    assert revoke.before is not None and revoke.before["revoked_at"] is None
    assert revoke.after is not None and revoke.after["revoked_at"] == T0 + 2
    assert [e.action for e in store.events(target=new.record.id)] == ["key.create"]
    for e in events:
        assert old.secret not in repr(e) and new.secret not in repr(e)


def test_a_failed_change_writes_no_event(store: KeyStore) -> None:
    issued = store.create(SPEC, actor="alice", now=T0)
    store.revoke(issued.record.id, actor="alice", now=T0)
    with pytest.raises(KeyStateError):
        store.revoke(issued.record.id, actor="alice", now=T0)
    assert [e.action for e in store.events()] == ["key.create", "key.revoke"]


def test_list_and_usable_records(store: KeyStore) -> None:
    a = store.create(SPEC, actor="x", now=T0)
    b = store.create(dataclasses.replace(SPEC, project="ops"), actor="x", now=T0 + 1)
    c = store.create(dataclasses.replace(SPEC, expires_at=T0 + 10), actor="x", now=T0 + 2)
    store.revoke(b.record.id, actor="x", now=T0 + 3)
    assert [r.id for r in store.list_keys()] == [a.record.id, b.record.id, c.record.id]
    assert [r.id for r in store.list_keys(project="ops")] == [b.record.id]
    assert {r.id for r in store.usable_records(T0 + 5)} == {a.record.id, c.record.id}
    assert {r.id for r in store.usable_records(T0 + 10)} == {a.record.id}


def test_reopening_keeps_keys(db_url: str) -> None:
    with KeyStore.open(db_url, pepper=b"p") as s:
        issued = s.create(SPEC, actor="x", now=T0)
    with KeyStore.open(db_url, pepper=b"p", create=False) as s:
        assert s.authenticate(issued.secret, now=T0) is not None


def test_unreachable_database_is_one_line_error() -> None:
    with pytest.raises(DaytwoError) as info:
        KeyStore.open("postgresql://nobody@127.0.0.1:1/none")
    assert "\n" not in info.value.message
