"""``daytwo reconcile`` end to end: a real gateway in front of the simulator over HTTP, a real
SQLite ledger, and the simulator's admin usage and cost reports with planted discrepancies."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from click.testing import CliRunner
from tests.gateway.harness import gateway_config, route, running_gateway

from daytwo.cli.main import cli
from daytwo.config.load import validate_config
from daytwo.config.schema import SimSettings
from daytwo.finops.provider_bills import BillError, cents_to_nanos, fetch_bill
from daytwo.finops.reconcile import Reconciliation, read_ledger, reconcile
from daytwo.ledger.store import open_store
from daytwo.pricing.catalog import PriceBook
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

PRICES = {"gpt-4o-mini": {"input": "0.15", "output": "0.60", "cached_input": "0.075"}}
ADMIN = "sk-admin-sim"


def _window() -> tuple[datetime, datetime]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today, today + timedelta(days=1)


@contextmanager
def _traffic(tmp_path: Path, billing: dict[str, Any], *, streams: int = 0) -> Iterator[str]:
    """Four plain calls (and ``streams`` streamed ones) through a gateway to the simulator;
    yields the simulator's root URL with the ledger written."""
    settings = SimSettings(seed=3, billing={"prices": PRICES, **billing})
    with running_sim_server(settings) as url:
        providers = {"up": {"type": "openai", "base_url": url}}
        cfg = gateway_config(
            tmp_path / "ledger.db", providers, {"gpt-4o-mini": route("up", "gpt-4o-mini")}
        )
        with running_gateway(cfg) as gw:
            client = gw.openai()
            for i in range(4):
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
                )
            for i in range(streams):
                chunks = client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": f"s{i}"}],
                    stream=True,
                )
                for _ in chunks:
                    pass
            gw.records()  # flushed
        yield url.removesuffix("/v1")


def _reconcile(root: str, tmp_path: Path, key_ids: frozenset[str] | None = None) -> Reconciliation:
    start, end = _window()
    bill = fetch_bill("openai", ADMIN, start, end, base_url=root)
    cfg = validate_config({"pricing": {}})
    with (
        open_store(f"sqlite:///{tmp_path / 'ledger.db'}", create=False) as store,
        store.connect() as conn,
    ):
        # failed calls have no served model: their deployment's model, as the CLI maps it
        groups = read_ledger(conn, ["up"], start, end, {"up/gpt-4o-mini": "gpt-4o-mini"})
    prices = PriceBook.from_config(cfg.pricing)
    return reconcile(
        bill, groups, prices, start=start, end=end, provider_type="openai", key_ids=key_ids
    )


def test_a_faithful_bill_leaves_nothing_unexplained(tmp_path: Path) -> None:
    with _traffic(tmp_path, {}) as root:
        rec = _reconcile(root, tmp_path, frozenset({"key_daytwo"}))
    assert rec.billed_nanos > 0 and rec.billed_nanos == rec.ledger_nanos
    assert rec.remainder_nanos == 0 and not any(rec.causes.values())
    (row,) = rec.rows
    assert row.billed_requests == row.ledger_requests == 4


def test_a_price_multiplier_is_attributed_to_price(tmp_path: Path) -> None:
    with _traffic(tmp_path, {"price_multiplier": {"gpt-4o-mini": "1.1"}}) as root:
        rec = _reconcile(root, tmp_path)
    assert rec.causes["price"] == rec.ledger_nanos // 10  # 10 % of what daytwo priced
    assert rec.billed_nanos - rec.ledger_nanos == rec.causes["price"]
    assert rec.remainder_nanos == 0


def test_other_keys_and_extra_requests_are_outside_traffic(tmp_path: Path) -> None:
    billing = {
        "other_key_traffic": [
            {
                "model": "gpt-4o-mini",
                "api_key_id": "key_laptop",
                "requests": 2,
                "input_tokens": 1000,
                "output_tokens": 100,
            }
        ],
        "extra_calls": [
            {"model": "gpt-4o-mini", "requests": 3, "input_tokens": 300, "output_tokens": 90}
        ],
    }
    with _traffic(tmp_path, billing) as root:
        mapped = _reconcile(root, tmp_path, frozenset({"key_daytwo"}))
        unmapped = _reconcile(root, tmp_path)
    assert mapped.causes["outside_traffic"] == 1000 * 150 + 100 * 600
    # 3 extra requests on daytwo's own key: the bill's average cost per request, 3 times over
    (row,) = mapped.rows
    assert row.billed_requests == 4 + 3 and row.ledger_requests == 4
    assert 0 < mapped.causes["extra_requests"] <= 300 * 150 + 90 * 600 + abs(mapped.remainder_nanos)
    assert mapped.causes["extra_requests"] + mapped.remainder_nanos == 300 * 150 + 90 * 600
    assert any("not mapped" in note for note in unmapped.notes)
    assert unmapped.causes["outside_traffic"] == 0


def test_streams_that_lost_their_usage_are_attributed(tmp_path: Path) -> None:
    with _traffic(tmp_path, {"drop_usage_for_streams": 1.0}, streams=3) as root:
        rec = _reconcile(root, tmp_path)
    diff = rec.billed_nanos - rec.ledger_nanos
    assert rec.causes["estimated_usage"] == diff
    assert rec.remainder_nanos == 0


@pytest.mark.parametrize("unbilled", [False, True])
def test_timed_out_calls_the_provider_billed_are_failed_calls(
    tmp_path: Path, unbilled: bool
) -> None:
    """The simulator lets some requests hang; the gateway gives up on them (504, no usage in
    the ledger), yet the provider finished and billed them -- unless ``unbilled_cancelled``."""
    faults = {"rate_timeout": 0.4, "hang_s": 2}
    billing = {"prices": PRICES, "unbilled_cancelled": unbilled}
    with running_sim_server(SimSettings(seed=3, faults=faults, billing=billing)) as url:
        providers = {"up": {"type": "openai", "base_url": url, "timeout_s": 0.3}}
        cfg = gateway_config(
            tmp_path / "ledger.db", providers, {"gpt-4o-mini": route("up", "gpt-4o-mini")}
        )
        cfg["resilience"] = {"defaults": {"max_attempts": 1}}
        with running_gateway(cfg) as gw:
            client = gw.openai()
            for i in range(6):  # same prompt size: a hung request costs what an answer does
                with contextlib.suppress(openai.APIStatusError):
                    client.chat.completions.create(
                        model="gpt-4o-mini",
                        messages=[{"role": "user", "content": f"q{i}"}],
                        max_tokens=8,
                    )
            records = gw.records()
        rec = _reconcile(url.removesuffix("/v1"), tmp_path, frozenset({"key_daytwo"}))
    failed = [r for r in records if r["status"] != "ok"]
    answered = [r for r in records if r["status"] == "ok"]
    assert failed and answered and all(r["cost_nanousd"] is None for r in failed)
    (cost,) = {r["cost_nanousd"] for r in answered}  # input 7 + output 8 tokens each
    assert rec.ledger_nanos == len(answered) * cost
    assert rec.causes["failed_calls"] == (0 if unbilled else len(failed) * cost)
    assert rec.billed_nanos - rec.ledger_nanos == rec.causes["failed_calls"]
    assert rec.remainder_nanos == 0
    (row,) = rec.rows
    assert row.billed_requests == len(answered) + (0 if unbilled else len(failed))


def test_the_cli_reports_and_a_bad_admin_key_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _traffic(
        tmp_path, {"price_multiplier": {"gpt-4o-mini": "2"}, "rate_limit_every": 2}
    ) as root:
        config = {
            "providers": {"up": {"type": "openai", "base_url": root + "/v1"}},
            "models": {"gpt-4o-mini": route("up", "gpt-4o-mini")},
            "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
            "finops": {
                "reconcile": {
                    "providers": [
                        {
                            "kind": "openai",
                            "admin_key": "env:T_ADMIN",
                            "base_url": root,
                            "api_key_ids": ["key_daytwo"],
                        }
                    ]
                }
            },
        }
        path = tmp_path / "daytwo.yaml"
        path.write_text(yaml.safe_dump(config))
        start, end = _window()
        args = ["reconcile", "--provider", "openai", "--config", str(path),
                "--from", start.date().isoformat(), "--to", end.date().isoformat()]  # fmt: skip
        monkeypatch.setenv("T_ADMIN", ADMIN)
        result = CliRunner().invoke(cli, [*args, "--json"])  # every 2nd admin call is a 429
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["causes"]["price"]["nanos"] == report["ledger"]["nanos"] > 0
        assert report["unexplained"]["nanos"] == 0
        monkeypatch.setenv("T_ADMIN", "sk-admin-wrong-key-123")
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "refused the admin key (401)" in lines[0]
    assert "wrong-key" not in result.output


def test_cents_as_decimal_strings_parse_exactly() -> None:
    assert cents_to_nanos("123.78912") == 1_237_891_200
    assert cents_to_nanos("0.0000001") == 1
    assert cents_to_nanos("12345") == 123_450_000_000
    with pytest.raises(BillError, match="decimal string"):
        cents_to_nanos(1.5)
    with pytest.raises(BillError, match="not a decimal"):
        cents_to_nanos("12,5")


def test_the_client_follows_pages_and_waits_out_429s() -> None:
    waits: list[float] = []
    settings = SimSettings(
        billing={
            "rate_limit_every": 3,
            "retry_after_s": 2,
            "extra_calls": [{"model": "m", "requests": 5}],
        }
    )
    with running_sim_server(settings) as url:
        start, end = _window()
        bill = fetch_bill(
            "anthropic",
            ADMIN,
            start - timedelta(days=3),
            end,
            base_url=url,
            page_buckets=1,
            sleep=waits.append,
        )
    assert waits == [2.0, 2.0, 2.0]  # 4 usage pages + 4 cost pages, every 3rd refused once
    (usage,) = bill.usage.values()
    assert usage.requests is None  # Anthropic's report counts tokens, not requests
