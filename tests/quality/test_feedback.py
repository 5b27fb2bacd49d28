"""``POST /v1/feedback`` over real HTTP: an application gets the call id of an answer with the
official openai SDK and tells the gateway what it thought of it; the scores land in the
ledger, linked to the call. Unknown calls are 404, another project's calls 403, bad fields 400
naming the field, no key 401; ``daytwo.sdk.feedback`` does the same from an application."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.gateway.harness import RunningGateway, http, running_gateway, sim_config

from daytwo import sdk
from daytwo.gateway.feedback import MAX_COMMENT_CHARS
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore
from daytwo.sdk.feedback import FeedbackError

pytestmark = pytest.mark.integration

FEEDBACK = "/v1/feedback"
UNKNOWN_CALL = "0" * 12 + "f" * 16


@dataclass
class Setup:
    gw: RunningGateway
    billing: str  # a key of project "billing"
    search: str  # a key of project "search"

    def answer(self, key: str, **extra: Any) -> tuple[str, str]:
        """A chat call with the official SDK: (call id, trace id) of its answer."""
        with openai.OpenAI(base_url=self.gw.base_url, api_key=key, max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], **extra
            )
        raw.parse()
        call_id = raw.headers["x-daytwo-call-id"]
        return call_id, self.gw.record(call_id)["trace_id"]

    def post(self, key: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, _, answer = http("POST", self.gw.url + FEEDBACK, raw, headers)
        return status, json.loads(answer)

    def scores(self, call_id: str) -> list[Any]:
        assert self.gw.app.ledger is not None
        return self.gw.app.ledger.store.get_scores(call_id)


def _start(tmp_path: Path, flush_interval_ms: int = 5) -> Iterator[Setup]:
    cfg = sim_config(tmp_path)
    cfg["gateway"] = {"require_keys": True}
    cfg["ledger"]["flush_interval_ms"] = flush_interval_ms
    with running_gateway(cfg) as gw:
        keys = KeyStore.open(cfg["ledger"]["url"])
        try:
            billing = keys.create(KeySpec(project="billing"), actor="test").secret
            search = keys.create(KeySpec(project="search"), actor="test").secret
        finally:
            keys.close()
        assert gw.app.keys is not None
        gw.app.keys.refresh()
        yield Setup(gw, billing, search)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    yield from _start(tmp_path_factory.mktemp("feedback"))


def test_feedback_on_an_answer_is_stored_as_scores_of_its_call(setup: Setup) -> None:
    call_id, trace_id = setup.answer(setup.billing)
    status, answer = setup.post(
        setup.billing,
        {
            "call_id": call_id,
            "thumbs": "down",
            "score": 0.25,
            "task_success": False,
            "label": "wrong-refund-window",
            "comment": "It quoted 14 days; my key sk-abcdefghijklmnopqrstuvwxyz0123 leaked",
        },
    )
    assert status == 200, answer
    assert (answer["call_id"], answer["trace_id"], answer["verified"]) == (
        call_id,
        trace_id,
        True,
    )
    got = {s.evaluator: s for s in setup.scores(call_id)}
    assert set(got) == {
        "feedback:thumbs",
        "feedback:score",
        "feedback:task_success",
        "feedback:label",
    }
    assert (got["feedback:thumbs"].value, got["feedback:thumbs"].label) == (0.0, "thumbs_down")
    assert got["feedback:score"].value == 0.25
    assert (got["feedback:task_success"].value, got["feedback:task_success"].label) == (
        0.0,
        "failure",
    )
    assert (got["feedback:label"].value, got["feedback:label"].label) == (
        None,
        "wrong-refund-window",
    )
    for s in got.values():
        assert (s.source, s.call_id, s.trace_id) == ("feedback", call_id, trace_id)
        assert s.explanation is not None and "It quoted 14 days" in s.explanation
        assert "sk-abcdefghijklmnop" not in s.explanation  # redacted before it was stored
    assert sorted(r["id"] for r in answer["scores"]) == sorted(s.id for s in got.values())


def test_feedback_by_trace_id_lands_on_the_traces_call(setup: Setup) -> None:
    call_id, trace_id = setup.answer(setup.billing)
    status, answer = setup.post(setup.billing, {"trace_id": trace_id, "thumbs": "up"})
    assert status == 200, answer
    assert answer["call_id"] == call_id
    (s,) = setup.scores(call_id)
    assert (s.evaluator, s.value, s.label) == ("feedback:thumbs", 1.0, "thumbs_up")


def test_a_comment_alone_is_kept(setup: Setup) -> None:
    call_id, _ = setup.answer(setup.billing)
    assert setup.post(setup.billing, {"call_id": call_id, "comment": "meh"})[0] == 200
    (s,) = setup.scores(call_id)
    assert (s.evaluator, s.value, s.explanation) == ("feedback:comment", None, "meh")


def test_unknown_calls_and_traces_are_404(setup: Setup) -> None:
    status, answer = setup.post(setup.billing, {"call_id": UNKNOWN_CALL, "thumbs": "up"})
    assert status == 404
    assert (answer["error"]["param"], answer["error"]["code"]) == ("call_id", "not_found")
    status, answer = setup.post(setup.billing, {"trace_id": "ab" * 16, "thumbs": "up"})
    assert (status, answer["error"]["param"]) == (404, "trace_id")
    assert setup.scores(UNKNOWN_CALL) == []


def test_a_key_cannot_give_feedback_on_another_projects_call(setup: Setup) -> None:
    call_id, trace_id = setup.answer(setup.billing)
    for body, param in (
        ({"call_id": call_id, "thumbs": "down"}, "call_id"),
        ({"trace_id": trace_id, "thumbs": "down"}, "trace_id"),
    ):
        status, answer = setup.post(setup.search, body)
        assert status == 403
        assert (answer["error"]["code"], answer["error"]["param"]) == ("project_mismatch", param)
    assert setup.scores(call_id) == []


def test_no_key_is_401_and_a_bad_key_too(setup: Setup) -> None:
    call_id, _ = setup.answer(setup.billing)
    assert setup.post(None, {"call_id": call_id, "thumbs": "up"})[0] == 401
    assert setup.post("dt2_sk_forged", {"call_id": call_id, "thumbs": "up"})[0] == 401
    assert setup.scores(call_id) == []


GOOD = "0123456789ab" + "c" * 16


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"call_id": "xyz", "thumbs": "up"}, "call_id"),
        ({"call_id": GOOD.upper(), "thumbs": "up"}, "call_id"),
        ({"trace_id": "0" * 32, "thumbs": "up"}, "trace_id"),
        ({"trace_id": 12, "thumbs": "up"}, "trace_id"),
        ({"thumbs": "up"}, "call_id"),
        ({"call_id": GOOD}, "thumbs"),
        ({"call_id": GOOD, "thumbs": "sideways"}, "thumbs"),
        ({"call_id": GOOD, "score": 1.5}, "score"),
        ({"call_id": GOOD, "score": -0.01}, "score"),
        ({"call_id": GOOD, "score": True}, "score"),
        ({"call_id": GOOD, "score": "0.5"}, "score"),
        ({"call_id": GOOD, "task_success": "yes"}, "task_success"),
        ({"call_id": GOOD, "label": ""}, "label"),
        ({"call_id": GOOD, "label": "x" * 65}, "label"),
        ({"call_id": GOOD, "comment": "x" * (MAX_COMMENT_CHARS + 1)}, "comment"),
        ({"call_id": GOOD, "thumbs": "up", "rating": 5}, "rating"),
        ([1, 2], None),
        (b"{not json", None),
    ],
)
def test_bad_fields_are_400_naming_the_field(setup: Setup, body: Any, param: str | None) -> None:
    status, answer = setup.post(setup.billing, body)
    assert status == 400, answer
    err = answer["error"]
    assert (err["type"], err["param"]) == ("invalid_request_error", param)
    if param is not None:
        assert param in err["message"]


def test_feedback_right_after_the_answer_waits_for_the_ledger_writer(tmp_path: Path) -> None:
    # The writer flushes once a minute here: the call's row is still queued when the
    # feedback arrives, and the lookup must flush it rather than answer 404.
    for s in _start(tmp_path, flush_interval_ms=60_000):
        with openai.OpenAI(base_url=s.gw.base_url, api_key=s.billing, max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        call_id = raw.headers["x-daytwo-call-id"]
        assert s.gw.app.ledger is not None
        assert s.gw.app.ledger.store.get_call(call_id) is None  # not written yet
        status, answer = s.post(s.billing, {"call_id": call_id, "task_success": True})
        assert (status, answer["verified"]) == (200, True), answer
        assert [x.value for x in s.scores(call_id)] == [1.0]


def test_the_sdk_sends_feedback_from_the_environment(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id, _ = setup.answer(setup.billing)
    monkeypatch.setenv("DAYTWO_BASE_URL", setup.gw.url)
    monkeypatch.setenv("DAYTWO_API_KEY", setup.billing)
    answer = sdk.feedback(call_id, thumbs="up", score=0.9, comment="spot on")
    assert answer["call_id"] == call_id
    got = sorted((s.evaluator, s.value, s.explanation) for s in setup.scores(call_id))
    assert got == [("feedback:score", 0.9, "spot on"), ("feedback:thumbs", 1.0, "spot on")]

    with pytest.raises(FeedbackError) as info:
        sdk.feedback(UNKNOWN_CALL, thumbs="up")
    assert (info.value.status, info.value.param, info.value.code) == (404, "call_id", "not_found")
    with pytest.raises(FeedbackError) as info:
        sdk.feedback(call_id, score=2.0)
    assert (info.value.status, info.value.param) == (400, "score")
    with pytest.raises(FeedbackError) as info:
        sdk.feedback(call_id, thumbs="down", api_key=setup.search)
    assert (info.value.status, info.value.code) == (403, "project_mismatch")


def test_the_sdk_imports_nothing_of_daytwo_outside_the_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, daytwo.sdk.feedback\n"
        "print(sorted(m for m in sys.modules if m.startswith('daytwo.')"
        " and not m.startswith('daytwo.sdk')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
