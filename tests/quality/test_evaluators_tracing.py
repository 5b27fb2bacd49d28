"""The online evaluators' verdicts on the trace: a zero-length ``evaluate`` span, child of the
call's span, with one ``gen_ai.evaluation.result`` event per score (a real gateway over
loopback HTTP, spans to an in-memory exporter)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from tests.gateway.harness import http, wait_for
from tests.quality.harness import ALL_CHECKS_EVALUATOR, quality_config
from tests.telemetry.otlp_sink import traced

pytestmark = pytest.mark.integration


def test_verdicts_are_events_on_a_child_of_the_call_span(tmp_path: Path) -> None:
    cfg = quality_config(tmp_path, {"evaluators": [ALL_CHECKS_EVALUATOR]}, sim={"refusal_rate": 1})
    with traced(cfg) as t:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "A secret?"}]}
        status, headers, _ = http("POST", f"{t.gw.base_url}/chat/completions", orjson.dumps(body))
        assert status == 200
        call_id = headers["x-daytwo-call-id"]

        def spans() -> list[ReadableSpan]:
            t.tracing.force_flush()
            return list(t.exporter.get_finished_spans())

        found = wait_for(
            lambda: [s for s in spans() if s.name == "evaluate"] and spans(),
            what="the evaluate span",
        )
    (call,) = [s for s in found if (s.attributes or {}).get("daytwo.call_id") == call_id
               and s.name != "evaluate" and s.parent is None]  # fmt: skip
    (evaluate,) = [s for s in found if s.name == "evaluate"]
    assert evaluate.parent is not None and call.context is not None
    assert evaluate.parent.span_id == call.context.span_id
    assert evaluate.context is not None and evaluate.context.trace_id == call.context.trace_id
    events = {e.attributes["gen_ai.evaluation.name"]: dict(e.attributes) for e in evaluate.events}
    assert events["refusal"] == {
        "gen_ai.evaluation.name": "refusal",
        "gen_ai.evaluation.score.value": 0.0,
        "gen_ai.evaluation.score.label": "refusal",
        "gen_ai.evaluation.explanation": "refusal (phrase)",
    }
    assert {e.name for e in evaluate.events} == {"gen_ai.evaluation.result"}
    assert "length" in events and "gen_ai.evaluation.score.label" not in events["length"]
