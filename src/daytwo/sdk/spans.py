"""Spans for the steps of a RAG or agent request, per the OpenTelemetry GenAI conventions.

=====================  ==============================  =========  ==============================
helper                 span name                       kind       attributes
=====================  ==============================  =========  ==============================
``agent``              ``invoke_agent {name}``         INTERNAL   ``gen_ai.operation.name``,
                                                                  ``gen_ai.agent.name``/``.id``
``retrieval``          ``retrieval {data_source}``     CLIENT     ``gen_ai.data_source.id``,
                                                                  ``daytwo.retrieval.*``
``context_assembly``   ``context_assembly``            INTERNAL   ``daytwo.context.*``
``tool_call``          ``execute_tool {name}``         INTERNAL   ``gen_ai.tool.*``
=====================  ==============================  =========  ==============================

Each helper returns a :class:`Step`: a context manager (``with`` / ``async with``) whose value
is a handle to record what the step found, and a decorator for sync and async functions (a new
span per call; inside, ``Retrieval.current()`` and friends give the handle). A step that ends by
an exception gets ``error.type`` (the exception's class name), the exception as an event, and
status ERROR; the exception propagates.

Spans come from the global tracer provider unless ``tracer_provider=`` is given. The step's span
is current inside it, so LLM calls made there through an instrumented client (see
:func:`daytwo.sdk.instrument`) carry its ``traceparent`` and the gateway's span nests under it.

Content is recorded only when the application passes it: a retrieval's ``query`` (as
``gen_ai.retrieval.query.text``), a tool call's ``arguments`` and result. Leave them out to keep
user text out of traces.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from daytwo import __version__
from daytwo.sdk._wrap import decorate

INSTRUMENTATION_SCOPE = "daytwo.sdk"

S = TypeVar("S", bound="Step")
F = TypeVar("F", bound=Callable[..., Any])

_innermost: ContextVar[Step | None] = ContextVar("daytwo_sdk_step", default=None)


class Step:
    """One span around one step. Use each object once as a ``with`` block, or any number of
    times as a decorator."""

    operation: ClassVar[str] = "step"

    def __init__(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue],
        tracer_provider: TracerProvider | None,
    ) -> None:
        self._name = name
        self._kind = kind
        self._attributes = dict(attributes)
        self._provider = tracer_provider
        self._span: Span | None = None
        self._open = False
        self._outer: Step | None = None
        self._tokens: tuple[Token[Context], Token[Step | None]] | None = None

    @property
    def name(self) -> str:
        """The span's name."""
        return self._name

    @property
    def span(self) -> Span:
        """The OpenTelemetry span (for attributes of your own)."""
        if self._span is None:
            raise RuntimeError(f"the {self._name!r} span has not started: enter the step first.")
        return self._span

    @property
    def trace_id(self) -> str:
        """The trace id as 32 hex digits (what the gateway's ledger records)."""
        return format(self.span.get_span_context().trace_id, "032x")

    @classmethod
    def current(cls: type[S]) -> S:
        """The innermost open step of this class here (inside a decorated function, the one
        wrapping this call). Raises RuntimeError when there is none."""
        step = _innermost.get()
        while step is not None:
            if isinstance(step, cls):
                return step
            step = step._outer
        raise RuntimeError(
            f"no {cls.operation} step is open here: call {cls.__name__}.current() inside its "
            "`with` block or a function decorated with it."
        )

    def __enter__(self: S) -> S:
        if self._span is not None:
            raise RuntimeError(
                f"the {self._name!r} step was already entered: make a new one per `with` block."
            )
        tracer = trace.get_tracer(
            INSTRUMENTATION_SCOPE, __version__, tracer_provider=self._provider
        )
        span = tracer.start_span(self._name, kind=self._kind, attributes=self._attributes)
        self._span, self._open = span, True
        self._outer = _innermost.get()
        self._tokens = (context.attach(trace.set_span_in_context(span)), _innermost.set(self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, tokens = self.span, self._tokens
        assert tokens is not None
        try:
            if exc is not None:
                _fail(span, exc)
        finally:
            self._open = False
            span.end()
            _innermost.reset(tokens[1])
            context.detach(tokens[0])

    async def __aenter__(self: S) -> S:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        return decorate(fn, self._fresh)

    def _fresh(self: S) -> S:
        if self._span is not None:
            raise RuntimeError(f"the {self._name!r} step is in use as a `with` block.")
        return copy.copy(self)

    def _set(self, attributes: Mapping[str, AttributeValue | None]) -> None:
        if not self._open:
            raise RuntimeError(f"the {self._name!r} step is not open: record inside it.")
        self.span.set_attributes({k: v for k, v in attributes.items() if v is not None})


def _fail(span: Span, exc: BaseException) -> None:
    kind = type(exc).__qualname__
    span.set_attribute("error.type", kind)
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{kind}: {exc}" if str(exc) else kind))


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, not {value!r}.")
    return value.strip()


def _count(value: object, what: str, *, positive: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
        least = "a positive" if positive else "a non-negative"
        raise ValueError(f"{what} must be {least} integer, not {value!r}.")
    return value


def _text(value: object, what: str) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a string or JSON-serialisable: {exc}") from None


class Retrieval(Step):
    """The handle of a ``retrieval`` step."""

    operation = "retrieval"

    def record(
        self,
        document_ids: Sequence[str],
        scores: Sequence[float] | None = None,
        *,
        collection: str | None = None,
        query: str | None = None,
    ) -> None:
        """What the retrieval returned, best first: document ids and, if known, their relevance
        scores (one per id). ``query`` (content: see above) is for the decorator form, where
        the query is known only inside the call."""
        if isinstance(document_ids, str) or not all(isinstance(d, str) for d in document_ids):
            raise ValueError("document_ids must be a sequence of strings.")
        ids = list(document_ids)
        values: list[float] | None = None
        if scores is not None:
            if not all(isinstance(s, int | float) and not isinstance(s, bool) for s in scores):
                raise ValueError("scores must be a sequence of numbers.")
            values = [float(s) for s in scores]
            if len(values) != len(ids):
                raise ValueError(f"{len(values)} scores for {len(ids)} document ids.")
        self._set(
            {
                "daytwo.retrieval.document_ids": ids,
                "daytwo.retrieval.scores": values,
                "daytwo.retrieval.returned": len(ids),
                "daytwo.retrieval.collection": (
                    None if collection is None else _name(collection, "collection")
                ),
                "gen_ai.retrieval.query.text": None if query is None else _text(query, "query"),
            }
        )


class ContextAssembly(Step):
    """The handle of a ``context_assembly`` step."""

    operation = "context_assembly"

    def record(
        self,
        *,
        tokens: int,
        documents: int,
        truncated: bool = False,
        characters: int | None = None,
    ) -> None:
        """The assembled context: its size in tokens (and characters), how many documents it
        holds, and whether anything was cut or left out to fit the budget."""
        if not isinstance(truncated, bool):
            raise ValueError(f"truncated must be True or False, not {truncated!r}.")
        self._set(
            {
                "daytwo.context.tokens": _count(tokens, "tokens"),
                "daytwo.context.documents": _count(documents, "documents"),
                "daytwo.context.truncated": truncated,
                "daytwo.context.characters": (
                    None if characters is None else _count(characters, "characters")
                ),
            }
        )


class ToolCall(Step):
    """The handle of a ``tool_call`` step."""

    operation = "execute_tool"

    def record_result(self, result: object) -> None:
        """The tool's result (a string, or JSON-serialisable), as ``gen_ai.tool.call.result``."""
        self._set({"gen_ai.tool.call.result": _text(result, "result")})


class Agent(Step):
    """The handle of an ``agent`` step."""

    operation = "invoke_agent"


def retrieval(
    data_source: str,
    *,
    query: str | None = None,
    k: int | None = None,
    collection: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Retrieval:
    """A ``retrieval {data_source}`` span: a search of ``data_source`` (the id the application
    knows it by) for ``k`` documents. ``query`` is recorded as content: pass it only if the
    query text may be in traces."""
    source = _name(data_source, "data_source")
    return Retrieval(
        f"retrieval {source}",
        SpanKind.CLIENT,
        _present(
            {
                "gen_ai.operation.name": "retrieval",
                "gen_ai.data_source.id": source,
                "gen_ai.retrieval.query.text": None if query is None else _text(query, "query"),
                "daytwo.retrieval.k": None if k is None else _count(k, "k", positive=True),
                "daytwo.retrieval.collection": (
                    None if collection is None else _name(collection, "collection")
                ),
            }
        ),
        tracer_provider,
    )


def context_assembly(
    *, budget_tokens: int | None = None, tracer_provider: TracerProvider | None = None
) -> ContextAssembly:
    """A ``context_assembly`` span: fitting retrieved documents into the prompt, within
    ``budget_tokens`` if given."""
    budget = None if budget_tokens is None else _count(budget_tokens, "budget_tokens")
    return ContextAssembly(
        "context_assembly",
        SpanKind.INTERNAL,
        _present({"daytwo.context.budget_tokens": budget}),
        tracer_provider,
    )


def tool_call(
    name: str,
    *,
    call_id: str | None = None,
    arguments: str | Mapping[str, Any] | None = None,
    tool_type: str = "function",
    description: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ToolCall:
    """An ``execute_tool {name}`` span: running a tool, usually one the model asked for
    (``call_id`` is the model's id for the call). ``arguments`` are recorded as content."""
    tool = _name(name, "name")
    return ToolCall(
        f"execute_tool {tool}",
        SpanKind.INTERNAL,
        _present(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool,
                "gen_ai.tool.type": _name(tool_type, "tool_type"),
                "gen_ai.tool.call.id": None if call_id is None else _name(call_id, "call_id"),
                "gen_ai.tool.description": description,
                "gen_ai.tool.call.arguments": (
                    None if arguments is None else _text(arguments, "arguments")
                ),
            }
        ),
        tracer_provider,
    )


def agent(
    name: str,
    *,
    id: str | None = None,
    description: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Agent:
    """An ``invoke_agent {name}`` span: one run of an agent in this process; the steps and
    LLM calls inside it are its children."""
    agent_name = _name(name, "name")
    return Agent(
        f"invoke_agent {agent_name}",
        SpanKind.INTERNAL,
        _present(
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": agent_name,
                "gen_ai.agent.id": None if id is None else _name(id, "id"),
                "gen_ai.agent.description": description,
            }
        ),
        tracer_provider,
    )


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits, or None outside any span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def _present(attributes: Mapping[str, AttributeValue | None]) -> dict[str, AttributeValue]:
    return {k: v for k, v in attributes.items() if v is not None}
