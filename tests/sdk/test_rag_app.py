"""``examples/rag_app.py`` end to end against a real gateway: the app's span tree, and the
gateway's ledger rows joined to it by trace id and attributed by the sdk."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from examples.rag_app import BM25, CORPUS, assemble, estimate_tokens, main
from tests.gateway.harness import RunningGateway, running_gateway, sim_config
from tests.sdk.otel import Spans, attrs, parent_of, span_id, trace_hex

integration = pytest.mark.integration


@integration
def test_rag_request_is_one_trace_from_app_to_ledger(
    gw: RunningGateway, spans: Spans, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--base-url", gw.base_url, "--session", "sess-42", "--user", "u-7"]
    assert main([*argv, "How do I return a parcel?"], tracer_provider=spans.provider) == 0
    out = capsys.readouterr().out
    match = re.search(r"^trace id: ([0-9a-f]{32})$", out, re.MULTILINE)
    assert match is not None, out
    trace_id = match.group(1)

    # The app's spans: one agent run holding retrieval, context assembly and the tool call.
    root = spans.named("invoke_agent help-desk")
    retrieval = spans.named("retrieval help-centre")
    assembly = spans.named("context_assembly")
    tool = spans.named("execute_tool get_shipment_status")
    assert root.parent is None and trace_hex(root) == trace_id
    for child in (retrieval, assembly, tool):
        assert parent_of(child) == span_id(root) and trace_hex(child) == trace_id
    r = attrs(retrieval)
    assert r["daytwo.retrieval.document_ids"][0] == "kb-03"  # the returns article
    assert len(r["daytwo.retrieval.scores"]) == r["daytwo.retrieval.returned"] <= 4
    c = attrs(assembly)
    assert c["daytwo.context.tokens"] <= c["daytwo.context.budget_tokens"] == 120
    assert attrs(tool)["gen_ai.tool.call.id"].startswith("call_")

    # The gateway's rows: the tool round and the answer, both in the app's trace, attributed.
    rows = gw.records()
    assert len(rows) == 2
    for row in rows:
        assert row["trace_id"] == trace_id
        assert row["status"] == "ok"
        assert (row["project"], row["environment"]) == ("helpdesk", "dev")
        assert (row["workflow"], row["feature"], row["agent"]) == (
            "rag",
            "help-answers",
            "help-desk",
        )
        assert (row["session"], row["user"]) == ("sess-42", "u-7")
    assert "sources: kb-03" in out and "tools: get_shipment_status" in out


@integration
def test_each_request_is_its_own_trace(gw: RunningGateway, spans: Spans) -> None:
    for _ in range(2):
        assert main(["--base-url", gw.base_url], tracer_provider=spans.provider) == 0
    roots = [s for s in spans.finished() if s.name == "invoke_agent help-desk"]
    traces = {trace_hex(s) for s in roots}
    assert len(traces) == 2
    assert {r["trace_id"] for r in gw.records()} == traces


@integration
def test_unreachable_gateway_is_one_line_and_exit_1(
    spans: Spans, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    assert main(["--base-url", url], tracer_provider=spans.provider) == 1
    err = capsys.readouterr().err
    assert err == f"rag_app: cannot reach the gateway at {url}\n"
    (root,) = [s for s in spans.finished() if s.name == "invoke_agent help-desk"]
    assert attrs(root)["error.type"] == "APIConnectionError"


def test_bad_attribution_is_one_line_and_exit_2(
    spans: Spans, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--base-url", "http://127.0.0.1:9/v1", "--session", "sé"], spans.provider)
    assert code == 2
    assert capsys.readouterr().err == (
        "rag_app: session must be printable ASCII (it travels in an HTTP header): 'sé'\n"
    )


def test_bm25_ranks_the_article_that_answers_first() -> None:
    index = BM25(CORPUS)
    assert index.search("return label refund", 2)[0][0].id == "kb-03"
    assert [d.id for d, _ in index.search("customs duties", 1)] == ["kb-10"]
    assert index.search("zebra quantum", 3) == []
    scores = [s for _, s in index.search("parcel claim refund", 5)]
    assert scores == sorted(scores, reverse=True) and len(scores) == 5


def test_assembly_keeps_to_the_budget_and_says_when_it_cut() -> None:
    hits = BM25(CORPUS).search("late parcel claim refund", 4)
    roomy = assemble(hits, 10_000)
    assert not roomy.truncated and len(roomy.doc_ids) == len(hits) == 4
    tight = assemble(hits, 100)
    assert tight.truncated and tight.tokens <= 100
    assert tight.doc_ids == roomy.doc_ids[: len(tight.doc_ids)]
    assert estimate_tokens(tight.text) <= 100
    assert assemble(hits, 0).doc_ids == ()


def test_every_option_the_readme_shows_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).parents[2] / "examples" / "README.md").read_text()
    shown = set(re.findall(r"rag_app\.py[^\n`]*", readme.replace("\\\n", " ")))
    options = {o for line in shown for o in re.findall(r"(--[a-z-]+)", line)}
    assert {"--base-url", "--exporter"} <= options
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    assert not [o for o in options if o not in usage]


@integration
def test_the_gateways_call_spans_nest_under_the_apps_agent(tmp_path: Path, spans: Spans) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    config = sim_config(tmp_path)
    config["telemetry"] = {"traces": {"enabled": True, "exporter": "none"}}
    gateway_spans = InMemorySpanExporter()
    with running_gateway(config) as gw:
        tracing = gw.app.telemetry.tracing
        assert tracing is not None
        tracing.use_exporter(gateway_spans)
        assert main(["--base-url", gw.base_url, "--exporter", "none"], spans.provider) == 0
        assert tracing.force_flush()
    root = spans.named("invoke_agent help-desk")
    gateway = list(gateway_spans.get_finished_spans())
    assert {trace_hex(s) for s in gateway} == {trace_hex(root)}
    # one span per call under the app's agent, each upstream attempt under its call
    calls = [s for s in gateway if parent_of(s) == span_id(root)]
    assert [s.name for s in calls] == ["chat gpt-4o-mini"] * 2
    call_ids = {span_id(s) for s in calls}
    assert all(parent_of(s) in call_ids for s in gateway if s not in calls)
