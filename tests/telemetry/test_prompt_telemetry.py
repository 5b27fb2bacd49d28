"""Spans and metrics carry the prompt that made a call, and prompt labels cannot explode a
scrape (one guard over name@version pairs)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from tests.gateway.harness import sim_config
from tests.prompts.files import SUPPORT_V1, prompt_dir
from tests.telemetry.otlp_sink import traced
from tests.telemetry.records import call_record

from daytwo.config.telemetry import MetricsConfig
from daytwo.core.observe import CallView
from daytwo.core.record import CallRecord
from daytwo.telemetry.labels import OVERFLOW
from daytwo.telemetry.metrics import Metrics
from daytwo.telemetry.state import ScrapeState

VIEW = CallView(None, None, None, (), None)


def test_a_prompt_call_span_names_the_prompt(tmp_path: Path) -> None:
    root = prompt_dir(tmp_path / "prompts", SUPPORT_V1, labels={"support-reply": {"production": 1}})
    cfg = sim_config(tmp_path)
    cfg["prompts"] = {"dir": str(root)}
    with traced(cfg) as t:
        status, _, body = t.chat(
            model="prompt:support-reply", variables={"customer": "Ann", "topic": "x"}
        )
        assert status == 200, body
        plain, _, _ = t.chat()
        assert plain == 200
        prompt_span, plain_span = t.calls(2)
        attrs = dict(prompt_span.attributes or {})
        v1 = t.gw.app.prompts.current.versions["support-reply"][1]  # type: ignore[union-attr]
        assert attrs["gen_ai.prompt.name"] == "support-reply"
        assert attrs["gen_ai.prompt.version"] == 1
        assert attrs["daytwo.prompt.label"] == "production"
        assert attrs["daytwo.prompt.hash"] == v1.hash
        assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
        assert "gen_ai.prompt.name" not in dict(plain_span.attributes or {})


def _record(n: int, version: int) -> CallRecord:
    return call_record(
        n,
        provider="sim",
        cost_nanousd=1_000_000_000,
        prompt_name="support-reply",
        prompt_version=version,
        prompt_label="production",
        prompt_hash="sha256:x",
    )


def test_prompt_metrics_count_per_version_and_are_guarded() -> None:
    metrics = Metrics(MetricsConfig(max_label_values=2))
    for n, version in enumerate((1, 1, 2, 3, 4)):
        metrics.observe(_record(n, version), VIEW)
    text = metrics.render(ScrapeState()).decode()
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    requests = {
        (s.labels["gen_ai_prompt_name"], s.labels["gen_ai_prompt_version"]): s.value
        for s in samples
        if s.name == "daytwo_prompt_requests_total"
    }
    assert requests == {
        ("support-reply", "1"): 2,
        ("support-reply", "2"): 1,
        (OVERFLOW, OVERFLOW): 2,  # v3 and v4: past the guard's two pairs
    }
    cost = {
        s.labels["gen_ai_prompt_version"]: s.value
        for s in samples
        if s.name == "daytwo_prompt_cost_usd_total"
    }
    assert cost == {"1": 2.0, "2": 1.0, OVERFLOW: 2.0}
