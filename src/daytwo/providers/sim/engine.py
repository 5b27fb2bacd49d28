"""The simulator's engine: pure, deterministic and format-neutral.

Given :class:`SimSettings` and an OpenAI-shaped request body, the engine decides one request's
fate, a :class:`Turn`: its request id, its fault (or none) and its answer -- a :class:`SimReply`
(text or tool calls, finish reasons, token counts) or :class:`SimEmbeddings`. Encoders
(``openai_format``; later Anthropic, Gemini, Bedrock) turn a turn into wire bytes.

Determinism: the n-th request of an engine draws its fault from one generator seeded with
``seed`` (exactly one draw per request, whatever the request) and its content from a generator
seeded with ``(seed, n)``. So the same seed and the same sequence of requests give the same
replies and the same faults. Scheduled outages read the injected monotonic ``clock``; ``created``
timestamps read the injected ``wall_clock``. Nothing touches the global RNG.

Two things decide an answer before that generator: daytwo's own judge requests are answered by
:func:`~daytwo.providers.sim.judge.judge_answer`, and with ``SimSettings.quality`` the answer is
scripted by :mod:`~daytwo.providers.sim.quality`, whose draws depend on the question, not on
the request's position. Embeddings come from :mod:`~daytwo.providers.sim.vectors`.

Every generated token is one "piece" (a word with its leading space, or a run of punctuation):
the output token count is the number of pieces, so streamed chunks count exactly.
"""

from __future__ import annotations

import hashlib
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, replace
from random import Random
from typing import Any, Literal

import orjson

from daytwo.config.schema import SimSettings
from daytwo.core.tokens import estimate_input_tokens
from daytwo.core.types import Usage
from daytwo.providers.sim.billing import Served
from daytwo.providers.sim.fakedata import fake_value, prose_pieces, split_pieces
from daytwo.providers.sim.judge import judge_answer
from daytwo.providers.sim.params import ChatParams, embedding_params
from daytwo.providers.sim.quality import Script, Scripted, with_leak
from daytwo.providers.sim.vectors import text_vector

Fault = Literal["429", "500", "503", "timeout", "malformed", "reset"]
FinishReason = Literal["stop", "length", "tool_calls"]
#: Where a refusal's text goes on OpenAI's wire: ``content``, or ``message.refusal`` (with
#: ``content: null``) when the request asked for structured outputs (``json_schema``).
RefusalMode = Literal["content", "field"]

#: Faults answered with an error status instead of an answer.
STATUS_FAULTS: frozenset[Fault] = frozenset({"429", "500", "503"})

_RATES: tuple[tuple[Fault, str], ...] = (
    ("429", "rate_429"),
    ("500", "rate_500"),
    ("503", "rate_503"),
    ("timeout", "rate_timeout"),
    ("malformed", "rate_malformed"),
    ("reset", "rate_reset"),
)
_OUTAGE_FAULT: dict[str, Fault] = {
    "503": "503", "500": "500", "429": "429", "hang": "timeout", "malformed": "malformed",
    "reset": "reset",
}  # fmt: skip
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True, slots=True)
class SimToolCall:
    id: str
    name: str
    #: The JSON arguments, one piece per generated token.
    pieces: tuple[str, ...]

    @property
    def arguments(self) -> str:
        return "".join(self.pieces)


@dataclass(frozen=True, slots=True)
class SimChoice:
    index: int
    #: The text content, one piece per generated token (empty for a tool call).
    pieces: tuple[str, ...]
    tool_calls: tuple[SimToolCall, ...]
    finish_reason: FinishReason
    #: The model declined (the pieces are its refusal); None: an answer.
    refusal: RefusalMode | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def tokens(self) -> int:
        return len(self.pieces) + sum(len(call.pieces) for call in self.tool_calls)


@dataclass(frozen=True, slots=True)
class SimReply:
    id: str
    model: str
    created: int
    choices: tuple[SimChoice, ...]
    input_tokens: int
    fingerprint: str

    @property
    def output_tokens(self) -> int:
        return sum(choice.tokens for choice in self.choices)

    @property
    def steps(self) -> int:
        """Token steps of the longest choice (choices are generated side by side)."""
        return max((choice.tokens for choice in self.choices), default=0)

    def usage(self) -> Usage:
        return Usage(input_tokens=self.input_tokens, output_tokens=self.output_tokens)


@dataclass(frozen=True, slots=True)
class SimEmbeddings:
    model: str
    #: One unit vector (float32) per input, in input order.
    vectors: tuple[array[float], ...]
    input_tokens: int
    base64: bool


@dataclass(frozen=True, slots=True)
class Turn:
    """One request's fate. ``reply``/``embeddings`` is None when the fault leaves no answer."""

    request_id: str
    fault: Fault | None
    reply: SimReply | None = None
    embeddings: SimEmbeddings | None = None
    stream: bool = False
    #: The request asked for usage in the stream (``stream_options.include_usage``).
    include_usage: bool = False
    #: ... and on every chunk, counted so far (vLLM's ``continuous_usage_stats``).
    continuous_usage: bool = False


class SimEngine:
    """Decides the fate of each request; see the module docstring for the determinism contract."""

    def __init__(
        self,
        settings: SimSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._wall_clock = wall_clock
        self._start = clock()
        self._fault_rng = Random(settings.seed)
        self._billing_rng = Random(f"{settings.seed}/billing")
        #: What the last chat request would be billed for (None: nothing), read by the server.
        self.last_served: Served | None = None
        self._count = 0
        self._quota_start = self._start
        self._quota_used = 0
        bounds: list[tuple[Fault, float]] = []
        upper = 0.0
        for fault, field in _RATES:
            rate = float(getattr(settings.faults, field))
            if rate > 0:
                upper += rate
                bounds.append((fault, upper))
        self._bounds = tuple(bounds)
        digest = hashlib.sha256(f"daytwo-sim/{settings.seed}".encode()).hexdigest()
        self.fingerprint = f"fp_{digest[:10]}"
        quality = settings.quality
        self.script = (
            None
            if quality is None
            else Script(quality, seed=settings.seed, fingerprint=self.fingerprint)
        )

    def chat(self, body: dict[str, Any]) -> Turn:
        """A chat completion's turn. Raises :class:`InvalidRequest` (consuming nothing)."""
        p = ChatParams.parse(body)
        if self.settings.ignore_max_tokens:  # a misbehaving upstream, for spend-control tests
            p = replace(p, limit=None)
        rng, request_id, fault = self._begin()
        stream, usage = p.stream, p.include_usage
        self.last_served = None
        if fault == "timeout":  # a provider that let a request hang still worked on it
            tokens = estimate_input_tokens(body)
            cap = self.settings.max_output_tokens
            output = cap if p.limit is None else min(p.limit, cap)
            self.last_served = Served(p.model, tokens, output, fault)
        if fault in STATUS_FAULTS or fault == "timeout":
            return Turn(request_id, fault, stream=stream, include_usage=usage)
        model, fingerprint = p.model, self.fingerprint
        script = self.script
        scripted = None
        if script is not None:
            elapsed = self._clock() - self._start if script.timed else 0.0
            scripted = script.decide(body, p, elapsed=elapsed, served=self._count - 1)
            model, fingerprint = scripted.served_model, scripted.fingerprint
        judged = judge_answer(body)
        if judged is not None:  # daytwo's own judge requests: the verdict, knobs left out
            choices = tuple(_text_choice(i, split_pieces(judged), p) for i in range(p.n))
        elif scripted is not None:
            choices = tuple(self._scripted_choice(i, p, scripted) for i in range(p.n))
        else:
            choices = tuple(self._choice(i, p, rng) for i in range(p.n))
        reply = SimReply(
            id="chatcmpl-" + "".join(rng.choices(_ALNUM, k=29)),
            model=model,
            created=int(self._wall_clock()),
            choices=choices,
            input_tokens=estimate_input_tokens(body),
            fingerprint=fingerprint,
        )
        self.last_served = Served(model, reply.input_tokens, reply.output_tokens, fault)
        return Turn(
            request_id,
            fault,
            reply=reply,
            stream=stream,
            include_usage=usage,
            continuous_usage=p.continuous_usage,
        )

    def take_served(self) -> Served | None:
        """What the last chat request would be billed for, once (then None)."""
        served, self.last_served = self.last_served, None
        return served

    def drops_stream_usage(self) -> bool:
        """Whether this stream's final usage chunk is left out (``billing.drop_usage_for_streams``;
        one draw per asking stream, from its own generator so other draws do not shift)."""
        share = self.settings.billing.drop_usage_for_streams
        return share > 0 and self._billing_rng.random() < share

    def embeddings(self, body: dict[str, Any]) -> Turn:
        """An embeddings turn. Raises :class:`InvalidRequest` (consuming nothing)."""
        model, items, dims, b64 = embedding_params(body)
        _, request_id, fault = self._begin()
        if fault in STATUS_FAULTS or fault == "timeout":
            return Turn(request_id, fault)
        vectors = tuple(text_vector(model, item, dims) for item in items)
        tokens = estimate_input_tokens({"input": items})
        return Turn(request_id, fault, embeddings=SimEmbeddings(model, vectors, tokens, b64))

    def take_quota(self) -> tuple[int, int, float] | None:
        """Count one request against ``quota_requests``: (requests left after it, or -1 when
        it is refused; the limit; seconds until the window resets). None: no quota."""
        limit = self.settings.quota_requests
        if limit is None:
            return None
        window = self.settings.quota_window_s
        now = self._clock()
        if now - self._quota_start >= window:
            self._quota_start += window * ((now - self._quota_start) // window)
            self._quota_used = 0
        reset = self._quota_start + window - now
        if self._quota_used >= limit:
            return -1, limit, reset
        self._quota_used += 1
        return limit - self._quota_used, limit, reset

    def _begin(self) -> tuple[Random, str, Fault | None]:
        n = self._count
        self._count = n + 1
        draw = self._fault_rng.random()  # always drawn, so outages do not shift later faults
        fault = self._scheduled_fault()
        if fault is None:
            for candidate, upper in self._bounds:
                if draw < upper:
                    fault = candidate
                    break
        rng = Random(f"{self.settings.seed}/{n}")
        return rng, f"req_{rng.getrandbits(128):032x}", fault

    def _scheduled_fault(self) -> Fault | None:
        if not self.settings.outages:
            return None
        elapsed = self._clock() - self._start
        for outage in self.settings.outages:
            if outage.start_s <= elapsed < outage.start_s + outage.duration_s:
                return _OUTAGE_FAULT[outage.mode]
        return None

    def _choice(self, index: int, p: ChatParams, rng: Random) -> SimChoice:
        if p.tool is not None:
            return _tool_choice(index, p, p.tool, None, rng)
        if p.json_mode:
            pieces = _json_pieces(p, rng)
        else:
            s = self.settings
            pieces = prose_pieces(rng, rng.randint(s.min_output_tokens, s.max_output_tokens))
        return _text_choice(index, pieces, p)

    def _scripted_choice(self, index: int, p: ChatParams, fate: Scripted) -> SimChoice:
        """A choice under the quality script (see :mod:`~daytwo.providers.sim.quality`)."""
        rng = fate.rng
        if fate.refusal and fate.pieces is not None:
            mode: RefusalMode = "field" if p.schema is not None else "content"
            return _text_choice(index, list(fate.pieces), p, refusal=mode)
        if fate.call_tool and p.tool is not None:
            return _tool_choice(index, p, p.tool, fate.tool_call, rng)
        if fate.pieces is not None:
            pieces = list(fate.pieces)
        elif p.json_mode:
            pieces = _json_pieces(p, rng)
        else:
            s = self.settings
            drawn = rng.randint(s.min_output_tokens, s.max_output_tokens)
            pieces = prose_pieces(rng, max(1 if drawn else 0, round(drawn * fate.verbosity)))
        if fate.broken_json and p.json_mode:  # the JSON stops half-way
            pieces = pieces[: max(1, len(pieces) // 2)]
        if fate.leak is not None:
            pieces = with_leak(fate.leak, pieces)
        return _text_choice(index, pieces, p)


def _tool_choice(
    index: int,
    p: ChatParams,
    tool: dict[str, Any],
    scripted: tuple[str, dict[str, Any]] | None,
    rng: Random,
) -> SimChoice:
    """A call to ``tool`` with arguments fitting its schema, or the scripted (name, arguments)."""
    if scripted is not None:
        name, args = scripted
    else:
        params = tool.get("parameters")
        if not isinstance(params, dict) or not params:
            params = {"type": "object", "properties": {}}
        value = fake_value(params, rng)
        name, args = str(tool["name"]), value if isinstance(value, dict) else {}
    pieces, finish = _cap(split_pieces(orjson.dumps(args).decode()), p.limit, "tool_calls")
    call = SimToolCall(
        id="call_" + "".join(rng.choices(_ALNUM, k=24)), name=name, pieces=tuple(pieces)
    )
    return SimChoice(index, (), (call,), finish)


def _json_pieces(p: ChatParams, rng: Random) -> list[str]:
    value = fake_value(p.schema, rng) if p.schema is not None else _json_object(rng)
    return split_pieces(orjson.dumps(value).decode())


def _text_choice(
    index: int, pieces: list[str], p: ChatParams, *, refusal: RefusalMode | None = None
) -> SimChoice:
    """A text choice: cut at ``max_tokens`` (finish ``length``) or before a stop string."""
    pieces, finish = _cap(pieces, p.limit, "stop")
    if p.stop:
        pieces, stopped = _apply_stop(pieces, p.stop)
        if stopped:
            finish = "stop"
    return SimChoice(index, tuple(pieces), (), finish, refusal)


def _cap(
    pieces: list[str], limit: int | None, natural: FinishReason
) -> tuple[list[str], FinishReason]:
    if limit is not None and len(pieces) > limit:
        return pieces[:limit], "length"
    return pieces, natural


def _apply_stop(pieces: list[str], stops: tuple[str, ...]) -> tuple[list[str], bool]:
    text = "".join(pieces)
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    if not hits:
        return pieces, False
    cut = min(hits)
    out: list[str] = []
    pos = 0
    for piece in pieces:
        if pos + len(piece) > cut:
            if cut > pos:
                out.append(piece[: cut - pos])
            break
        out.append(piece)
        pos += len(piece)
    return out, True


def _json_object(rng: Random) -> dict[str, Any]:
    return {
        "answer": "".join(prose_pieces(rng, rng.randint(4, 12))),
        "confidence": round(rng.uniform(0.5, 1.0), 2),
        "tags": rng.sample(("billing", "latency", "routing", "budget", "quality"), 2),
    }
