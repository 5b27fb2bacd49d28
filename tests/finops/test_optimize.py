"""``daytwo optimize``'s rules: each plants its case in a real ledger (rows written by the real
LedgerStore, read back by the real queries) and checks the dollar figure worked out by hand.

Every test's window is one day ([T0, T0 + 1 d)), so a figure per month is 30 x the day's.
Prices (bundled catalog, USD per million tokens): gpt-4o 2.50 in / 1.25 cached / 10.00 out,
gpt-4o-mini 0.15 in / 0.60 out: nano-dollars per token 2,500 / 1,250 / 10,000 and 150 / 600.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from daytwo.cli.main import cli
from daytwo.config.schema import PricingConfig
from daytwo.core.record import AttemptRecord, CallRecord
from daytwo.finops.optimize import (
    Opportunity,
    find_opportunities,
    rank,
    reference_entry,
)
from daytwo.finops.optimize_read import read_aggregates
from daytwo.ledger.store import LedgerStore, open_store
from daytwo.pricing.catalog import PriceBook

T0 = 1_714_521_600  # 2024-05-01T00:00:00Z
DAY = 86_400
BOOK = PriceBook.from_config(PricingConfig())
MINI = reference_entry(BOOK)


@pytest.fixture
def store(db_url: str) -> Iterator[LedgerStore]:
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.close()


_ids = itertools.count()


def call(**overrides: Any) -> CallRecord:
    n = next(_ids)
    fields: dict[str, Any] = {
        "id": f"call-{n:08d}",
        "started_at": float(T0 + 60 + n % 3_600),
        "ended_at": float(T0 + 61 + n % 3_600),
        "latency_ms": 500.0,
        "status": "ok",
        "http_status": 200,
        "operation": "chat",
        "alias": "smart",
        "trace_id": f"{n:032x}",
        "project": "search",
        "attributed": True,
        "provider": "openai",
        "served_model": "gpt-4o",
        "attempts": 1,
        "stream": True,
        "input_tokens": 100,
        "output_tokens": 20,
        "cost_nanousd": 1_000,
    }
    fields.update(overrides)
    return CallRecord(**fields)


def found(store: LedgerStore, kind: str) -> list[Opportunity]:
    agg = read_aggregates(store, T0, T0 + DAY)
    return [o for o in find_opportunities(agg, BOOK, MINI) if o.kind == kind]


def test_short_calls_on_an_expensive_model_are_repriced_on_the_reference(
    store: LedgerStore,
) -> None:
    # triage: 10 calls of 200 in / 50 out on gpt-4o = 200*2,500 + 50*10,000 = 1,000,000 each.
    store.insert_batch(
        [
            call(workflow="triage", input_tokens=200, output_tokens=50, cost_nanousd=1_000_000)
            for _ in range(10)
        ]
    )
    # summarize: long inputs (5,000 a call) are not a simple task, however expensive.
    store.insert_batch(
        [
            call(
                workflow="summarize", input_tokens=5_000, output_tokens=50, cost_nanousd=13_000_000
            )
            for _ in range(10)
        ]
    )
    [o] = found(store, "simple_tasks")
    # On gpt-4o-mini: 2,000 * 150 + 500 * 600 = 600,000; saved 10,000,000 - 600,000 a day.
    assert o.monthly_nanousd == (10_000_000 - 600_000) * 30
    assert o.evidence["workflow"] == "triage"
    assert o.evidence["reference_cost"]["nanos"] == 600_000
    assert o.command.startswith("daytwo recommend")


def test_failed_calls_and_failed_attempts_of_answered_calls_are_retry_waste(
    store: LedgerStore,
) -> None:
    first = AttemptRecord(
        n=1,
        started_at=T0 + 100.0,
        latency_ms=50.0,
        provider="openai",
        deployment="oa-east",
        model="gpt-4o",
        outcome="error",
        decision="retry",
        cost_nanousd=3_000,
    )
    second = AttemptRecord(
        n=2,
        started_at=T0 + 101.0,
        latency_ms=50.0,
        provider="openai",
        deployment="oa-west",
        model="gpt-4o",
        outcome="ok",
        cost_nanousd=5_000,
    )
    store.insert_batch(
        [
            call(attempts=2, cost_nanousd=8_000, attempt_log=(first, second)),
            call(status="error", http_status=502, cost_nanousd=4_000),
            call(cost_nanousd=9_000),
        ]
    )
    [o] = found(store, "retry_waste")
    # The failed call (4,000) and the failed first attempt of the answered one (3,000).
    assert o.monthly_nanousd == 7_000 * 30
    assert o.evidence["deployments"][0]["deployment"] == "oa-east"
    assert o.evidence["extra_attempts"] == 1


def test_a_prompt_version_that_grew_its_input_is_verbose(store: LedgerStore) -> None:
    mini = {"served_model": "gpt-4o-mini", "prompt_name": "support"}
    store.insert_batch([call(**mini, prompt_version=1, cost_nanousd=1_000) for _ in range(4)])
    store.insert_batch(
        [call(**mini, prompt_version=2, input_tokens=150, cost_nanousd=1_400) for _ in range(5)]
    )
    [o] = found(store, "verbose_prompt")
    # v2: 150 in per call (1.5 x v1's 100); 5 calls cost 7,000 where v1's 1,000 a call is 5,000.
    assert o.monthly_nanousd == 2_000 * 30
    assert o.command == "daytwo prompts diff support v1 v2"


def test_a_prompt_version_that_did_not_grow_is_not_flagged(store: LedgerStore) -> None:
    mini = {"served_model": "gpt-4o-mini", "prompt_name": "support"}
    store.insert_batch([call(**mini, prompt_version=1, cost_nanousd=1_000) for _ in range(4)])
    store.insert_batch(
        [call(**mini, prompt_version=2, input_tokens=110, cost_nanousd=1_400) for _ in range(5)]
    )
    assert found(store, "verbose_prompt") == []


def test_a_long_uncached_prompt_at_a_caching_provider_is_eligible(store: LedgerStore) -> None:
    # 2 calls of 4,000 uncached input on gpt-4o: half (4,000 tokens) assumed a stable prefix,
    # read from the cache at 1,250 instead of 2,500 a token: 4,000 * 1,250 saved a day.
    store.insert_batch(
        [
            call(
                prompt_name="rag-answer",
                prompt_version=3,
                input_tokens=4_000,
                output_tokens=100,
                cost_nanousd=11_000_000,
            )
            for _ in range(2)
        ]
    )
    # Already cached (half its input read from the cache): no opportunity.
    store.insert_batch(
        [
            call(
                prompt_name="cached",
                prompt_version=1,
                input_tokens=4_000,
                cached_input_tokens=2_000,
                output_tokens=100,
                cost_nanousd=8_500_000,
            )
        ]
    )
    [o] = found(store, "prompt_caching")
    assert o.monthly_nanousd == 4_000 * 1_250 * 30
    assert o.evidence["prompt"] == "rag-answer"


def test_a_workflow_that_never_streams_is_batchable(store: LedgerStore) -> None:
    # 40 calls a day (1,200 a month) at 12,000 each: 40 * 150 + 10 * 600 on gpt-4o-mini.
    offline = {"served_model": "gpt-4o-mini", "input_tokens": 40, "output_tokens": 10}
    store.insert_batch(
        [
            call(workflow="nightly-tags", stream=False, cost_nanousd=12_000, **offline)
            for _ in range(40)
        ]
    )
    store.insert_batch(
        [call(workflow="chat", stream=True, cost_nanousd=12_000, **offline) for _ in range(40)]
    )
    # Too little traffic to be worth a batch job (20 a day: 600 a month).
    store.insert_batch(
        [call(workflow="rare", stream=False, cost_nanousd=12_000, **offline) for _ in range(20)]
    )
    [o] = found(store, "batchable")
    assert o.evidence["workflow"] == "nightly-tags"
    assert o.monthly_nanousd == 40 * 12_000 // 2 * 30


def test_unattributed_and_unpriced_spend_are_listed(store: LedgerStore) -> None:
    store.insert_batch(
        [call(project="default", attributed=False, cost_nanousd=2_000) for _ in range(3)]
    )
    store.insert_batch([call(served_model="llama-local", cost_nanousd=None) for _ in range(2)])
    [owner] = found(store, "unattributed")
    assert owner.monthly_nanousd == 6_000 * 30
    [unpriced] = found(store, "unpriced")
    assert unpriced.monthly_nanousd is None
    assert unpriced.evidence["models"] == [{"model": "llama-local", "calls": 2}]


def test_rank_puts_most_dollars_first_and_unknown_amounts_last() -> None:
    def opp(kind: str, nanos: int | None) -> Opportunity:
        return Opportunity(kind=kind, title=kind, monthly_nanousd=nanos, command="x")

    ranked = rank([opp("a", 5), opp("b", None), opp("c", 50), opp("d", 7)])
    assert [o.kind for o in ranked] == ["c", "d", "a", "b"]


def test_cli_ranks_and_picks_the_top_three(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    now = time.time() - 600
    with open_store(url) as s:
        s.insert_batch(
            [
                call(
                    started_at=now,
                    ended_at=now + 1,
                    workflow="triage",
                    input_tokens=200,
                    output_tokens=50,
                    cost_nanousd=1_000_000,
                )
                for _ in range(10)
            ]
            + [
                call(
                    started_at=now,
                    ended_at=now + 1,
                    status="error",
                    http_status=502,
                    cost_nanousd=4_000,
                )
            ]
            + [
                call(
                    started_at=now,
                    ended_at=now + 1,
                    project="default",
                    attributed=False,
                    cost_nanousd=2_000,
                )
            ]
            + [
                call(
                    started_at=now, ended_at=now + 1, served_model="llama-local", cost_nanousd=None
                )
            ]
        )
    result = CliRunner().invoke(cli, ["optimize", "--ledger", url, "--since", "1d", "--json"])
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.output)
    kinds = [(o["kind"], o["pick"]) for o in data["opportunities"]]
    assert kinds == [
        ("simple_tasks", True),
        ("retry_waste", True),
        ("unattributed", True),
        ("unpriced", False),
    ]
    assert data["opportunities"][0]["per_month"]["nanos"] == 9_400_000 * 30
    table = CliRunner().invoke(cli, ["optimize", "--ledger", url, "--since", "1d"])
    assert table.exit_code == 0, table.output
    assert "triage" in table.output and "pick" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "soon"], "daytwo optimize: --since: expected a duration"),
        (["--reference", "no-such-model"], "daytwo optimize: --reference: reference model"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Any, args: list[str], message: str) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    open_store(url).close()
    result = CliRunner().invoke(cli, ["optimize", "--ledger", url, *args])
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1
