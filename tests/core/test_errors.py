"""The exception tree decides, once for every door, what a client is told about retrying."""

from __future__ import annotations

import pytest

from daytwo.core.errors import (
    MAX_CLIENT_RETRY_AFTER_S,
    BudgetExceeded,
    FeatureDisabled,
    InvalidRequest,
    RateLimited,
    UpstreamStatusError,
    WrongEndpoint,
)

NOW = 1_800_000_000.0


def test_a_budget_that_resets_far_off_says_do_not_retry_and_sends_no_wait() -> None:
    err = BudgetExceeded("spent", scope="project=acme", reset_at=NOW + 78_750, now=NOW)
    assert err.wire_headers() == {"x-should-retry": "false"}
    assert err.reset_at == NOW + 78_750  # the body still says when


def test_a_budget_that_resets_within_a_minute_is_worth_the_wait() -> None:
    err = BudgetExceeded("spent", scope="project=acme", reset_at=NOW + 29.2, now=NOW)
    assert err.wire_headers() == {"retry-after": "30", "x-should-retry": "true"}
    edge = BudgetExceeded("spent", scope="s", reset_at=NOW + MAX_CLIENT_RETRY_AFTER_S, now=NOW)
    assert edge.wire_headers()["retry-after"] == str(MAX_CLIENT_RETRY_AFTER_S)
    past = BudgetExceeded("spent", scope="s", reset_at=NOW + MAX_CLIENT_RETRY_AFTER_S + 1, now=NOW)
    assert past.wire_headers() == {"x-should-retry": "false"}


@pytest.mark.parametrize(
    "err",
    [
        BudgetExceeded("cap", scope="request", code="request_cap"),  # a per-request cap
        FeatureDisabled("off", scope="project=acme", code="switch", now=NOW),  # a kill switch
        FeatureDisabled("tripped", scope="project=acme", code="trip", now=NOW),
    ],
)
def test_refusals_that_waiting_cannot_cure_say_so(err: BudgetExceeded) -> None:
    assert err.wire_headers() == {"x-should-retry": "false"}


def test_a_rate_limit_keeps_its_short_retry_after_and_its_ratelimit_headers() -> None:
    err = RateLimited(
        "rpm",
        scope="project=acme",
        reset_at=NOW + 12.5,
        now=NOW,
        headers={"x-ratelimit-remaining-requests": "0"},
    )
    assert err.wire_headers() == {
        "x-ratelimit-remaining-requests": "0",
        "retry-after": "13",
        "x-should-retry": "true",
    }


def test_an_upstream_wait_past_the_cap_is_not_passed_on() -> None:
    short = UpstreamStatusError(429, "slow down", headers={"retry-after": "3"})
    assert short.wire_headers() == {"retry-after": "3"}  # the status decides, as before
    long = UpstreamStatusError(503, "down", headers={"retry-after": "300"})
    assert long.wire_headers() == {"x-should-retry": "false"}
    long_ms = UpstreamStatusError(
        429, "slow", headers={"retry-after-ms": "120000", "retry-after": "120"}
    )
    assert long_ms.wire_headers() == {"x-should-retry": "false"}
    dated = UpstreamStatusError(503, "down", headers={"retry-after": "Fri, 31 Dec 1999 23:59:59"})
    assert dated.wire_headers() == {"retry-after": "Fri, 31 Dec 1999 23:59:59"}


def test_caller_errors_leave_retrying_to_the_status() -> None:
    assert InvalidRequest("bad", param="messages").wire_headers() == {}


def test_wrong_endpoint_answers_as_openai_does() -> None:
    on_chat = WrongEndpoint("text-embedding-3-small", "embeddings")
    on_embeddings = WrongEndpoint("gpt-4o-mini", "chat")
    assert (on_chat.status_code(), on_chat.param, on_chat.type) == (
        404,
        "model",
        "invalid_request_error",
    )
    assert (on_embeddings.status_code(), on_embeddings.param) == (403, "model")
    assert "not allowed to generate embeddings" in on_embeddings.message
