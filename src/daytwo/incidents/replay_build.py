"""The request each captured call becomes under the alternative: pure functions over the
captured request (docs/incidents.md, "What is replayed").

* ``--model ALIAS``: the captured request, ``model`` replaced. Same messages, same parameters,
  same wire format: a Messages body the Anthropic door kept is sent to that door again
  (``/v1/messages``, with the client's ``anthropic-beta`` flags), anything else to the Chat
  Completions door.
* ``--config-checkpoint HASH``: the same, the alias the call asked for replaced by the alias
  as the checkpoint defined it (its deployments; see :func:`checkpoint_models`).
* ``--against prompt:NAME@vN``: the captured request holds the original version's messages
  already rendered, followed by the client's own; the ledger row names the version. The
  variables are the ones captured with the call, exactly; content captured without them
  falls back on recovering them from the rendered messages (:func:`recover_variables`: the
  original version rendered with markers gives a pattern the captured text is matched
  against; the values found must render the captured messages back exactly). The replay
  sends ``model: prompt:NAME@vN`` with those variables and the client's own messages to the
  Chat Completions door (whatever the door, stage 3 serves a prompt from the normalized
  request), so the gateway renders the other version itself and the ledger records it. The
  parameters the original version set are dropped (the other version sets its own); the
  client's remain.

A Messages body is read through the Anthropic door's own parser (its translation into the
normalized request gives the messages, the question and the ``response_format``), so a body
that door would refuse is a skip rather than a failed call. A call that cannot be rebuilt is
a :class:`Skip` with the reason, counted in the report. Replays are never streamed (the answer
is read whole).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from daytwo.core.errors import DaytwoError
from daytwo.incidents.replay import CapturedCall
from daytwo.prompts import PromptError, PromptSet, PromptVersion
from daytwo.prompts.render import VARIABLES_FIELD, check_variables, render
from daytwo.quality.checks import answer_of

Kind = Literal["prompt", "model", "checkpoint"]
#: Request fields never replayed: streaming (the replay reads whole answers).
_DROPPED = ("stream", "stream_options")
#: A variable's marker in a probe rendering: NUL, its index, NUL (NUL never occurs in a prompt
#: file's text, so a marker cannot be confused with the template's own characters).
_MARKER = re.compile("\x00([0-9]+)\x00")
#: Joins a prompt's rendered messages into one text to match (a record separator).
_JOIN = "\x1e"


@dataclass(frozen=True, slots=True)
class Against:
    """The alternative: ``value`` is ``NAME@vN`` (prompt), an alias (model) or a checkpoint
    hash; ``label`` names it in reports."""

    kind: Kind
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """One replay request: the body to send, the question a judge is shown (the original's
    last user message), and the ``response_format`` the answers are checked against."""

    body: dict[str, Any]
    question: str
    response_format: Mapping[str, Any] | None
    #: The prompt variables the request carries (prompt replays), for a saved dataset.
    variables: Mapping[str, Any] | None = None
    #: The wire format of ``body``: the door it is sent to (``openai`` or ``anthropic``).
    wire: str = "openai"
    #: Request headers the call's door reads beside the body (``anthropic-beta``).
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


def against(prompt: str | None, model: str | None, checkpoint: str | None) -> Against:
    """The one alternative given (``prompt`` as ``prompt:NAME@vN``); ValueError otherwise."""
    given = [v for v in (prompt, model, checkpoint) if v is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of --against, --model, --config-checkpoint")
    if prompt is not None:
        m = re.fullmatch(r"prompt:([a-z0-9][a-z0-9_-]{0,63})@v([1-9][0-9]{0,8})", prompt)
        if m is None:
            raise ValueError(
                f"--against: expected prompt:NAME@vN (a version number), got {prompt!r}"
            )
        return Against("prompt", f"{m[1]}@v{m[2]}", prompt)
    if model is not None:
        return Against("model", model, model)
    assert checkpoint is not None
    if not re.fullmatch(r"[0-9a-f]{6,64}", checkpoint):
        raise ValueError(f"--config-checkpoint: expected a hex hash, got {checkpoint!r}")
    return Against("checkpoint", checkpoint, f"checkpoint {checkpoint}")


def normalized(call: CapturedCall) -> Mapping[str, Any] | Skip:
    """The captured request as the normalized Chat Completions request its door made of it
    (a Messages body through :func:`~daytwo.gateway.anthropic_ingress.parse_messages`), or
    why it cannot be replayed."""
    if answer_of(call.response) is None:
        return Skip("no chat answer in the captured content")
    if call.wire == "openai":
        view: Mapping[str, Any] = call.request
    elif call.wire == "anthropic":
        from daytwo.gateway.anthropic_ingress import parse_messages

        try:
            view = parse_messages(orjson.dumps(call.request)).body
        except DaytwoError as exc:
            return Skip(f"the captured Messages request is not one the door accepts: {exc.message}")
    else:
        return Skip(f"captured in the {call.wire} wire format, which replay does not read")
    if not isinstance(view.get("messages"), list):
        return Skip("not a chat request")
    return view


def question_of(messages: Sequence[Any]) -> str:
    """The last user message's text (what a judge is shown as the question)."""
    for m in reversed(messages):
        if isinstance(m, Mapping) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    p["text"]
                    for p in content
                    if isinstance(p, Mapping) and isinstance(p.get("text"), str)
                )
    return ""


def with_model(call: CapturedCall, alias: str) -> Rebuilt | Skip:
    """The captured request sent to ``alias`` instead, in its own wire format."""
    view = normalized(call)
    if isinstance(view, Skip):
        return view
    body = {k: v for k, v in call.request.items() if k not in _DROPPED and k != VARIABLES_FIELD}
    body["model"] = alias
    fmt = view.get("response_format")
    return Rebuilt(
        body,
        question_of(view["messages"]),
        fmt if isinstance(fmt, Mapping) else None,
        wire=call.wire,
        headers={"anthropic-beta": ",".join(call.beta)} if call.beta else {},
    )


def with_prompt(call: CapturedCall, prompts: PromptSet, target: str) -> Rebuilt | Skip:
    """The call re-rendered with prompt version ``target`` (``NAME@vN``)."""
    view = normalized(call)
    if isinstance(view, Skip):
        return view
    name, _, number = target.partition("@v")
    wanted = prompts.versions.get(name, {}).get(int(number))
    if wanted is None:
        return Skip(f"prompt {target} is not in the prompt directory")
    if call.prompt is None:
        return Skip("the call named no prompt")
    old_name, old_number, old_hash = call.prompt
    if old_name != name:
        return Skip(f"the call named prompt {old_name}, not {name}")
    if old_number == wanted.version:
        return Skip(f"the call was made with {target} already")
    original = prompts.versions[name].get(old_number)
    if original is None:
        return Skip(f"{name}@v{old_number} is not in the prompt directory")
    if old_hash is not None and old_hash != original.hash:
        return Skip(f"{name}@v{old_number} changed since the call (its hash differs)")
    messages = view["messages"]
    n = _rendered_count(original)
    if len(messages) < n:
        return Skip(f"the captured request has fewer messages than {name}@v{old_number} renders")
    if call.variables is not None:
        variables: dict[str, Any] | None = dict(call.variables)
    else:
        variables = recover_variables(original, messages[:n])
    if variables is None:
        return Skip(
            f"the variables of {name}@v{old_number} were not captured with the call and cannot "
            "be recovered from its rendered messages (a template with logic beyond substitution)"
        )
    declared = wanted.spec.variables
    variables = {k: v for k, v in variables.items() if k in declared}
    try:
        check_variables(wanted, variables)
    except PromptError as exc:
        return Skip(f"{target}: {exc.message}")
    own = list(messages[n:])
    dropped = {*original.spec.params(), *_DROPPED, "model", "messages", VARIABLES_FIELD}
    body = {k: v for k, v in view.items() if k not in dropped}
    body.update(
        {"model": f"prompt:{target}", "messages": own, VARIABLES_FIELD: variables},
    )
    fmt = wanted.spec.response_format or view.get("response_format")
    return Rebuilt(
        body,
        question_of(messages),
        fmt if isinstance(fmt, Mapping) else None,
        variables,
    )


def _rendered_count(version: PromptVersion) -> int:
    return (version.system is not None) + len(version.spec.messages)


def recover_variables(version: PromptVersion, rendered: Sequence[Any]) -> dict[str, Any] | None:
    """The variables that render ``version`` into the messages ``rendered`` (its part of a
    captured request), or None when there are none to be found: the version is rendered with
    a marker for each variable, the text between the markers must match the captured text
    literally, and the values found must render the captured messages back exactly. A
    variable no template uses is left out (its default, if any, applies)."""
    if not all(isinstance(m, Mapping) and isinstance(m.get("content"), str) for m in rendered):
        return None
    names = sorted(version.spec.variables)
    probe = {name: f"\x00{i}\x00" for i, name in enumerate(names)}
    try:
        marked = render(version, probe)
    except PromptError:
        return None
    if [m["role"] for m in marked.messages] != [m["role"] for m in rendered]:
        return None
    template = _JOIN.join(m["content"] for m in marked.messages)
    captured = _JOIN.join(str(m["content"]) for m in rendered)
    pattern: list[str] = []
    seen: set[str] = set()
    for i, part in enumerate(_MARKER.split(template)):
        if i % 2 == 0:
            pattern.append(re.escape(part))
        elif part in seen:
            pattern.append(f"(?P=v{part})")
        else:
            seen.add(part)
            pattern.append(f"(?P<v{part}>.*?)")
    match = re.fullmatch("".join(pattern), captured, re.DOTALL)
    if match is None:
        return None
    out: dict[str, Any] = {}
    for group, text in match.groupdict().items():
        name = names[int(group[1:])]
        value = _typed(version.spec.variables[name].type, text)
        if value is None:
            return None
        out[name] = value
    try:
        again = render(version, check_variables(version, out))
    except PromptError:
        return None
    if [m["content"] for m in again.messages] != [m["content"] for m in rendered]:
        return None
    return out


def _typed(kind: str, text: str) -> Any:
    """A variable's value from its rendered text (None: not recoverable as that type)."""
    if kind == "string":
        return text
    if kind == "integer" and re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if kind == "number" and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", text):
        return float(text) if any(ch in text for ch in ".eE") else int(text)
    if kind == "boolean" and text in ("True", "False"):
        return text == "True"
    return None


def checkpoint_models(config: Mapping[str, Any]) -> dict[str, Any]:
    """The aliases (``models``) of a checkpoint's config text."""
    models = config.get("models")
    return dict(models) if isinstance(models, Mapping) else {}


def checkpoint_alias_name(config_hash: str, alias: str) -> str:
    """The name an alias of checkpoint ``config_hash`` is served under by the replay's
    embedded gateway (a valid alias name: at most 128 characters)."""
    return f"replay@{config_hash}:{alias}"[:128]
