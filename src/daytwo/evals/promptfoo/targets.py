"""promptfoo's prompts and providers as daytwo model targets: one target per (provider,
prompt), its messages compiled in the prompts' sandbox, its provider id mapped to a model
alias."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from daytwo.evals.model import SuiteError
from daytwo.evals.promptfoo.source import Import, files, parsed, read_text
from daytwo.prompts.sandbox import TemplateRefused

#: Provider prefixes of model APIs: ``PREFIX:[kind:]MODEL`` maps to the alias ``MODEL``.
MODEL_PROVIDERS = frozenset(
    {
        "openai",
        "anthropic",
        "azure",
        "azureopenai",
        "bedrock",
        "vertex",
        "google",
        "gemini",
        "mistral",
        "groq",
        "ollama",
        "openrouter",
        "deepseek",
        "xai",
        "togetherai",
        "fireworks",
        "perplexity",
        "cohere",
        "cerebras",
        "huggingface",
        "litellm",
        "vllm",
        "localai",
        "llama",
    }
)
#: The API kind some providers put between prefix and model (``openai:chat:gpt-4o``).
_KINDS = frozenset({"chat", "messages", "completion", "responses", "embedding", "embeddings"})
#: Provider ``config`` keys that are request parameters (OpenAI Chat names).
PARAMS = frozenset(
    {
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "top_p",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
    }
)
_ROLES = frozenset({"system", "developer", "user", "assistant"})
_SEPARATOR = re.compile(r"^---$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Prompt:
    label: str
    where: str
    messages: list[dict[str, str]]
    names: frozenset[str]


def read_prompts(state: Import, raw: Any) -> list[Prompt]:
    entries: list[tuple[str, Any, str | None]] = []
    if isinstance(raw, str):
        entries.append(("prompts", raw, None))
    elif isinstance(raw, list):
        entries += [(f"prompts[{i}]", p, None) for i, p in enumerate(raw)]
    elif isinstance(raw, Mapping):  # {file://a.txt: label}
        entries += [(f"prompts.{k}", k, str(v)) for k, v in raw.items()]
    else:
        raise SuiteError("prompts", "expected a prompt, a list of prompts or a mapping")
    out: list[Prompt] = []
    for where, entry, label in entries:
        if isinstance(entry, Mapping):
            label = entry.get("label") or label
            entry = entry.get("raw", entry.get("id"))
        if not isinstance(entry, str):
            state.skip(where, "expected a prompt text or a file:// reference")
            continue
        found = _prompt_messages(state, entry, where)
        for n, (own, messages) in enumerate(found):
            name = label or own or f"prompt{len(out) + 1}"
            if len(found) > 1 and (label or own):
                name = f"{name}-{n + 1}"
            compiled = _compile(state, messages, where)
            if compiled is not None:
                out.append(Prompt(unique(name, {p.label for p in out}), where, messages, compiled))
    return out


def _prompt_messages(
    state: Import, entry: str, where: str
) -> list[tuple[str | None, list[dict[str, str]]]]:
    """The prompts one entry stands for, each with a label of its own (a file's stem) and its
    messages; what cannot be carried is reported and left out."""
    if not entry.startswith("file://"):
        chat = _chat(_json_or_none(entry))
        return [(None, chat if chat is not None else [{"role": "user", "content": entry}])]
    out: list[tuple[str | None, list[dict[str, str]]]] = []
    paths = files(state, entry)
    if not paths:
        state.skip(where, f"{entry}: no file matches")
    for path in paths:
        suffix = path.suffix.lower()
        if ":" in path.name or suffix in (".py", ".js", ".ts", ".mjs", ".cjs"):
            state.skip(where, f"{entry}: a prompt function is code, which daytwo does not run")
            continue
        if not path.is_file():
            state.skip(where, f"{entry}: file not found")
            continue
        if suffix in (".json", ".jsonl", ".yaml", ".yml"):
            data = parsed(path, where)
            rows = data if suffix == ".jsonl" else [data]
            for row in rows:
                chat = _chat(row)
                if chat is None:
                    state.skip(where, f"{path.name}: not a list of chat messages (role, content)")
                else:
                    out.append((path.stem, chat))
            continue
        parts = [p.strip() for p in _SEPARATOR.split(read_text(path, where)) if p.strip()]
        out += [(path.stem, [{"role": "user", "content": p}]) for p in parts]
    return out


def _json_or_none(text: str) -> Any:
    if not text.lstrip().startswith("["):
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _chat(data: Any) -> list[dict[str, str]] | None:
    if not isinstance(data, list) or not data:
        return None
    if not all(isinstance(m, Mapping) and isinstance(m.get("content"), str) for m in data):
        return None
    return [{"role": str(m.get("role", "user")), "content": m["content"]} for m in data]


def _compile(state: Import, messages: list[dict[str, str]], where: str) -> frozenset[str] | None:
    """The variables the messages read, or None (reported) when one cannot be carried."""
    names: set[str] = set()
    for i, m in enumerate(messages):
        if m["role"] not in _ROLES:
            state.skip(where, f"message {i}: role `{m['role']}` is not a chat role daytwo sends")
            return None
        try:
            names |= state.sandbox.compile(m["content"]).names
        except TemplateRefused as exc:
            state.skip(where, f"the template is refused by daytwo's sandbox: {exc}")
            return None
    return frozenset(names)


def unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


# -- providers → targets ----------------------------------------------------------------------


def alias_for(provider_id: str, aliases: Mapping[str, str] | None = None) -> str | None:
    """The model alias a provider id maps to: the caller's mapping, else the model part of a
    model API's id (``openai:chat:gpt-4o-mini`` → ``gpt-4o-mini``), else None."""
    if aliases and provider_id in aliases:
        return aliases[provider_id]
    prefix, _, rest = provider_id.partition(":")
    if prefix not in MODEL_PROVIDERS or not rest:
        return None
    kind, _, model = rest.partition(":")
    if kind in _KINDS and model:
        rest = model
    return rest


def make_targets(
    state: Import, raw: Any, key: str, prompts: list[Prompt]
) -> list[tuple[dict[str, Any], Prompt]]:
    entries: list[tuple[str, Any]]
    if raw is None:
        raise SuiteError(key, "required key is missing")
    if isinstance(raw, str):
        entries = [(key, raw)]
    elif isinstance(raw, list):
        entries = [(f"{key}[{i}]", p) for i, p in enumerate(raw)]
    else:
        raise SuiteError(key, "expected a provider id or a list of providers")
    providers = [p for where, e in entries if (p := _provider(state, e, where)) is not None]
    out: list[tuple[dict[str, Any], Prompt]] = []
    taken: set[str] = set()
    for label, alias, params, only in providers:
        for prompt in prompts:
            if only is not None and prompt.label not in only:
                continue
            if len(prompts) == 1:
                name = label
            elif len(providers) == 1:
                name = prompt.label
            else:
                name = f"{label} / {prompt.label}"
            name = unique(name, taken)
            taken.add(name)
            target: dict[str, Any] = {"id": name, "model": alias}
            if params:
                target["params"] = params
            target["messages"] = prompt.messages
            out.append((target, prompt))
    return out


def _provider(
    state: Import, entry: Any, where: str
) -> tuple[str, str, dict[str, Any], set[str] | None] | None:
    """(label, alias, params, the prompt labels it is limited to) of one provider entry."""
    config: Mapping[str, Any] = {}
    only: set[str] | None = None
    label: str | None = None
    if isinstance(entry, Mapping) and "id" not in entry and len(entry) == 1:
        ((pid, body),) = entry.items()  # the older {provider_id: {config: ...}} form
        entry = {"id": pid, **(body if isinstance(body, Mapping) else {})}
    if isinstance(entry, Mapping):
        pid = entry.get("id")
        label = entry.get("label")
        config = entry.get("config") or {}
        if isinstance(entry.get("prompts"), list):
            only = {str(p) for p in entry["prompts"]}
        for k in entry:
            if k not in ("id", "label", "config", "prompts"):
                state.skip(f"{where}.{k}", "not carried")
    else:
        pid = entry
    if not isinstance(pid, str) or not pid:
        state.skip(where, "expected a provider id")
        return None
    alias = alias_for(pid, state.aliases)
    if alias is None:
        if state.fallback_model is None:
            state.unmapped.append(pid)
            state.skip(where, f"`{pid}` is not a model API: no daytwo alias (pass --model)")
            return None
        alias = state.fallback_model
        state.skip(where, f"`{pid}` is not a model API: run as alias `{alias}` (--model)")
    params: dict[str, Any] = {}
    for k, v in config.items():
        if k in PARAMS:
            params[k] = v
        else:
            state.skip(f"{where}.config.{k}", "not a request parameter: set it in daytwo.yaml")
    return str(label or pid), alias, params, only
