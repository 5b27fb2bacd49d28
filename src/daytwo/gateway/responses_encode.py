"""OpenAI-shaped chat answers → OpenAI's Responses API wire format, for ``/v1/responses``.

Pure functions and one per-call stream encoder; no I/O. Shapes follow the Responses API
reference (https://platform.openai.com/docs/api-reference/responses/object and
.../responses-streaming) as the official ``openai`` SDK parses them:

* a complete answer is a ``response`` object: ``output`` items (a ``message`` with
  ``output_text`` parts, ``function_call`` items), ``status`` ``completed`` or ``incomplete``
  (with ``incomplete_details``), ``usage`` (``input_tokens`` including cached ones, like daytwo's
  :class:`~daytwo.core.types.Usage`), ``store: false``, and the request's settings echoed back.
  ``output_text`` is not on the wire: the SDK computes it;
* a stream is ``response.created`` → ``response.in_progress`` → per item
  ``response.output_item.added`` ... ``response.output_item.done`` (text through
  ``content_part.added`` / ``output_text.delta`` / ``output_text.done`` / ``content_part.done``,
  calls through ``function_call_arguments.delta`` / ``.done``) → ``response.completed`` (or
  ``response.incomplete``), each with a ``sequence_number``;
* a failure after the first byte is ``response.failed`` then an ``error`` event. The ``error``
  event carries its details both flat (the documented schema) and nested under ``error`` (what
  the API sends, and the key on which the openai SDK raises ``APIError``).
"""

from __future__ import annotations

import time
from typing import Any

from daytwo.core.errors import DaytwoError, UpstreamStatusError
from daytwo.core.ids import new_call_id
from daytwo.core.tokens import tokens_for_chars
from daytwo.core.types import LLMResponse, Usage
from daytwo.gateway.stream_encode import ChunkEncoder, first_choice, sse_event

#: Chat ``finish_reason`` → the ``incomplete_details.reason`` of an incomplete response.
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def default_echo() -> dict[str, Any]:
    """The request settings a response echoes, as OpenAI fills them when none were given."""
    return {
        "instructions": None,
        "max_output_tokens": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "reasoning": {"effort": None, "summary": None},
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "user": None,
    }


def usage_object(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_input_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def response_object(
    *,
    id: str,
    created_at: int,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    echo: dict[str, Any],
    usage: Usage | None = None,
    incomplete_reason: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        **echo,
        "model": model,
        "output": output,
        "previous_response_id": None,
        "store": False,  # stateless: nothing is kept to continue from or retrieve
        "usage": usage_object(usage) if usage is not None else None,
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, status: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": parts,
    }


def call_item(item_id: str, status: str, call_id: str, name: str, args: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": args,
    }


def _item_id(prefix: str) -> str:
    return f"{prefix}_{new_call_id()}"


def response(resp: LLMResponse, echo: dict[str, Any]) -> dict[str, Any]:
    """A complete ``chat.completion`` → a ``response`` object."""
    body = resp.body
    choice, msg = first_choice(body)
    finish = choice.get("finish_reason")
    reason = INCOMPLETE.get(finish) if isinstance(finish, str) else None
    item_status = "incomplete" if reason else "completed"
    text, refusal = msg.get("content"), msg.get("refusal")
    calls = msg.get("tool_calls") or []
    output: list[dict[str, Any]] = []
    if text or refusal or not calls:
        parts = [text_part(text if isinstance(text, str) else "")] if text or not refusal else []
        if isinstance(refusal, str) and refusal:
            parts.append({"type": "refusal", "refusal": refusal})
        output.append(message_item(_item_id("msg"), item_status, parts))
    for call in calls:
        fn = call.get("function") or {}
        output.append(
            call_item(
                _item_id("fc"),
                item_status,
                str(call.get("id", "")),
                str(fn.get("name", "")),
                str(fn.get("arguments") or ""),
            )
        )
    created = body.get("created")
    return response_object(
        id=_item_id("resp"),
        created_at=created if isinstance(created, int) else int(time.time()),
        model=str(body.get("model") or resp.served_model or ""),
        status="incomplete" if reason else "completed",
        output=output,
        echo=echo,
        usage=resp.usage,
        incomplete_reason=reason,
    )


def failure(exc: DaytwoError) -> dict[str, Any]:
    """A ``response.error`` object (its ``code`` is one of the Responses API's codes)."""
    code = "rate_limit_exceeded" if exc.status_code() == 429 else "server_error"
    return {"code": code, "message": exc.message}


def wire_type(exc: DaytwoError) -> str:
    return exc.wire_type if isinstance(exc, UpstreamStatusError) else exc.type


# ------------------------------------------------------------------------------ stream


class _Item:
    """One output item being streamed."""

    __slots__ = ("call_id", "done", "id", "kind", "name", "text")

    def __init__(self, kind: str, call_id: str = "", name: str = "") -> None:
        self.kind = kind  # "message" or "function_call"
        self.id = _item_id("msg" if kind == "message" else "fc")
        self.call_id = call_id
        self.name = name
        self.text = ""  # the message text, or the call's arguments
        self.done = False

    def wire(self, status: str) -> dict[str, Any]:
        if self.kind == "message":
            return message_item(self.id, status, [text_part(self.text)])
        return call_item(self.id, status, self.call_id, self.name, self.text)


class ResponsesStreamEncoder(ChunkEncoder):
    """``chat.completion.chunk`` dicts in, Responses API events out, for one call."""

    def __init__(self, echo: dict[str, Any], input_estimate: int) -> None:
        super().__init__()
        self._echo = echo
        self._input_estimate = input_estimate
        self._id = _item_id("resp")
        self._created = int(time.time())
        self._model = ""
        self._seq = 0
        self._items: list[_Item] = []
        self._message: int | None = None  # output index of the open message item
        self._calls: dict[int, int] = {}  # chat tool call index → output index
        self._finish: str | None = None
        self._failed = False

    # -- framing ---------------------------------------------------------------------------

    def _event(self, data: dict[str, Any]) -> bytes:
        data["sequence_number"] = self._seq
        self._seq += 1
        return sse_event(data)

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(
            id=self._id,
            created_at=self._created,
            model=self._model,
            status=status,
            output=[item.wire(self._item_status(item)) for item in self._items],
            echo=self._echo,
            **extra,
        )

    def _item_status(self, item: _Item) -> str:
        if not item.done:
            return "incomplete" if self._failed else "in_progress"
        last = item is self._items[-1]
        return "incomplete" if last and self._finish in INCOMPLETE else "completed"

    # -- items -----------------------------------------------------------------------------

    def _start(self, data: dict[str, Any]) -> bytes:
        self._started = True
        self._model = str(data.get("model") or "")
        created = data.get("created")
        if isinstance(created, int):
            self._created = created
        snapshot = self._snapshot("in_progress")
        return self._event({"type": "response.created", "response": snapshot}) + self._event(
            {"type": "response.in_progress", "response": snapshot}
        )

    def _add(self, item: _Item) -> tuple[int, bytes]:
        index = len(self._items)
        self._items.append(item)
        added = item.wire("in_progress")
        if item.kind == "message":
            added["content"] = []
        out = self._event(
            {"type": "response.output_item.added", "output_index": index, "item": added}
        )
        if item.kind == "message":
            out += self._event(
                {
                    "type": "response.content_part.added",
                    "item_id": item.id,
                    "output_index": index,
                    "content_index": 0,
                    "part": text_part(""),
                }
            )
        return index, out

    def _close(self, index: int) -> bytes:
        item = self._items[index]
        if item.done:
            return b""
        item.done = True
        out = b""
        where = {"item_id": item.id, "output_index": index}
        if item.kind == "message":
            out += self._event(
                {
                    "type": "response.output_text.done",
                    **where,
                    "content_index": 0,
                    "text": item.text,
                    "logprobs": [],
                }
            )
            out += self._event(
                {
                    "type": "response.content_part.done",
                    **where,
                    "content_index": 0,
                    "part": text_part(item.text),
                }
            )
        else:
            out += self._event(
                {"type": "response.function_call_arguments.done", **where, "arguments": item.text}
            )
        done = {"type": "response.output_item.done", "output_index": index}
        return out + self._event({**done, "item": item.wire(self._item_status(item))})

    def _close_all(self) -> bytes:
        out = b"".join(self._close(i) for i in range(len(self._items)))
        self._message = None
        return out

    def _text(self, text: str) -> bytes:
        out = b""
        if self._message is None:
            out += self._close_all()  # a message after calls is a new output item
            self._message, added = self._add(_Item("message"))
            out += added
        item = self._items[self._message]
        item.text += text
        return out + self._event(
            {
                "type": "response.output_text.delta",
                "item_id": item.id,
                "output_index": self._message,
                "content_index": 0,
                "delta": text,
                "logprobs": [],
            }
        )

    def _tool(self, call: dict[str, Any]) -> bytes:
        out = b""
        n = call.get("index", 0)
        fn = call.get("function") or {}
        index = self._calls.get(n)
        if index is None:
            if self._message is not None:
                out += self._close(self._message)
                self._message = None
            item = _Item("function_call", str(call.get("id") or ""), str(fn.get("name") or ""))
            index, added = self._add(item)
            self._calls[n] = index
            out += added
        item = self._items[index]
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            item.text += args
            self._chars += len(args)
            out += self._event(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": item.id,
                    "output_index": index,
                    "delta": args,
                }
            )
        return out

    # -- StreamEncoder ---------------------------------------------------------------------

    def _on_finish(self, choice: dict[str, Any]) -> None:
        finish = choice.get("finish_reason")
        if isinstance(finish, str):
            self._finish = finish

    def end(self) -> bytes:
        out = self._opening({})
        if not self._items:  # same shape as a complete answer: one (empty) message
            self._message, added = self._add(_Item("message"))
            out += added
        out += self._close_all()
        usage = self._usage or Usage(
            input_tokens=self._input_estimate,
            output_tokens=tokens_for_chars(self._chars),
            estimated=True,
        )
        reason = INCOMPLETE.get(self._finish) if self._finish else None
        status = "incomplete" if reason else "completed"
        snapshot = self._snapshot(status, usage=usage, incomplete_reason=reason)
        return out + self._event({"type": f"response.{status}", "response": snapshot})

    def error(self, exc: DaytwoError) -> bytes:
        out = self._opening({})
        self._failed = True
        snapshot = self._snapshot("failed", error=failure(exc))
        out += self._event({"type": "response.failed", "response": snapshot})
        details = {"code": exc.code, "message": exc.message, "param": exc.param}
        nested = {"type": wire_type(exc), **details}
        return out + self._event({"type": "error", **details, "error": nested})
