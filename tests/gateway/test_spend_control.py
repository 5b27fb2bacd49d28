"""Spend control over real HTTP: budgets that hold under concurrency (memory and real Redis),
streaming and disconnects, refusals in the client's format, rate limits, caps, switches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from tests.gateway.harness import RunningGateway, http, running_gateway, wait_for
from tests.gateway.spend_harness import (
    MODEL,
    chat_body,
    daily_budget,
    on_gateway_loop,
    post_many,
    settled,
    spend_config,
    state_settings,
    usd,
    worst_case,
)

from daytwo.control.windows import window_at

pytestmark = pytest.mark.integration

ACME = {"x-daytwo-project": "acme"}


@pytest.fixture(params=["memory", "redis"])
def state(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    yield from state_settings(request.param)


def _counter(gw: RunningGateway, name: str = "acme-daily", scope: str = "project=acme") -> Any:
    assert gw.app.spend is not None
    w = window_at("day", time.time(), ZoneInfo("UTC"))
    key = f"budget:{name}:{scope}:day:{w.id}"
    (c,) = on_gateway_loop(gw, gw.app.spend.state.counters([key]))
    return c


def _spent(gw: RunningGateway) -> int:
    return sum(r["cost_nanousd"] or 0 for r in gw.records())


@pytest.mark.parametrize("mode", ["plain", "stream", "disconnects"])
def test_200_concurrent_calls_never_spend_past_a_budget_that_pays_for_50(
    tmp_path: Path,
    gateway_factory: Callable[..., RunningGateway],
    state: dict[str, Any],
    mode: str,
) -> None:
    cap = 50 * worst_case()
    cfg = spend_config(tmp_path, {"state": state, "budgets": [daily_budget(cap)]}, ttft_ms=30)
    gw = gateway_factory(cfg)
    stream = mode != "plain"
    bodies = [chat_body(stream=stream) for _ in range(200)]
    drop = set(range(0, 200, 3)) if mode == "disconnects" else None
    results = asyncio.run(post_many(gw.url, bodies, ACME, drop_after_first=drop))

    statuses = [s for s, _ in results]
    assert statuses.count(429) >= 100, statuses  # most were refused...
    assert 40 <= statuses.count(200) + statuses.count(499) <= 60  # ...about 50 admitted
    for status, body in results:
        if status == 429:
            err = orjson.loads(body)["error"]
            assert err["type"] == "budget_exceeded"
            assert err["scope"] == "project=acme"
            assert err["unit"] == "usd"
            assert err["limit"] == usd(cap).rstrip("0")
    wait_for(lambda: settled(gw), what="settlements")
    wait_for(lambda: len(gw.records()) == 200, what="200 ledger records")
    assert _spent(gw) <= cap
    c = _counter(gw)
    assert c.reserved_nanos == 0  # every reservation settled or released
    assert c.spent_nanos == _spent(gw)  # the counter agrees with the ledger
    refused = [r for r in gw.records() if r["http_status"] == 429]
    assert all(r["status"] == "rejected" and not r["cost_nanousd"] for r in refused)


def test_a_spent_budget_refuses_until_the_window_resets(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw = gateway_factory(spend_config(tmp_path, {"budgets": [daily_budget(2 * worst_case())]}))
    url = f"{gw.base_url}/chat/completions"
    assert http("POST", url, chat_body(), ACME)[0] == 200
    assert http("POST", url, chat_body(), ACME)[0] == 200
    wait_for(lambda: settled(gw))
    # actual cost is below the worst case, but not by enough for another worst case
    status, headers, body = http("POST", url, chat_body(), ACME)
    assert status == 429, body
    err = orjson.loads(body)["error"]
    tomorrow = window_at("day", time.time(), ZoneInfo("UTC")).end
    assert err["resets_at"] == int(tomorrow)
    # The reset is in the body; SDKs are told not to wait for it (unless it is a minute away).
    if tomorrow - time.time() > 61:
        assert headers["x-should-retry"] == "false" and "retry-after" not in headers
    assert "acme-daily" in err["message"]
    # another project is not affected
    assert http("POST", url, chat_body(), {"x-daytwo-project": "other"})[0] == 200


def test_a_trip_budget_disables_the_scope_until_a_person_revives_it(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    budget = daily_budget(worst_case() + worst_case() // 2, actions=["alert", "trip"])
    gw = gateway_factory(spend_config(tmp_path, {"budgets": [budget]}))
    url = f"{gw.base_url}/chat/completions"
    assert http("POST", url, chat_body(), ACME)[0] == 200
    wait_for(lambda: settled(gw))
    status, _, body = http("POST", url, chat_body(), ACME)
    assert status == 403
    assert orjson.loads(body)["error"]["type"] == "feature_disabled"
    # the switch holds even for a call the budget could pay for (a tiny one)
    status, _, body = http("POST", url, chat_body(max_tokens=1), ACME)
    assert (status, orjson.loads(body)["error"]["code"]) == (403, "budget")
    assert gw.app.spend is not None
    on_gateway_loop(gw, gw.app.spend.switches.revive({"project": "acme"}, who="test"))
    # revived, but the budget is still spent: refused by the budget now (429), not the switch
    status, _, body = http("POST", url, chat_body(max_tokens=1), ACME)
    assert status in (200, 429), body


def test_downgrade_routes_to_the_cheaper_alias_past_the_threshold(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    budget = daily_budget(
        3 * worst_case(), actions=["alert", "downgrade", "block"], downgrade_to="cheap"
    )
    budget["downgrade_at"] = 50
    cfg = spend_config(tmp_path, {"budgets": [budget]})
    cfg["models"]["cheap"] = {"deployments": [{"provider": "sim", "model": "gpt-4.1-nano"}]}
    gw = gateway_factory(cfg)
    url = f"{gw.base_url}/chat/completions"
    served = []
    for _ in range(3):
        status, _, body = http("POST", url, chat_body(), ACME)
        assert status == 200, body
        served.append(orjson.loads(body)["model"])
        wait_for(lambda: settled(gw))
    assert served[0] == MODEL
    assert "gpt-4.1-nano" in served[-1]
    rows = gw.records()
    assert [r["alias"] for r in rows] == [MODEL] * 3  # what the client asked for...
    assert rows[-1]["deployment"] == "sim/gpt-4.1-nano"  # ...and where it went


def test_rate_limits_send_headers_refuse_with_retry_after_and_count_nothing_when_refused(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    limits = [{"name": "acme-rpm", "scope": {"project": "acme"}, "rpm": 3}]
    gw = gateway_factory(spend_config(tmp_path, {"rate_limits": limits}))
    url = f"{gw.base_url}/chat/completions"
    remaining = []
    for _ in range(3):
        status, headers, _ = http("POST", url, chat_body(), ACME)
        assert status == 200
        assert headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(int(headers["x-ratelimit-remaining-requests"]))
        assert headers["x-ratelimit-reset-requests"].endswith("s")
    assert remaining == [2, 1, 0]
    status, headers, body = http("POST", url, chat_body(), ACME)
    assert status == 429
    err = orjson.loads(body)["error"]
    assert (err["type"], err["code"], err["limit"]) == ("rate_limited", "requests_per_minute", 3)
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-remaining-requests"] == "0"


def test_concurrency_leases_return_to_zero_after_errors_and_disconnects(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway], state: dict[str, Any]
) -> None:
    limits = [{"name": "acme-conc", "scope": {"project": "acme"}, "concurrent": 8}]
    cfg = spend_config(
        tmp_path, {"state": state, "rate_limits": limits}, ttft_ms=20, faults={"rate_500": 0.3}
    )
    gw = gateway_factory(cfg)
    bodies = [chat_body(stream=i % 2 == 0) for i in range(40)]
    results = asyncio.run(post_many(gw.url, bodies, ACME, drop_after_first={0, 4, 8, 12}))
    statuses = {s for s, _ in results}
    assert 429 in statuses  # the limit refused some
    assert statuses <= {200, 429, 499, 500}
    assert gw.app.runtime.gate is not None
    limiter = gw.app.runtime.gate.limiter
    (lim,) = limiter.limits
    wait_for(
        lambda: settled(gw) and on_gateway_loop(gw, limiter.in_flight(lim, "project=acme")) == 0,
        what="leases back to zero",
    )


def test_per_request_caps_refuse_runaway_requests_and_bound_unbounded_ones(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    caps = [{"scope": {"project": "acme"}, "max_input_tokens": 50, "max_output_tokens": 10}]
    gw = gateway_factory(spend_config(tmp_path, {"request_caps": caps}))
    url = f"{gw.base_url}/chat/completions"
    huge = [{"role": "user", "content": "word " * 400}]
    status, _, body = http("POST", url, chat_body(messages=huge, max_tokens=5), ACME)
    err = orjson.loads(body)["error"]
    assert (status, err["type"], err["code"]) == (429, "budget_exceeded", "request_cap")
    assert "input tokens" in err["message"]
    assert "retry-after" not in _  # retrying cannot help
    status, _, body = http("POST", url, chat_body(max_tokens=11), ACME)
    assert status == 429 and "output tokens" in orjson.loads(body)["error"]["message"]
    # a request naming no output cap gets the scope's
    plain = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    status, _, body = http("POST", url, plain, ACME)
    assert status == 200
    assert orjson.loads(body)["usage"]["completion_tokens"] <= 10


def test_kill_switch_ends_an_in_flight_stream_with_a_clean_error_event(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    import urllib.request

    cfg = spend_config(tmp_path, {}, per_token_ms=30)
    gw = gateway_factory(cfg)
    req = urllib.request.Request(
        f"{gw.base_url}/chat/completions",
        data=chat_body(stream=True),
        headers={"content-type": "application/json", **ACME},
    )
    assert gw.app.spend is not None
    with urllib.request.urlopen(req, timeout=30) as resp:
        first = resp.readline()
        assert first.startswith(b"data: ")
        on_gateway_loop(gw, gw.app.spend.switches.kill({"project": "acme"}, reason="test", who="t"))
        rest = resp.read()
    events = [e for e in rest.split(b"\n\n") if e.strip()]
    last = orjson.loads(events[-1].removeprefix(b"data: "))
    assert last["error"]["type"] == "feature_disabled"
    assert b"[DONE]" not in rest
    (row,) = gw.records()
    assert row["error_class"] == "FeatureDisabled"
    assert row["output_tokens"] > 0  # billed for what was streamed


def test_loop_breaker_trips_a_session_repeating_itself(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    cfg = spend_config(tmp_path, {"loop_breaker": {"repeats": 3, "window_s": 60}})
    gw = gateway_factory(cfg)
    url = f"{gw.base_url}/chat/completions"
    hdrs = {**ACME, "x-daytwo-session": "s-1"}
    assert http("POST", url, chat_body(), hdrs)[0] == 200
    assert http("POST", url, chat_body(), hdrs)[0] == 200
    status, _, body = http("POST", url, chat_body(), hdrs)
    assert status == 403
    err = orjson.loads(body)["error"]
    assert (err["type"], err["code"], err["scope"]) == (
        "feature_disabled",
        "loopbreaker",
        "session=s-1",
    )
    # a different question in the same session is refused too: the session is off
    assert http("POST", url, chat_body(temperature=0.5, messages=[]), hdrs)[0] in (400, 403)
    other = {**ACME, "x-daytwo-session": "s-2"}
    assert http("POST", url, chat_body(), other)[0] == 200


def test_counters_are_rebuilt_from_the_ledger_after_a_restart(tmp_path: Path) -> None:
    cfg = spend_config(tmp_path, {"budgets": [daily_budget(3 * worst_case())]})
    with running_gateway(cfg) as gw:
        url = f"{gw.base_url}/chat/completions"
        for _ in range(2):
            assert http("POST", url, chat_body(), ACME)[0] == 200
        wait_for(lambda: settled(gw))
        spent = _spent(gw)
    with running_gateway(cfg) as gw2:  # a fresh process memory: counters come from the ledger
        c = _counter(gw2)
        assert c.spent_nanos == spent > 0
        assert c.reserved_nanos == 0


def test_fail_closed_refuses_to_start_without_its_state_and_fail_open_serves(
    tmp_path: Path,
) -> None:
    dead = {"backend": "redis", "url": "redis://127.0.0.1:1/0"}
    cfg = spend_config(tmp_path, {"state": dead, "budgets": [daily_budget(worst_case())]})
    with pytest.raises(RuntimeError, match="failed to start"), running_gateway(cfg):
        pass
    cfg["spend_control"]["state"] = {**dead, "on_unavailable": "fail_open"}
    with running_gateway(cfg) as gw:
        status, _, body = http("POST", f"{gw.base_url}/chat/completions", chat_body(), ACME)
        assert status == 200, body


def test_a_stream_that_runs_past_its_reservation_is_ended_and_billed(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    """An upstream that ignores max_tokens, on a provider marked `enforce_output_cap`: the
    stream ends once the upstream's own streamed usage passes the reservation."""
    import urllib.request

    budget = daily_budget(1000 * worst_case())
    cfg = spend_config(tmp_path, {"budgets": [budget]}, ignore_max_tokens=True)
    cfg["providers"]["sim"]["sim"].update(min_output_tokens=200, max_output_tokens=200)
    cfg["providers"]["sim"]["enforce_output_cap"] = True
    gw = gateway_factory(cfg)
    opts = {"include_usage": True, "continuous_usage_stats": True}
    req = urllib.request.Request(
        f"{gw.base_url}/chat/completions",
        data=chat_body(stream=True, max_tokens=5, stream_options=opts),
        headers={"content-type": "application/json", **ACME},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        events = [e for e in resp.read().split(b"\n\n") if e.strip()]
    last = orjson.loads(events[-1].removeprefix(b"data: "))["error"]
    assert (last["type"], last["code"]) == ("budget_exceeded", "reservation_exhausted")
    relayed = [orjson.loads(e.removeprefix(b"data: ")) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in relayed)
    assert len(text.split()) == 5  # exactly the reserved 5 tokens reached the client
    wait_for(lambda: settled(gw))
    (row,) = gw.records()
    assert row["output_tokens"] == 6  # billed what the upstream reported, not 200
    assert row["cost_nanousd"] > 0
    assert _counter(gw).spent_nanos == row["cost_nanousd"]


def test_a_virtual_keys_own_budget_and_rpm_are_enforced_and_spend_events_are_logged(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    from daytwo.keys.model import KeySpec
    from daytwo.keys.store import KeyStore

    cfg = spend_config(tmp_path, {})
    cfg["gateway"] = {"require_keys": True, "key_cache_ttl_s": 0.05}
    gw = gateway_factory(cfg)
    with KeyStore.open(cfg["ledger"]["url"]) as store:
        cap = -(-3 * worst_case() // 1000) * 1000  # whole micro-dollars: a key budget's precision
        budget = f"{usd(cap)}/day"
        limited = store.create(KeySpec(project="acme", rpm=2), actor="test")
        capped = store.create(KeySpec(project="acme", budget=budget), actor="test")
        assert gw.app.keys is not None
        gw.app.keys.refresh()
        url = f"{gw.base_url}/chat/completions"

        def call(secret: str) -> tuple[int, dict[str, Any]]:
            status, _, body = http("POST", url, chat_body(), {"authorization": f"Bearer {secret}"})
            return status, orjson.loads(body)

        assert call(limited.secret)[0] == 200
        assert call(limited.secret)[0] == 200
        status, body = call(limited.secret)
        assert (status, body["error"]["type"]) == (429, "rate_limited")
        assert body["error"]["scope"] == f"key={limited.record.id}"

        statuses = []
        for _ in range(4):
            statuses.append(call(capped.secret)[0])
            wait_for(lambda: settled(gw))
        assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
        spent = sum(r["cost_nanousd"] or 0 for r in gw.records() if r["key_id"] == capped.record.id)
        assert spent <= cap


def test_budget_thresholds_and_trips_are_written_to_the_event_log(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    from daytwo.keys.store import KeyStore

    budget = daily_budget(worst_case() + worst_case() // 2, actions=["alert", "trip"])
    budget["thresholds"] = [10]
    cfg = spend_config(tmp_path, {"budgets": [budget]})
    gw = gateway_factory(cfg)
    url = f"{gw.base_url}/chat/completions"
    assert http("POST", url, chat_body(), ACME)[0] == 200
    wait_for(lambda: settled(gw))
    assert http("POST", url, chat_body(), ACME)[0] == 403
    with KeyStore.open(cfg["ledger"]["url"]) as store:

        def actions() -> set[str]:
            return {e.action for e in store.events(target="project=acme")}

        wait_for(lambda: {"threshold", "trip", "switch_on"} <= actions(), what="events")
        (trip,) = [e for e in store.events(target="project=acme") if e.action == "trip"]
        assert trip.actor == "budget:acme-daily"
        assert trip.after is not None and trip.after["budget"] == "acme-daily"


def test_refusals_reach_anthropic_and_responses_clients_in_their_own_format(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    import anthropic
    import openai

    gw = gateway_factory(spend_config(tmp_path, {"budgets": [daily_budget(worst_case() // 2)]}))
    claude = anthropic.Anthropic(
        base_url=gw.url, api_key="unused", max_retries=0, default_headers=ACME
    )
    with pytest.raises(anthropic.RateLimitError) as refused:
        claude.messages.create(
            model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "hello there"}]
        )
    err = refused.value.body["error"]  # type: ignore[index]
    assert (err["daytwo_type"], err["scope"], err["unit"]) == (
        "budget_exceeded",
        "project=acme",
        "usd",
    )
    if err["resets_at"] - time.time() > 61:  # the reset is not a minute away: do not wait
        assert refused.value.response.headers["x-should-retry"] == "false"
    assert gw.app.spend is not None
    on_gateway_loop(gw, gw.app.spend.switches.kill({"project": "acme"}, reason="test", who="t"))
    with pytest.raises(anthropic.PermissionDeniedError) as off:
        claude.messages.create(
            model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert off.value.body["error"]["daytwo_type"] == "feature_disabled"  # type: ignore[index]
    client = openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as responses_off:
        client.responses.create(model=MODEL, input="x", extra_headers=ACME)
    assert responses_off.value.body["type"] == "feature_disabled"  # type: ignore[index]
    claude.close()
    client.close()


def test_a_switched_off_provider_is_skipped_and_all_off_is_refused(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    cfg = spend_config(tmp_path, {})
    cfg["providers"]["backup"] = {"type": "sim", "sim": {"seed": 9}}
    cfg["models"][MODEL]["deployments"].append({"provider": "backup", "model": MODEL})
    gw = gateway_factory(cfg)
    assert gw.app.spend is not None
    board = gw.app.spend.switches
    url = f"{gw.base_url}/chat/completions"
    on_gateway_loop(gw, board.kill({"provider": "sim"}, reason="provider incident", who="t"))
    status, _, body = http("POST", url, chat_body(), ACME)
    assert status == 200, body
    assert gw.records()[-1]["deployment"] == f"backup/{MODEL}"
    on_gateway_loop(gw, board.kill({"provider": "backup"}, reason="also down", who="t"))
    status, _, body = http("POST", url, chat_body(), ACME)
    err = orjson.loads(body)["error"]
    assert (status, err["type"], err["scope"]) == (403, "feature_disabled", "provider=sim")
