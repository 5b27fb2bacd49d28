"""A key's blast radius over a real ledger (SQLite and PostgreSQL): the calls are written
through ``LedgerStore.insert_batch`` and every figure below is summed by hand from them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.keys.conftest import T0
from tests.ledger.conftest import priced_call

from daytwo.config.load import validate_config
from daytwo.config.schema import Config
from daytwo.keys.blast import BlastRadius, Figures, blast_radius
from daytwo.keys.errors import KeyNotFound
from daytwo.keys.model import KeyRecord, KeySpec
from daytwo.keys.store import KeyStore
from daytwo.ledger.store import LedgerStore, open_store

DAY = 86_400
#: 2024-05-11T12:00:00Z: the window (30 days) starts 2024-04-11T12:00Z, the last 7 days at
#: 2024-05-04T12:00Z, the last 24 hours at 2024-05-10T12:00Z.
NOW = T0 + 10 * DAY + 12 * 3600
USD = 1_000_000_000


def config(**spend: Any) -> Config:
    """Two aliases: ``smart`` ($2/$10 per Mtok, the only one key A may call) and ``dear``
    ($100/$100, which key A may not reach)."""
    return validate_config(
        {
            "providers": {"sim": {"type": "sim"}},
            "models": {
                "smart": {"deployments": [{"provider": "sim", "model": "big-model"}]},
                "dear": {"deployments": [{"provider": "sim", "model": "dear-model"}]},
            },
            "pricing": {
                "overrides": [
                    {"model": "big-model", "input_per_mtok": 2, "output_per_mtok": 10},
                    {"model": "dear-model", "input_per_mtok": 100, "output_per_mtok": 100},
                ]
            },
            "spend_control": spend,
        }
    )


SPEND = {
    "budgets": [
        # counts every call of key A (its project), with other keys' calls: a shared bound
        {"name": "proj-month", "scope": {"project": "search"}, "window": "month", "usd": 1000},
        # alert only: refuses nothing, bounds nothing
        {"name": "org-alert", "window": "day", "usd": 1, "actions": ["alert"]},
        # per user: no one counter holds all of the key's calls
        {"name": "per-user", "scope": {"project": "search", "user": "*"}, "window": "day",
         "usd": 0.01, "actions": ["block"]},
        # another project's
        {"name": "other", "scope": {"project": "other"}, "window": "day", "usd": 0.5},
    ],
    "rate_limits": [{"name": "per-key", "scope": {"key": "*"}, "tpm": 5000}],
}  # fmt: skip


@pytest.fixture
def ledger(db_url: str) -> Iterator[LedgerStore]:
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.close()


def key_a(store: KeyStore) -> KeyRecord:
    spec = KeySpec(project="search", models=("smart",), budget="50/day", rpm=60, tpm=10_000)
    return store.create(spec, actor="test", now=T0 - 60 * DAY).record


def write_traffic(ledger: LedgerStore, a: str, b: str) -> None:
    def call(n: int, at: float, **kw: Any) -> Any:
        return priced_call(n, at, key_id=a, **kw)

    ledger.insert_batch(
        [
            # before the window: lifetime figures only
            call(1, T0 - 35 * DAY, cost_nanousd=7_000, client_ip="10.0.0.9", user="u9"),
            # 2024-05-03
            call(2, T0 + 2 * DAY + 100, workflow="rag", user="u1", client_ip="10.0.0.1",
                 cost_nanousd=1_000, input_tokens=100, output_tokens=20),
            call(3, T0 + 2 * DAY + 200, workflow="rag", user="u2", client_ip="10.0.0.1",
                 cost_nanousd=2_000, input_tokens=300, output_tokens=50),
            call(4, T0 + 2 * DAY + 300, workflow="rag", user="u1", client_ip="10.0.0.2",
                 status="error", http_status=502, cost_nanousd=None, input_tokens=0,
                 output_tokens=0),
            # 2024-05-10, in the last 7 days
            call(5, T0 + 9 * DAY, workflow="batch", user="u3", client_ip="10.0.0.3",
                 served_model="gpt-4o-mini", cost_nanousd=4_000, input_tokens=1_000,
                 output_tokens=200),
            # 2024-05-11, in the last 24 hours: one unpriced, one refused
            call(6, T0 + 10 * DAY + 3600, workflow="batch", user="u3", client_ip="10.0.0.3",
                 served_model="llama-local", cost_nanousd=None, input_tokens=500,
                 output_tokens=0),
            call(7, T0 + 10 * DAY + 7200, workflow="rag", user="u1", client_ip="10.0.0.1",
                 status="rejected", http_status=429, cost_nanousd=None, input_tokens=0,
                 output_tokens=0),
            # another key, and no key: never part of key A's radius
            priced_call(8, T0 + 3 * DAY, key_id=b, cost_nanousd=1_000_000, client_ip="10.9.9.9"),
            priced_call(9, T0 + 3 * DAY, cost_nanousd=1_000_000, client_ip="10.8.8.8"),
        ]
    )  # fmt: skip


@pytest.fixture
def radius(store: KeyStore, ledger: LedgerStore) -> BlastRadius:
    a = key_a(store)
    b = store.create(KeySpec(project="other"), actor="test", now=T0).record
    write_traffic(ledger, a.id, b.id)
    return blast_radius(store, a.id, now=NOW, config=config(**SPEND))


def has(f: Figures, **want: Any) -> None:
    got = {name: getattr(f, name) for name in want}
    assert got == want


def test_use_window_and_days_are_the_sums_of_the_keys_own_calls(radius: BlastRadius) -> None:
    assert radius.first_use == T0 - 35 * DAY and radius.last_use == T0 + 10 * DAY + 7200
    assert radius.lifetime_calls == 7  # calls 1-7; not the other key's, not the keyless one
    assert radius.since == NOW - 30 * DAY
    # calls 2-7: cost 1,000 + 2,000 + 4,000; tokens 100+300+1,000+500 in, 20+50+200 out
    has(radius.window, calls=6, errors=1, rejected=1, cost_nanousd=7_000, unpriced_calls=1,
        input_tokens=1_900, output_tokens=270, first_at=T0 + 2 * DAY + 100)  # fmt: skip
    days = {d.to_json()["day"]: d.figures for d in radius.days}
    assert list(days) == ["2024-05-03", "2024-05-10", "2024-05-11"]
    has(days["2024-05-03"], calls=3, errors=1, cost_nanousd=3_000, input_tokens=400)
    has(days["2024-05-10"], calls=1, cost_nanousd=4_000, output_tokens=200)
    has(days["2024-05-11"], calls=2, cost_nanousd=0, unpriced_calls=1, rejected=1)
    assert sum(d.figures.calls for d in radius.days) == radius.window.calls


def test_every_ip_user_and_model_it_was_used_from_ranked_with_first_and_last_seen(
    radius: BlastRadius,
) -> None:
    ips = radius.dimension("client_ip")
    assert ips.distinct == 3 and ips.other is None  # 10.0.0.9 was before the window
    assert [(v.value, v.figures.calls, v.figures.cost_nanousd) for v in ips.top] == [
        ("10.0.0.1", 3, 3_000),  # calls 2, 3, 7
        ("10.0.0.3", 2, 4_000),  # calls 5, 6
        ("10.0.0.2", 1, 0),  # call 4 (an error)
    ]
    first = ips.top[0].figures
    assert (first.first_at, first.last_at) == (T0 + 2 * DAY + 100, T0 + 10 * DAY + 7200)
    assert [(v.value, v.figures.calls) for v in radius.dimension("user").top] == [
        ("u1", 3), ("u3", 2), ("u2", 1),
    ]  # fmt: skip
    assert [(v.value, v.figures.calls) for v in radius.dimension("workflow").top] == [
        ("rag", 4), ("batch", 2),
    ]  # fmt: skip
    models = {v.value: v.figures.calls for v in radius.dimension("served_model").top}
    assert models == {"gpt-4o": 4, "gpt-4o-mini": 1, "llama-local": 1}
    assert [(v.value, v.figures.calls) for v in radius.dimension("agent").top] == [(None, 6)]


def test_top_n_keeps_the_count_of_every_value_and_sums_the_rest(
    store: KeyStore, ledger: LedgerStore
) -> None:
    a = key_a(store)
    write_traffic(ledger, a.id, "key_other")
    r = blast_radius(store, a.id, now=NOW, top=2)
    ips = r.dimension("client_ip")
    assert ips.distinct == 3 and [v.value for v in ips.top] == ["10.0.0.1", "10.0.0.3"]
    assert ips.other is not None
    has(ips.other, calls=1, errors=1, cost_nanousd=0)  # 10.0.0.2's one failed call
    users = r.dimension("user")
    assert users.other is not None
    has(users.other, calls=1, cost_nanousd=2_000, input_tokens=300)  # u2's call 3


def test_caps_take_the_tightest_bound_that_counts_every_call(radius: BlastRadius) -> None:
    caps = radius.caps
    bounds = {b.source: b for b in caps.bounds}
    # the key's 50/day: $50 a day, 31 days a month
    assert (bounds["key budget"].per_day_nanos, bounds["key budget"].per_month_nanos) == (
        50 * USD, 1_550 * USD,
    )  # fmt: skip
    assert bounds["budget proj-month"].per_month_nanos == 1_000 * USD
    assert bounds["budget proj-month"].shared
    # tpm: the configured 5,000 beats the key's 10,000; every token at smart's $10/Mtok
    # (the $100 `dear` alias is not allowed): 5,000 x 1,440 min x $10/Mtok = $72 a day,
    # 5,000 x 44,640 min (31 days) x $10/Mtok = $2,232 a month
    assert (caps.tpm, caps.tpm_source) == (5_000, "rate limit per-key")
    tpm = bounds["tpm (rate limit per-key)"]
    assert (tpm.per_day_nanos, tpm.per_month_nanos) == (72 * USD, 2_232 * USD)
    assert caps.priciest is not None and caps.priciest.deployment == "sim/big-model"
    # alert-only, per-user and other-project budgets bound nothing; no per-call cap for rpm
    assert set(bounds) == {"key budget", "budget proj-month", "tpm (rate limit per-key)"}
    assert caps.per_day is bounds["key budget"]
    assert caps.per_month is bounds["budget proj-month"]
    data = caps.to_json()
    assert data["max_per_day"] == {"usd": "50.000000000", "nanos": 50 * USD}
    assert data["max_per_month_by"].startswith("budget proj-month")
    assert any("$10/Mtok" in a and "sim/big-model" in a for a in data["assumptions"])


def test_revoking_names_the_recent_consumers_and_rotating_the_grace(
    radius: BlastRadius,
) -> None:
    impact = radius.impact
    recent = dict(impact.recent)
    has(recent["24h"], calls=2, cost_nanousd=0)  # calls 6, 7
    has(recent["7d"], calls=3, cost_nanousd=4_000)  # calls 5, 6, 7
    assert impact.consumer_count == 2
    assert [c.to_json() for c in impact.consumers] == [
        {"workflow": "batch", "feature": None, "agent": None, "client_ip": "10.0.0.3",
         "calls_24h": 1, "cost_24h": {"usd": "0.000000000", "nanos": 0},
         "calls_7d": 2, "cost_7d": {"usd": "0.000004000", "nanos": 4_000},
         "last_at": T0 + 10 * DAY + 3600},
        {"workflow": "rag", "feature": None, "agent": None, "client_ip": "10.0.0.1",
         "calls_24h": 1, "cost_24h": {"usd": "0.000000000", "nanos": 0},
         "calls_7d": 1, "cost_7d": {"usd": "0.000000000", "nanos": 0},
         "last_at": T0 + 10 * DAY + 7200},
    ]  # fmt: skip
    assert impact.usable and impact.can_rotate
    assert "3 call(s) a week" in impact.revoke[0] and "5 s" in impact.revoke[0]
    assert "2 consumer(s)" in impact.rotate[0] and "24 h" in impact.rotate[0]
    assert any("--grace 0s" in line for line in impact.rotate)


def test_a_revoked_key_would_stop_nothing_and_cannot_rotate(
    store: KeyStore, ledger: LedgerStore
) -> None:
    a = key_a(store)
    write_traffic(ledger, a.id, "key_other")
    store.revoke(a.id, actor="test", now=NOW - 60)
    r = blast_radius(store, a.id, now=NOW)
    assert r.record.state(NOW) == "revoked"
    assert not r.impact.usable and not r.impact.can_rotate
    assert r.impact.revoke == ("nothing: the key is revoked and no longer authenticates",)
    assert r.window.calls == 6  # what it did before stays its radius


def test_the_rotation_chain_each_key_with_its_own_usage(
    store: KeyStore, ledger: LedgerStore
) -> None:
    a = key_a(store)
    b = store.rotate(a.id, grace=3600, actor="test", now=T0 + 5 * DAY).record
    c = store.rotate(b.id, grace=0, actor="test", now=T0 + 8 * DAY).record
    ledger.insert_batch(
        [
            priced_call(1, T0 + 4 * DAY, key_id=a.id, cost_nanousd=10),
            priced_call(2, T0 + 5 * DAY + 60, key_id=a.id, cost_nanousd=20),  # in a's grace
            priced_call(3, T0 + 6 * DAY, key_id=b.id, cost_nanousd=300),
            priced_call(4, T0 + 9 * DAY, key_id=c.id, cost_nanousd=4_000),
        ]
    )
    r = blast_radius(store, b.id, now=NOW)
    usage = [(x.record.id, x.figures.calls, x.figures.cost_nanousd) for x in r.chain]
    assert usage == [(a.id, 2, 30), (b.id, 1, 300), (c.id, 1, 4_000)]
    assert r.window.calls == 1 and r.window.cost_nanousd == 300  # b's own calls only
    chain = r.to_json()["rotation_chain"]
    assert [x["state"] for x in chain] == ["rotated", "rotated", "active"]
    assert f"authenticates as {b.id} only" in r.secret_scope
    assert a.id in r.secret_scope and c.id in r.secret_scope
    assert [link.record.id for link in blast_radius(store, c.id, now=NOW).chain] == [
        a.id, b.id, c.id,
    ]  # fmt: skip


def test_an_unknown_key_is_key_not_found(store: KeyStore) -> None:
    with pytest.raises(KeyNotFound, match="no key with id key_nope"):
        blast_radius(store, "key_nope", now=NOW)


def test_a_key_never_used_has_empty_figures_and_its_own_caps(store: KeyStore) -> None:
    record = store.create(KeySpec(project="p", budget="5/day"), actor="t", now=T0).record
    r = blast_radius(store, record.id, now=NOW)
    assert (r.first_use, r.last_use, r.lifetime_calls, r.days) == (None, None, 0, ())
    assert r.window == Figures()
    assert all(d.distinct == 0 and d.top == () for d in r.dimensions)
    assert r.impact.consumer_count == 0
    assert r.caps.per_day is not None and r.caps.per_day.per_day_nanos == 5 * USD
    assert "no config" in r.caps.assumptions[0]


def test_json_shape(radius: BlastRadius) -> None:
    data = radius.to_json()
    assert data["object"] == "key_blast_radius"
    assert set(data) == {
        "object", "key", "as_of", "since", "secret_scope", "first_use", "last_use",
        "lifetime_calls", "window", "days", "dimensions", "caps", "impact", "rotation_chain",
    }  # fmt: skip
    assert data["key"]["state"] == "active" and "digest" not in data["key"]
    assert data["window"]["cost"] == {"usd": "0.000007000", "nanos": 7_000}
    assert set(data["dimensions"]) == {
        "project", "workflow", "feature", "agent", "environment", "user", "alias",
        "served_model", "provider", "deployment", "client_ip",
    }  # fmt: skip
    assert data["days"][0] == {
        "day": "2024-05-03", "start": int(T0 + 2 * DAY), "calls": 3, "errors": 1,
        "rejected": 0, "cost": {"usd": "0.000003000", "nanos": 3_000}, "unpriced_calls": 0,
        "input_tokens": 400, "output_tokens": 70, "first_at": T0 + 2 * DAY + 100,
        "last_at": T0 + 2 * DAY + 300,
    }  # fmt: skip
