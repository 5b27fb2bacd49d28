"""Stage 3, resolve: a call that names a prompt gets the prompt's messages and parameters.

A call names a prompt by its ``model`` (``prompt:NAME``, ``prompt:NAME@LABEL``,
``prompt:NAME@vN``) or by the ``X-Daytwo-Prompt`` header (``NAME[@LABEL|@vN]``; the body's
``model`` is then ignored). Its variables come in a top-level ``variables`` object of the body,
whatever the door (OpenAI SDKs: ``extra_body={"variables": {...}}``; Anthropic SDK: the same).

The prompt's rendered messages come first, the client's messages after them (multi-turn);
the prompt's parameters override the client's, the client's fill the rest; the model becomes
the prompt's alias, and from there the call is like any other (routing, budgets, cache,
failover). A call with no prompt pays one string-prefix test and one dict lookup.

Beside it, :class:`PromptSource`: the prompt set loaded at start and reloaded when the
directory changes; a bad edit is refused with one log line and the previous set stays.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from daytwo.config.prompts import PromptsConfig
from daytwo.core.types import LLMRequest
from daytwo.prompts import PromptError, PromptLoadError, PromptSet, load_prompts, parse_reference
from daytwo.prompts.reference import PREFIX
from daytwo.prompts.render import VARIABLES_FIELD
from daytwo.prompts.store import Resolved, directory_stamp

log = logging.getLogger("daytwo.prompts")

#: The request header that names a prompt (instead of ``model``).
PROMPT_HEADER = b"x-daytwo-prompt"
__all__ = ["PREFIX", "PROMPT_HEADER", "PromptSource", "resolve"]


def resolve(
    prompts: PromptSet | None,
    req: LLMRequest,
    header: bytes | None,
    raw: bytes,
    environment: str | None,
    found_as: Callable[[Resolved], None] = lambda _: None,
    choose: Callable[[Resolved], Resolved] | None = None,
) -> Resolved:
    """Render the prompt a call names into its request, in place (raises a 4xx naming the
    field); returns the version it resolved to. ``found_as`` hears of the version before it is
    rendered, so a call refused for its variables is still recorded with its prompt. ``choose``
    may swap the version a label resolved to (a rollout of that label)."""
    param = "X-Daytwo-Prompt" if header is not None else "model"
    text = header.decode("latin-1").strip() if header is not None else req.model
    if prompts is None:
        parse_reference(text, param=param)  # a malformed reference is named first
        raise PromptError(
            "This gateway serves no prompts (set `prompts.dir` in its config).",
            param=param,
            code="prompts_not_configured",
        )
    if req.operation != "chat":
        raise PromptError(
            "Prompts serve chat calls, not embeddings.", param=param, code="invalid_value"
        )
    native = req.native
    if native is not None and native.requires is not None:
        raise PromptError(
            f"A prompt reference cannot be combined with `{native.requires}`.",
            param=native.requires,
            code="invalid_value",
        )
    found = prompts.lookup(text, environment, param=param)
    if choose is not None and found.label is not None:
        found = choose(found)
    found_as(found)
    body = req.body
    given = prompt_variables(body, raw)
    rendered = prompts.render(found.version, given)
    out = {k: v for k, v in body.items() if k != VARIABLES_FIELD}
    params = rendered.params
    if "max_tokens" in params:
        out.pop("max_completion_tokens", None)
    out.update(params)
    alias = found.version.spec.model
    out["model"] = alias
    out["messages"] = [dict(m) for m in rendered.messages] + list(body.get("messages") or ())
    # In place (cheaper than a copy; the request is this call's own). The client's own body no
    # longer is the request: it is not relayed as-is.
    req.model = alias
    req.body = out
    req.native = None
    req.variables = given if isinstance(given, dict) else None
    return found


_REPORTED = re.compile(
    r"^\s*([a-z0-9][a-z0-9_-]{0,63})@v([1-9][0-9]{0,8})\s*;\s*hash=(sha256:[0-9a-f]{64})"
    r"(?:\s*;\s*label=([A-Za-z0-9][A-Za-z0-9_.-]{0,63}))?\s*$"
)


def reported(header: bytes) -> tuple[str, int, str | None, str]:
    """A prompt the client rendered itself (``daytwo.sdk.prompts``), named with its hash:
    ``NAME@vN; hash=sha256:<64 hex>[; label=LABEL]``. Recorded as sent, never resolved (the
    client's copy, e.g. a bundled fallback, is what made the call)."""
    m = _REPORTED.match(header.decode("latin-1"))
    if m is None:
        raise PromptError(
            "Invalid X-Daytwo-Prompt: expected NAME[@label|@vN], or NAME@vN; "
            "hash=sha256:<64 hex digits>[; label=LABEL] for a prompt rendered by the client.",
            param="X-Daytwo-Prompt",
            code="invalid_prompt_reference",
        )
    name, version, digest, label = m.groups()
    return name, int(version), label, digest


def prompt_variables(body: Mapping[str, Any], raw: bytes) -> Any:
    """A call's prompt variables: its body's, else its raw body's (a translating door)."""
    if VARIABLES_FIELD in body:
        return body[VARIABLES_FIELD]
    # Doors that translate the body (Anthropic, Responses) leave unknown fields out.
    try:
        whole = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:  # the door has already refused such a body
        return None
    return whole.get(VARIABLES_FIELD) if isinstance(whole, dict) else None


def prompt_set_summary(prompts: PromptSet) -> dict[str, object]:
    """What the audit trail keeps of a loaded prompt set: every version's content hash and
    every label's version."""
    return {
        "versions": {
            name: {str(n): v.hash for n, v in sorted(by_n.items())}
            for name, by_n in sorted(prompts.versions.items())
        },
        "labels": {name: dict(sorted(ls.items())) for name, ls in sorted(prompts.labels.items())},
    }


class PromptSource:
    """The prompt set the gateway serves, reloaded when its directory changes."""

    def __init__(self, config: PromptsConfig, base_dir: Path | None) -> None:
        self.config = config
        self._base_dir = base_dir
        self.current: PromptSet | None = None
        #: The directory's state last loaded or refused (a refused edit is not retried).
        self._seen: tuple[int, ...] = ()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        #: Told of every set loaded or reloaded (the gateway chains it into the audit trail).
        self.on_load: Callable[[str, PromptSet], Awaitable[None]] | None = None

    @property
    def root(self) -> Path | None:
        if self.config.dir is None:
            return None
        path = Path(self.config.dir)
        return path if path.is_absolute() or self._base_dir is None else self._base_dir / path

    def load(self) -> PromptSet | None:
        """Load the directory now (raises :class:`PromptLoadError`)."""
        root = self.root
        if root is None:
            return None
        return load_prompts(
            root, labels_override=self.config.labels, default_label=self.config.default_label
        )

    def open(self) -> None:
        """At start: a directory that cannot be served stops the gateway (PromptLoadError)."""
        self.current = self.load()
        if self.current is not None:
            self._seen = self.current.stamp
            log.info("prompts loaded", extra={"dir": str(self.root), "versions": len(self.current)})

    def start(self) -> None:
        if self.config.dir is not None and self.config.reload_poll_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._poll())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def reconfigure(self, config: PromptsConfig) -> None:
        """A config reload changed the ``prompts`` section."""
        if config == self.config:
            return
        self.stop()
        self.config = config
        await self.reload_now()
        self.start()

    async def _poll(self) -> None:
        pending: tuple[int, ...] | None = None
        while True:
            await asyncio.sleep(self.config.reload_poll_s)
            root = self.root
            if root is None:
                return
            stamp = await asyncio.to_thread(directory_stamp, root)
            if stamp == self._seen:
                pending = None
            elif stamp == pending:
                # Unchanged for one poll: a checkout or pull in progress is not read half-done.
                pending = None
                await self.reload_now()
            else:
                pending = stamp

    async def reload_now(self) -> bool:
        """Load and swap in the directory's prompts; False (one log line) if refused."""
        async with self._lock:
            root = self.root
            if root is not None:
                self._seen = await asyncio.to_thread(directory_stamp, root)
            try:
                new = await asyncio.to_thread(self.load)
            except PromptLoadError as exc:
                log.error(
                    "prompts reload refused; the previous prompts stay served",
                    extra={"problems": exc.problems},
                )
                return False
            self.current = new
            if new is not None:
                log.info("prompts reloaded", extra={"versions": len(new)})
                if self.on_load is not None:
                    await self.on_load("prompts.reload", new)
            return True
