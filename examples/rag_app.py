"""A small RAG request, traced end to end through the daytwo gateway.

One question about a parcel-delivery service's help centre is answered from a dozen in-memory
articles: BM25 retrieval (standard library only), context assembly within a token budget
(cutting what does not fit), then a chat call through the gateway with the official ``openai``
SDK, which may ask for one tool (a shipment's status) before it answers. Each step is a span
made with ``daytwo.sdk``::

    invoke_agent help-desk
    ├── retrieval help-centre       (document ids, BM25 scores, k)
    ├── context_assembly            (tokens, documents, truncated)
    ├── chat gpt-4o-mini            ← the gateway's span, when its tracing is on
    ├── execute_tool get_shipment_status
    └── chat gpt-4o-mini            ← the gateway again, with the tool's result

The client is instrumented, so each call carries the ``traceparent`` of the span it is made in
and the attribution of the ``sdk.attribution`` scope; the gateway's ledger row for each call
has the same trace id as the app, and the workflow, session and user. Run it::

    python examples/rag_app.py --base-url http://127.0.0.1:4000/v1 "How do I return a parcel?"

It prints the answer and the trace id. See ``examples/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import openai
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from daytwo import sdk

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

DEFAULT_BASE_URL = "http://127.0.0.1:4000/v1"
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_QUESTION = "My parcel is late and I want to return it. What can I do?"
DATA_SOURCE = "help-centre"
AGENT = "help-desk"


@dataclass(frozen=True)
class Doc:
    id: str
    title: str
    text: str


CORPUS: tuple[Doc, ...] = (
    Doc(
        "kb-01",
        "Tracking a parcel",
        "Every parcel gets a tracking number by email when it "
        "ships. Enter it on the tracking page to see where the parcel is and when it will "
        "arrive. Tracking updates every two hours.",
    ),
    Doc(
        "kb-02",
        "Late parcels",
        "A parcel is late when it has not arrived two working days "
        "after the estimated delivery date. Late parcels are investigated by the carrier; "
        "open a claim after five working days to get a refund of the shipping fee.",
    ),
    Doc(
        "kb-03",
        "Returning a parcel",
        "You can return a parcel within 30 days of delivery. "
        "Print the prepaid return label from your account, pack the items in the original "
        "box and drop it at any pickup point. Refunds arrive within 5 working days.",
    ),
    Doc(
        "kb-04",
        "Refusing a delivery",
        "You may refuse a parcel at the door. It goes back to "
        "the sender at no cost to you, and the sender is told within a day.",
    ),
    Doc(
        "kb-05",
        "Damaged parcels",
        "Photograph the box and the items before you unpack "
        "everything, then open a damage claim within 7 days of delivery. Keep the packaging "
        "until the claim is settled.",
    ),
    Doc(
        "kb-06",
        "Changing the delivery address",
        "The delivery address can be changed until "
        "the parcel leaves the depot. After that, redirect it to a pickup point instead.",
    ),
    Doc(
        "kb-07",
        "Pickup points",
        "Pickup points keep parcels for 10 days. Bring the pickup "
        "code from the notification email and a photo ID.",
    ),
    Doc(
        "kb-08",
        "Delivery times",
        "Standard delivery takes 2 to 4 working days; express takes "
        "one working day when ordered before 2 pm. Weekend delivery is available in cities.",
    ),
    Doc(
        "kb-09",
        "Shipping fees and refunds",
        "Shipping fees are refunded for late parcels "
        "(after a claim) and for returns of faulty items. Refunds go to the original payment "
        "method.",
    ),
    Doc(
        "kb-10",
        "Customs and international parcels",
        "International parcels may be held by "
        "customs. Duties are paid by the recipient unless the sender chose delivered duty "
        "paid.",
    ),
    Doc(
        "kb-11",
        "Lost parcels",
        "A parcel with no tracking update for 10 days is considered "
        "lost. Open a claim: the carrier refunds the value of the items and the shipping fee.",
    ),
    Doc(
        "kb-12",
        "Contacting support",
        "Support answers by chat from 8 am to 8 pm every day. "
        "Have your tracking number ready; an agent can open claims for you.",
    ),
)

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "for", "from", "how", "i"}
    | {"in", "is", "it", "my", "of", "on", "or", "the", "to", "what", "when", "with", "you"}
    | {"your"}
)


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def estimate_tokens(text: str) -> int:
    """About four characters per token, as for English with OpenAI's tokenizers."""
    return max(1, math.ceil(len(text) / 4))


class BM25:
    """Okapi BM25 over an in-memory corpus (k1 = 1.5, b = 0.75)."""

    def __init__(self, docs: Sequence[Doc], k1: float = 1.5, b: float = 0.75) -> None:
        self.docs = list(docs)
        self.k1, self.b = k1, b
        self.terms = [Counter(words(f"{d.title} {d.text}")) for d in self.docs]
        self.lengths = [sum(t.values()) for t in self.terms]
        self.avg_length = sum(self.lengths) / len(self.lengths)
        df = Counter(term for t in self.terms for term in t)
        n = len(self.docs)
        self.idf = {term: math.log(1 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}

    def search(self, query: str, k: int) -> list[tuple[Doc, float]]:
        """The ``k`` best documents for ``query`` with their scores, best first (documents
        sharing no term with the query are left out)."""
        q = words(query)
        scored = []
        for doc, terms, length in zip(self.docs, self.terms, self.lengths, strict=True):
            score = 0.0
            for term in q:
                f = terms.get(term, 0)
                if f:
                    norm = f + self.k1 * (1 - self.b + self.b * length / self.avg_length)
                    score += self.idf[term] * f * (self.k1 + 1) / norm
            if score > 0:
                scored.append((doc, round(score, 4)))
        scored.sort(key=lambda pair: -pair[1])
        return scored[:k]


@dataclass(frozen=True)
class Context:
    text: str
    tokens: int
    doc_ids: tuple[str, ...]
    truncated: bool


def assemble(hits: Sequence[tuple[Doc, float]], budget_tokens: int) -> Context:
    """Best documents first, each as a titled section, until the budget is spent: the document
    that does not fit is cut to what is left (if that is worth sending), the rest left out."""
    parts: list[str] = []
    ids: list[str] = []
    used = 0
    truncated = False
    for doc, _score in hits:
        section = f"[{doc.id}] {doc.title}\n{doc.text}"
        cost = estimate_tokens(section)
        if used + cost <= budget_tokens:
            parts.append(section)
        else:
            truncated = True
            room = budget_tokens - used
            if room < 16:
                break
            section = section[: room * 4].rsplit(" ", 1)[0] + " …"
            cost = estimate_tokens(section)
            parts.append(section)
        ids.append(doc.id)
        used += cost
        if truncated:
            break
    return Context("\n\n".join(parts), used, tuple(ids), truncated)


SHIPMENT_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_shipment_status",
        "description": "The current status of a shipment, by tracking number.",
        "parameters": {
            "type": "object",
            "properties": {"tracking_number": {"type": "string"}},
            "required": ["tracking_number"],
        },
    },
}
_STATUSES = ("in transit", "at the depot", "out for delivery", "held by customs")


def get_shipment_status(tracking_number: str) -> dict[str, Any]:
    """A stand-in for the carrier's API: a stable made-up status per tracking number."""
    digest = hashlib.sha256(tracking_number.encode()).digest()
    return {
        "tracking_number": tracking_number,
        "status": _STATUSES[digest[0] % len(_STATUSES)],
        "days_late": digest[1] % 4,
    }


@dataclass
class Answer:
    text: str
    trace_id: str
    doc_ids: list[str] = field(default_factory=list)
    tool_calls: list[str] = field(default_factory=list)
    context_tokens: int = 0
    truncated: bool = False


def answer(
    question: str,
    client: openai.OpenAI,
    *,
    model: str = DEFAULT_MODEL,
    session: str | None = None,
    user: str | None = None,
    k: int = 4,
    budget_tokens: int = 120,
    tracer_provider: TracerProvider | None = None,
) -> Answer:
    """Answer ``question`` from the help centre. ``client`` must be instrumented
    (``sdk.instrument``) for the gateway to see the trace and the scope's attribution."""
    tp = tracer_provider
    index = BM25(CORPUS)
    with (
        sdk.attribution(
            workflow="rag", feature="help-answers", agent=AGENT, session=session, user=user
        ),
        sdk.agent(AGENT, id="help-desk-v1", tracer_provider=tp) as run,
    ):
        with sdk.retrieval(DATA_SOURCE, k=k, collection="articles", tracer_provider=tp) as r:
            hits = index.search(question, k)
            r.record([d.id for d, _ in hits], [s for _, s in hits])
        with sdk.context_assembly(budget_tokens=budget_tokens, tracer_provider=tp) as c:
            ctx = assemble(hits, budget_tokens)
            c.record(
                tokens=ctx.tokens,
                documents=len(ctx.doc_ids),
                truncated=ctx.truncated,
                characters=len(ctx.text),
            )
        messages: list[ChatCompletionMessageParam] = [
            {
                "role": "system",
                "content": "You answer customers of a parcel-delivery service, only from the "
                "help-centre articles below; cite article ids.\n\n" + ctx.text,
            },
            {"role": "user", "content": question},
        ]
        result = Answer("", run.trace_id, list(ctx.doc_ids), [], ctx.tokens, ctx.truncated)
        for _round in range(2):
            completion = client.chat.completions.create(
                model=model,
                messages=messages,
                tools=[SHIPMENT_TOOL],
                tool_choice="auto" if _round == 0 else "none",
            )
            message = completion.choices[0].message
            if not message.tool_calls:
                result.text = message.content or ""
                break
            calls = [c for c in message.tool_calls if c.type == "function"]
            messages.append(
                {
                    "role": "assistant",
                    "content": message.content,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {
                                "name": c.function.name,
                                "arguments": c.function.arguments,
                            },
                        }
                        for c in calls
                    ],
                }
            )
            for call in calls:
                name, raw = call.function.name, call.function.arguments
                with sdk.tool_call(name, call_id=call.id, arguments=raw, tracer_provider=tp) as t:
                    output = run_tool(name, raw)
                    t.record_result(output)
                result.tool_calls.append(name)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
    return result


def run_tool(name: str, raw_arguments: str) -> str:
    """The tool's answer as JSON, or an error the model can read (never an exception: a
    model's bad call is part of the conversation)."""
    if name != "get_shipment_status":
        return json.dumps({"error": f"no tool named {name!r}"})
    try:
        args = json.loads(raw_arguments)
        number = str(args["tracking_number"])
    except (ValueError, KeyError, TypeError):
        return json.dumps({"error": 'expected {"tracking_number": string}'})
    return json.dumps(get_shipment_status(number))


def tracer_provider_for(exporter: str, endpoint: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "rag-app"}))
    chosen: SpanExporter | None = None
    if exporter == "console":
        chosen = ConsoleSpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(chosen))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        chosen = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(chosen))
    return provider


def make_client(base_url: str, api_key: str) -> openai.OpenAI:
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=1)
    return sdk.attribute(sdk.instrument(client), project="helpdesk", environment="dev")


def main(argv: Sequence[str] | None = None, tracer_provider: TracerProvider | None = None) -> int:
    """Run one question; print the answer and the trace id. ``tracer_provider`` replaces the
    one ``--exporter`` would make (tests pass one with an in-memory exporter)."""
    parser = argparse.ArgumentParser(description="A traced RAG request through daytwo.")
    parser.add_argument("question", nargs="?", default=DEFAULT_QUESTION)
    parser.add_argument(
        "--base-url",
        default=os.environ.get("DAYTWO_BASE_URL", DEFAULT_BASE_URL),
        help=f"the gateway's OpenAI base URL (default: $DAYTWO_BASE_URL or {DEFAULT_BASE_URL})",
    )
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--session", default=None)
    parser.add_argument("--user", default=None)
    parser.add_argument("--budget-tokens", type=int, default=120)
    parser.add_argument(
        "--exporter",
        choices=("console", "otlp", "none"),
        default="console",
        help="where the app's spans go (default: console)",
    )
    parser.add_argument(
        "--otlp-endpoint",
        default=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        help="OTLP/HTTP collector (default: $OTEL_EXPORTER_OTLP_ENDPOINT or :4318)",
    )
    args = parser.parse_args(argv)
    # The gateway's virtual key, if it requires one (the demo does not).
    api_key = os.environ.get("DAYTWO_API_KEY", "unused")
    provider = tracer_provider or tracer_provider_for(args.exporter, args.otlp_endpoint)
    try:
        with make_client(args.base_url, api_key) as client:
            result = answer(
                args.question,
                client,
                model=args.model,
                session=args.session,
                user=args.user,
                budget_tokens=args.budget_tokens,
                tracer_provider=provider,
            )
    except ValueError as exc:
        print(f"rag_app: {exc}", file=sys.stderr)
        return 2
    except openai.APIConnectionError:
        print(f"rag_app: cannot reach the gateway at {args.base_url}", file=sys.stderr)
        return 1
    except openai.APIStatusError as exc:
        print(f"rag_app: the gateway answered {exc.status_code}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        if tracer_provider is None:
            provider.shutdown()
    print(result.text)
    print(
        f"\nsources: {', '.join(result.doc_ids) or 'none'}"
        f"{' (context truncated)' if result.truncated else ''}"
    )
    if result.tool_calls:
        print(f"tools: {', '.join(result.tool_calls)}")
    print(f"trace id: {result.trace_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
