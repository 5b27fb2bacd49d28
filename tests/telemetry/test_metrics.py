"""``GET /metrics`` after real traffic through the real gateway (loopback HTTP, the in-process
simulator, a real SQLite ledger): every value checked against what was sent and what the ledger
recorded -- answered, streamed, failed, refused and unpriced calls, retries and fallbacks with
an open breaker, cache hits and replays, budgets, kill switches and spend-control refusals --
plus the cardinality guard and the scrape-time gauges on their own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from tests.gateway.harness import (
    RunningGateway,
    gateway_config,
    http,
    route,
    running_gateway,
    sim_config,
    wait_for,
)
from tests.gateway.spend_harness import (
    chat_body,
    on_gateway_loop,
    settled,
    spend_config,
    usd,
    worst_case,
)
from tests.telemetry.records import call_record

from daytwo.config.telemetry import MetricsConfig
from daytwo.core.observe import CallView
from daytwo.core.record import AttemptRecord
from daytwo.telemetry.labels import OVERFLOW, UNKNOWN, LabelGuard
from daytwo.telemetry.metrics import (
    CONTENT_TYPE,
    DURATION_BUCKETS,
    TOKEN_BUCKETS,
    TTFT_BUCKETS,
    Metrics,
)
from daytwo.telemetry.state import BudgetUse, DeploymentHealth, ScrapeState

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "Say something."}]
VIEW = CallView(traceparent=None, request=None, response=None, finish_reasons=(), response_id=None)


# -- reading a scrape -----------------------------------------------------------------------


def scrape(gw: RunningGateway) -> list[Sample]:
    status, headers, body = http("GET", f"{gw.url}/metrics")
    assert status == 200, body
    assert headers["content-type"] == CONTENT_TYPE
    return parse(body)


def parse(body: bytes) -> list[Sample]:
    return [s for f in text_string_to_metric_families(body.decode()) for s in f.samples]


def matching(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [s for s in samples if s.name == name and labels.items() <= s.labels.items()]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    return sum(s.value for s in matching(samples, name, **labels))


def buckets(samples: list[Sample], name: str, **labels: str) -> dict[float, float]:
    """A histogram's cumulative bucket counts by upper bound, summed over matching series."""
    out: dict[float, float] = {}
    for s in matching(samples, f"{name}_bucket", **labels):
        le = float(s.labels["le"])
        out[le] = out.get(le, 0.0) + s.value
    return out


def expected_buckets(values: list[float], bounds: tuple[float, ...]) -> dict[float, float]:
    return {b: float(sum(1 for v in values if v <= b)) for b in (*bounds, float("inf"))}


def post(gw: RunningGateway, body: dict[str, Any] | bytes, **headers: str) -> int:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    path = "embeddings" if isinstance(body, dict) and "input" in body else "chat/completions"
    status, _, _ = http("POST", f"{gw.base_url}/{path}", data, hdrs)
    return status


def chat(model: str = "gpt-4o-mini", *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": MESSAGES, "max_tokens": 12, **extra}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


# -- answered, streamed, failed, refused, unpriced ------------------------------------------


@pytest.fixture
def traffic_gw(tmp_path: Path) -> Iterator[RunningGateway]:
    cfg = gateway_config(
        tmp_path / "ledger.db",
        {
            "sim": {"type": "sim", "sim": {"seed": 7, "ttft_ms": 15}},
            "broken": {"type": "sim", "sim": {"seed": 8, "faults": {"rate_500": 1.0}}},
        },
        {
            "gpt-4o-mini": route("sim", "gpt-4o-mini"),
            "text-embedding-3-small": route("sim", "text-embedding-3-small", "embeddings"),
            "broken": route("broken", "gpt-4o-mini"),
            "mystery": route("sim", "mystery-model-7"),
        },
    )
    cfg["resilience"] = {"defaults": {"max_attempts": 1}}
    with running_gateway(cfg) as gw:
        yield gw


def test_a_scrape_after_real_traffic_counts_every_call_as_the_ledger_did(
    traffic_gw: RunningGateway,
) -> None:
    gw = traffic_gw
    search = {"x_daytwo_project": "acme", "x_daytwo_workflow": "search"}
    for _ in range(3):
        assert post(gw, chat(), **search) == 200
    for _ in range(2):
        assert post(gw, chat(stream=True), x_daytwo_project="acme") == 200
    embed = {"model": "text-embedding-3-small", "input": "hello"}
    assert post(gw, embed, x_daytwo_project="beta") == 200
    assert post(gw, chat("broken"), **search) == 500
    assert post(gw, chat("no-such-alias"), x_daytwo_project="acme") == 404
    assert post(gw, b"{not json", x_daytwo_project="acme") == 400
    assert post(gw, chat("mystery"), x_daytwo_project="beta") == 200

    rows = gw.records()
    assert len(rows) == 10
    samples = scrape(gw)
    assert not [s for s in samples if s.name.endswith("_created")]

    # requests, by outcome and labels
    req = "daytwo_requests_total"
    assert value(samples, req) == 10
    ok_search = {"provider": "sim", "model": "gpt-4o-mini", "project": "acme", "workflow": "search"}
    assert value(samples, req, operation="chat", status="ok", **ok_search) == 3
    assert value(samples, req, status="ok", model="gpt-4o-mini", workflow=UNKNOWN) == 2
    assert value(samples, req, operation="embeddings", status="ok", project="beta") == 1
    assert value(samples, req, status="error", provider="broken", model="broken") == 1
    assert value(samples, req, status="rejected", provider="none", model=UNKNOWN) == 2
    assert value(samples, req, status="ok", provider="sim", model="mystery") == 1

    # errors by class; nothing refused by spend control
    err = "daytwo_errors_total"
    assert value(samples, err) == 3
    assert value(samples, err, error_class="UpstreamStatusError", provider="broken") == 1
    assert value(samples, err, error_class="ModelNotFound", model=UNKNOWN, provider="none") == 1
    assert value(samples, err, error_class="InvalidRequest", model=UNKNOWN) == 1
    assert value(samples, "daytwo_ratelimit_rejections_total") == 0

    # tokens: one observation per type for every call that used tokens (no output for
    # embeddings), bucket by bucket as in the ledger
    used = [r for r in rows if r["input_tokens"] or r["output_tokens"]]
    assert len(used) == 7
    tok = "gen_ai_client_token_usage"
    inputs = [r["input_tokens"] for r in used]
    outputs = [r["output_tokens"] for r in used if r["operation"] != "embeddings"]
    assert value(samples, f"{tok}_count", gen_ai_token_type="input") == 7
    assert value(samples, f"{tok}_sum", gen_ai_token_type="input") == sum(inputs)
    assert value(samples, f"{tok}_count", gen_ai_token_type="output") == 6
    assert value(samples, f"{tok}_sum", gen_ai_token_type="output") == sum(outputs)
    assert buckets(samples, tok, gen_ai_token_type="input") == expected_buckets(
        inputs, TOKEN_BUCKETS
    )
    assert buckets(samples, tok, gen_ai_token_type="output") == expected_buckets(
        outputs, TOKEN_BUCKETS
    )
    embed_out = matching(samples, f"{tok}_count", model="text-embedding-3-small")
    assert [s.labels["gen_ai_token_type"] for s in embed_out] == ["input"]

    # duration: every call that reached a model (the refused ones did not)
    reached = [r for r in rows if r["provider"] is not None]
    assert len(reached) == 8
    dur = "gen_ai_client_operation_duration_seconds"
    seconds = [r["latency_ms"] / 1000 for r in reached]
    assert value(samples, f"{dur}_count") == 8
    assert value(samples, f"{dur}_sum") == pytest.approx(sum(seconds), rel=1e-9)
    assert buckets(samples, dur) == expected_buckets(seconds, DURATION_BUCKETS)
    assert not matching(samples, f"{dur}_count", provider="none")

    # time to first token: the two streams
    ttft = "gen_ai_server_time_to_first_token_seconds"
    firsts = [r["ttft_ms"] / 1000 for r in rows if r["ttft_ms"] is not None]
    assert len(firsts) == 2
    assert all(t >= 0.015 for t in firsts)
    assert value(samples, f"{ttft}_count", workflow=UNKNOWN, project="acme") == 2
    assert value(samples, f"{ttft}_sum") == pytest.approx(sum(firsts), rel=1e-9)
    assert buckets(samples, ttft) == expected_buckets(firsts, TTFT_BUCKETS)

    # cost, per series as in the ledger; the unpriced call counted apart
    cost = "daytwo_cost_usd_total"
    priced = [r for r in rows if r["cost_nanousd"]]
    assert value(samples, cost) == pytest.approx(sum(r["cost_nanousd"] for r in priced) / 1e9)
    in_search = sum(r["cost_nanousd"] for r in priced if r["workflow"] == "search")
    assert value(samples, cost, **ok_search) == pytest.approx(in_search / 1e9, rel=1e-9)
    (mystery,) = [r for r in rows if r["alias"] == "mystery"]
    assert mystery["cost_nanousd"] is None
    unpriced = "daytwo_unpriced_requests_total"
    assert value(samples, unpriced) == 1
    assert value(samples, unpriced, provider="sim", model="mystery", project="beta") == 1
    assert not matching(samples, cost, model="mystery")

    # no retries (one attempt each), nothing from the cache
    for name in ("daytwo_retries_total", "daytwo_fallbacks_total", "daytwo_cache_hits_total"):
        assert value(samples, name) == 0

    # scrape-time gauges
    breaker = "daytwo_breaker_state"
    closed = {"deployment": "sim/gpt-4o-mini", "provider": "sim", "state": "closed"}
    assert value(samples, breaker, **closed) == 1
    assert value(samples, breaker, deployment="sim/gpt-4o-mini") == 1  # one-hot
    assert value(samples, breaker, deployment="broken/gpt-4o-mini", state="closed") == 1
    assert value(samples, "daytwo_deployment_error_rate", deployment="broken/gpt-4o-mini") == 1
    assert value(samples, "daytwo_inflight_requests") == 0
    assert value(samples, "daytwo_ledger_queue_depth") == 0
    assert value(samples, "daytwo_kill_switches_active") == 0
    dropped = matching(samples, "daytwo_ledger_dropped_records_total")
    assert {s.labels["reason"]: s.value for s in dropped} == {"spilled": 0, "rejected": 0}
    assert not matching(samples, "daytwo_budget_utilization_ratio")
    # process metrics, from the private registry
    assert value(samples, "process_resident_memory_bytes") > 10_000_000
    assert matching(samples, "python_info")


# -- retries, fallbacks, an open breaker -----------------------------------------------------


def test_retries_and_fallbacks_follow_the_attempts_and_the_open_breaker_shows(
    tmp_path: Path,
) -> None:
    cfg = gateway_config(
        tmp_path / "ledger.db",
        {
            "primary": {"type": "sim", "sim": {"seed": 3, "faults": {"rate_503": 1.0}}},
            "fallback": {"type": "sim", "sim": {"seed": 4}},
        },
        {
            "chat": {
                "deployments": [
                    {"provider": "primary", "model": "gpt-4o-mini"},
                    {"provider": "fallback", "model": "gpt-4o-mini"},
                ]
            }
        },
    )
    cfg["resilience"] = {
        "defaults": {"max_attempts": 3},
        "breaker": {"consecutive_failures": 2, "open_s": 60},
        "retry_budget": {"min_retries": 1000, "window_s": 3600},
    }
    with running_gateway(cfg) as gw:
        for _ in range(3):
            assert post(gw, chat("chat"), x_daytwo_project="acme") == 200
        rows = gw.records()
        # the first two calls failed over; the third went straight to the fallback
        assert [r["attempts"] for r in rows] == [2, 2, 1]
        samples = scrape(gw)
        health = {d.deployment: d for d in gw.app.runtime.resilience.health.snapshot()}

    primary, fallback = "primary/gpt-4o-mini", "fallback/gpt-4o-mini"
    assert value(samples, "daytwo_retries_total") == sum(r["attempts"] - 1 for r in rows) == 2
    assert value(samples, "daytwo_retries_total", model="chat", deployment=primary) == 2
    fallbacks = matching(samples, "daytwo_fallbacks_total")
    assert [(s.labels, s.value) for s in fallbacks] == [
        ({"model": "chat", "from_deployment": primary, "to_deployment": fallback}, 2.0)
    ]
    assert value(samples, "daytwo_requests_total", status="ok", provider="fallback") == 3
    # the answering attempt's duration is in the call's; the failed ones are not separate calls
    assert value(samples, "gen_ai_client_operation_duration_seconds_count") == 3
    states = {
        (s.labels["deployment"], s.labels["state"]): s.value
        for s in matching(samples, "daytwo_breaker_state")
    }
    assert states == {
        (primary, "closed"): 0,
        (primary, "open"): 1,
        (primary, "half_open"): 0,
        (fallback, "closed"): 1,
        (fallback, "open"): 0,
        (fallback, "half_open"): 0,
    }
    for dep in (primary, fallback):
        rate = health[dep].error_rate
        assert value(samples, "daytwo_deployment_error_rate", deployment=dep) == rate
    assert value(samples, "daytwo_retry_budget_requests") == 3
    assert value(samples, "daytwo_retry_budget_retries") == 2


# -- the response cache and idempotent replays ----------------------------------------------


def test_cache_hits_and_replays_count_what_they_saved(tmp_path: Path) -> None:
    cfg = sim_config(tmp_path)
    cfg["cache"] = {"aliases": ["gpt-4o-mini"]}
    cfg["idempotency"] = {"backend": "memory"}
    with running_gateway(cfg) as gw:
        for _ in range(2):
            assert post(gw, chat()) == 200
            gw.records()
            wait_for(lambda: settled(gw), what="the cache write")
        key = uuid.uuid4().hex
        for _ in range(2):
            assert post(gw, chat(max_tokens=13), idempotency_key=key) == 200
            gw.records()
            wait_for(lambda: settled(gw), what="the idempotency record")
        first, hit, second, replay = gw.records()
        assert (hit["cache_status"], replay["cache_status"]) == ("hit", "replay")
        samples = scrape(gw)

    who = {"model": "gpt-4o-mini", "project": "default", "workflow": UNKNOWN}
    assert value(samples, "daytwo_cache_hits_total", kind="hit", **who) == 1
    assert value(samples, "daytwo_cache_hits_total", kind="replay", **who) == 1
    saved = "daytwo_cache_saved_usd_total"
    assert value(samples, saved, kind="hit") == pytest.approx(first["cost_nanousd"] / 1e9)
    assert value(samples, saved, kind="replay") == pytest.approx(second["cost_nanousd"] / 1e9)
    # answered: two by the upstream, two without one
    assert value(samples, "daytwo_requests_total", status="ok", provider="sim") == 2
    assert value(samples, "daytwo_requests_total", status="ok", provider="none") == 2
    spent = first["cost_nanousd"] + second["cost_nanousd"]
    assert value(samples, "daytwo_cost_usd_total") == pytest.approx(spent / 1e9)
    assert value(samples, "gen_ai_client_token_usage_count", gen_ai_token_type="input") == 2
    # the client waited for the cached answers too
    assert value(samples, "gen_ai_client_operation_duration_seconds_count", provider="none") == 2
    assert value(samples, "daytwo_unpriced_requests_total") == 0


# -- budgets, kill switches, spend-control refusals -----------------------------------------


@pytest.fixture
def budget_gw(tmp_path: Path) -> Iterator[RunningGateway]:
    budget = {"name": "acme-daily", "scope": {"project": "acme"}, "window": "day"}
    cfg = spend_config(tmp_path, {"budgets": [{**budget, "usd": usd(2 * worst_case())}]})
    with running_gateway(cfg) as gw:
        yield gw


def test_budget_use_kill_switches_and_refusals(budget_gw: RunningGateway) -> None:
    gw = budget_gw
    cap = 2 * worst_case()
    assert gw.app.spend is not None
    board = gw.app.spend.switches
    url = f"{gw.base_url}/chat/completions"
    acme = {"x-daytwo-project": "acme"}
    ratio = {"budget": "acme-daily", "scope": "project=acme", "window": "day", "unit": "usd"}

    assert http("POST", url, chat_body(), acme)[0] == 200
    wait_for(lambda: settled(gw), what="settlement")
    spent = sum(r["cost_nanousd"] for r in gw.records())
    samples = scrape(gw)
    assert value(samples, "daytwo_budget_utilization_ratio", **ratio) == spent / cap
    assert len(matching(samples, "daytwo_budget_utilization_ratio")) == 1  # no token cap

    on_gateway_loop(gw, board.kill({"project": "acme"}, reason="test", who="t"))
    assert value(scrape(gw), "daytwo_kill_switches_active") == 1
    assert http("POST", url, chat_body(), acme)[0] == 403
    on_gateway_loop(gw, board.revive({"project": "acme"}, who="t"))
    assert http("POST", url, chat_body(), acme)[0] == 200
    wait_for(lambda: settled(gw), what="settlement")
    assert http("POST", url, chat_body(), acme)[0] == 429  # the budget cannot pay for a third

    spent = sum(r["cost_nanousd"] or 0 for r in gw.records())
    samples = scrape(gw)
    assert value(samples, "daytwo_kill_switches_active") == 0
    assert value(samples, "daytwo_budget_utilization_ratio", **ratio) == spent / cap
    refusals = "daytwo_ratelimit_rejections_total"
    assert value(samples, refusals, error_class="FeatureDisabled", project="acme") == 1
    assert value(samples, refusals, error_class="BudgetExceeded", project="acme") == 1
    assert value(samples, refusals) == 2
    assert value(samples, "daytwo_errors_total", error_class="BudgetExceeded") == 1
    assert value(samples, "daytwo_requests_total", status="rejected", project="acme") == 2
    assert value(samples, "daytwo_requests_total", status="ok", project="acme") == 2


def test_metrics_off_means_no_endpoint(tmp_path: Path) -> None:
    cfg = sim_config(tmp_path)
    cfg["telemetry"] = {"metrics": {"enabled": False}}
    with running_gateway(cfg) as gw:
        assert gw.app.telemetry.metrics is None
        assert post(gw, chat()) == 200
        status, _, body = http("GET", f"{gw.url}/metrics")
        assert status == 404, body


# -- the cardinality guard ------------------------------------------------------------------


def test_ten_thousand_projects_make_at_most_limit_plus_two_series() -> None:
    metrics = Metrics(MetricsConfig(max_label_values=100))
    for n in range(10_000):
        metrics.observe(call_record(n, project=f"p{n}", workflow=f"w{n}", alias=f"m{n}"), VIEW)
    metrics.observe(call_record(10_000, project="", workflow=None, alias=""), VIEW)
    samples = parse(metrics.render(ScrapeState()))

    series = matching(samples, "daytwo_requests_total")
    assert len(series) == 102  # the first 100 of each, "other", "unknown"
    by_project = {s.labels["project"]: s for s in series}
    assert by_project[OVERFLOW].value == 9_900
    assert by_project[OVERFLOW].labels["workflow"] == by_project[OVERFLOW].labels["model"]
    assert by_project[OVERFLOW].labels["model"] == OVERFLOW
    assert by_project[UNKNOWN].value == 1
    assert by_project[UNKNOWN].labels["workflow"] == by_project[UNKNOWN].labels["model"]
    assert by_project[UNKNOWN].labels["model"] == UNKNOWN
    for n in range(100):
        kept = by_project[f"p{n}"]
        assert (kept.labels["workflow"], kept.labels["model"], kept.value) == (f"w{n}", f"m{n}", 1)
    for name in ("daytwo_cost_usd_total", "gen_ai_client_operation_duration_seconds_count"):
        assert len(matching(samples, name)) == 102
    tokens = matching(samples, "gen_ai_client_token_usage_count")
    assert len(tokens) == 2 * 102
    assert value(samples, "daytwo_cost_usd_total") == pytest.approx(10_001 * 1000 / 1e9)


def test_the_label_guard_keeps_the_first_values_and_remembers_no_more() -> None:
    guard = LabelGuard(2)
    assert [guard(v) for v in ("a", None, "b", "", "c", "a", "d", "b")] == [
        "a",
        UNKNOWN,
        "b",
        UNKNOWN,
        OVERFLOW,
        "a",
        OVERFLOW,
        "b",
    ]
    assert len(guard) == 2
    with pytest.raises(ValueError, match="at least 1"):
        LabelGuard(0)


def test_a_call_cancelled_during_a_retry_counts_the_attempts_it_made() -> None:
    def attempt(n: int, deployment: str) -> AttemptRecord:
        return AttemptRecord(
            n=n,
            started_at=0.0,
            latency_ms=5.0,
            provider=deployment.split("/")[0],
            deployment=deployment,
            model="m",
            outcome="error",
        )

    metrics = Metrics(MetricsConfig())
    log = (attempt(1, "a/m"), attempt(2, "b/m"))  # the third attempt never got a row
    metrics.observe(
        call_record(1, status="cancelled", http_status=499, attempts=3, attempt_log=log), VIEW
    )
    samples = parse(metrics.render(ScrapeState()))
    retries = {s.labels["deployment"]: s.value for s in matching(samples, "daytwo_retries_total")}
    assert retries == {"a/m": 1, "b/m": 1}
    fallbacks = matching(samples, "daytwo_fallbacks_total")
    assert [(s.labels["from_deployment"], s.labels["to_deployment"]) for s in fallbacks] == [
        ("a/m", "b/m")
    ]


# -- scrape-time gauges ---------------------------------------------------------------------


def test_scrape_state_becomes_gauges() -> None:
    state = ScrapeState(
        deployments=(
            DeploymentHealth("a/m", "a", "half_open", 0.25, remaining_requests=7),
            DeploymentHealth("b/m", "", "open", 1.0, remaining_tokens=900),
        ),
        budgets=(
            BudgetUse("org", "org", "month", 4_000_000_000, 1_000_000_000, 2000, 1500),
            BudgetUse("frozen", "project=x", "day", 0, 0, None, 0),
        ),
        active_switches=2,
        inflight=5,
        ledger_queued=11,
        ledger_spilled=3,
        ledger_rejected=1,
        ledger_write_errors=4,
        retry_budget_requests=40,
        retry_budget_retries=6,
        extra={"daytwo_custom_value": 2.5, "not a metric name": 1.0},
    )
    samples = parse(Metrics(MetricsConfig()).render(state))

    def one(name: str, **labels: str) -> float:
        (s,) = matching(samples, name, **labels)
        return s.value

    assert one("daytwo_breaker_state", deployment="a/m", state="half_open") == 1
    assert one("daytwo_breaker_state", deployment="a/m", state="closed") == 0
    assert one("daytwo_breaker_state", deployment="b/m", provider=UNKNOWN, state="open") == 1
    assert one("daytwo_deployment_error_rate", deployment="a/m") == 0.25
    assert one("daytwo_upstream_remaining_requests", deployment="a/m") == 7
    assert one("daytwo_upstream_remaining_tokens", deployment="b/m") == 900
    assert not matching(samples, "daytwo_upstream_remaining_requests", deployment="b/m")
    assert one("daytwo_budget_utilization_ratio", budget="org", unit="usd") == 0.25
    assert one("daytwo_budget_utilization_ratio", budget="org", unit="tokens") == 0.75
    assert one("daytwo_budget_utilization_ratio", budget="frozen", unit="usd") == 1  # cap 0
    assert not matching(samples, "daytwo_budget_utilization_ratio", budget="frozen", unit="tokens")
    assert one("daytwo_kill_switches_active") == 2
    assert one("daytwo_inflight_requests") == 5
    assert one("daytwo_ledger_queue_depth") == 11
    assert one("daytwo_ledger_dropped_records_total", reason="spilled") == 3
    assert one("daytwo_ledger_dropped_records_total", reason="rejected") == 1
    assert one("daytwo_ledger_write_errors_total") == 4
    assert one("daytwo_retry_budget_requests") == 40
    assert one("daytwo_retry_budget_retries") == 6
    assert one("daytwo_custom_value") == 2.5
    assert not [s for s in samples if "not a metric" in s.name]
