"""Targets: what produces the outputs under test, resolved once when a run starts, and the
request each one sends for a test case.

* ``prompt:NAME@label`` / ``prompt:NAME@vN`` / ``prompt:NAME`` (bare: the latest version): the
  label is resolved to its version number here, so one run never mixes versions; the request
  names ``prompt:NAME@vN`` and carries the case's ``variables``, and the gateway renders it
  (stage 3) exactly as it renders an application's call. Identity: the version's content hash.
* a model alias (``gpt-4o-mini``, or ``{id, model, params, messages}``): the suite's (or the
  target's own) message templates are rendered here in the prompts room's sandbox.

A target's cache identity also names its alias's deployments as configured (provider/model),
so editing the config invalidates what was cached for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daytwo.config.schema import Config
from daytwo.evals.model import Case, SuiteError, Target
from daytwo.prompts import PromptError, PromptLoadError, PromptSet, PromptVersion, load_prompts
from daytwo.prompts.reference import PREFIX, parse_reference
from daytwo.prompts.render import check_variables
from daytwo.prompts.sandbox import Compiled, Sandbox, TemplateRefused

#: A message template: its role and compiled content.
Template = tuple[str, Compiled]


@dataclass(frozen=True, slots=True)
class Request:
    """What one case sends under one target, and what grading needs to know of it."""

    body: Mapping[str, Any]
    #: The last user message as the target saw it (rendered).
    question: str
    tools: tuple[Mapping[str, Any], ...] = ()
    response_format: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """A resolved target and how to build its requests."""

    target: Target
    #: Model targets: the message templates (the target's own or the suite's).
    messages: tuple[Template, ...] = ()
    #: Prompt targets: the resolved version and the set it came from.
    version: PromptVersion | None = None
    prompts: PromptSet | None = None

    def check(self, case: Case, where: str) -> None:
        """The case's variables against what the target reads (``where``: the case's key
        path, e.g. ``evals/x.yaml: tests[3]``)."""
        if self.version is not None:
            try:
                check_variables(self.version, dict(case.vars))
            except PromptError as exc:
                param = exc.param or "variables"  # variables.NAME
                key = "vars" + param.removeprefix("variables")
                raise SuiteError(
                    f"{where}.{key}", f"target `{self.target.label}`: {exc.message}"
                ) from None
            return
        for role, template in self.messages:
            for name in sorted(template.names - set(case.vars)):
                raise SuiteError(
                    f"{where}.vars.{name}",
                    f"target `{self.target.label}`: its {role} message uses `{name}`, "
                    "which this test does not set",
                )

    def request(self, case: Case) -> Request:
        """The request body (OpenAI Chat shape) for ``case``; the variables were checked when
        the suite loaded."""
        t = self.target
        params = dict(t.params)
        if self.version is not None:
            assert self.prompts is not None
            rendered = self.prompts.render(self.version, dict(case.vars))
            messages: list[Mapping[str, Any]] = list(rendered.messages)
            # The gateway renders the prompt's messages (stage 3); the call adds none.
            body: dict[str, Any] = {
                **params,
                "model": t.model,
                "messages": [],
                "variables": dict(case.vars),
            }
            spec = self.version.spec
            tools = spec.tools or params.get("tools") or ()
            response_format = spec.response_format or params.get("response_format")
        else:
            messages = [{"role": role, "content": _render(c, case)} for role, c in self.messages]
            body = {**params, "model": t.model, "messages": messages}
            tools = params.get("tools") or ()
            response_format = params.get("response_format")
        question = next(
            (str(m["content"]) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        return Request(body, question, tuple(tools), response_format)


def _render(template: Compiled, case: Case) -> str:
    try:
        return template.render(case.vars)
    except TemplateRefused as exc:
        # Load-time checks cover missing variables; what is left is the data itself.
        raise SuiteError(f"case {case.id}", f"cannot render the messages: {exc}") from None


def compile_messages(
    sandbox: Sandbox, raw: list[Mapping[str, Any]], where: str
) -> tuple[Template, ...]:
    """Message templates (``{role, content}``) compiled in the prompts' sandbox; ``where``
    names the list (``evals/x.yaml: messages``)."""
    out: list[Template] = []
    for i, m in enumerate(raw):
        try:
            out.append((m["role"], sandbox.compile(m["content"])))
        except TemplateRefused as exc:
            raise SuiteError(f"{where}[{i}].content", str(exc)) from None
    return tuple(out)


class Resolver:
    """Turns target specs (a suite's ``targets`` entries, ``--target`` values) into plans.
    Prompts are loaded on first need, once."""

    def __init__(
        self,
        *,
        config: Config | None,
        prompt_dir: Path | None,
        messages: tuple[Template, ...],
        params: Mapping[str, Any],
        sandbox: Sandbox,
    ) -> None:
        self.config = config
        self.prompt_dir = prompt_dir
        self.messages = messages
        self.params = dict(params)
        self.sandbox = sandbox
        self._prompts: PromptSet | None = None

    def prompts(self, where: str) -> PromptSet:
        if self._prompts is None:
            root = self.prompt_dir
            if root is None:
                raise SuiteError(
                    where,
                    "a prompt target needs a prompt directory: set `prompts:` in the suite or "
                    "prompts.dir in daytwo.yaml",
                )
            labels = self.config.prompts.labels if self.config is not None else None
            default = self.config.prompts.default_label if self.config is not None else None
            try:
                self._prompts = load_prompts(
                    root, labels_override=labels, **({"default_label": default} if default else {})
                )
            except PromptLoadError as exc:
                raise SuiteError(str(root), "; ".join(exc.problems)) from None
        return self._prompts

    def resolve(self, spec: Any, where: str) -> Plan:
        """One target spec: a string (``prompt:...`` or a model alias) or a mapping ``{id,
        model, params, messages}`` (already shape-checked)."""
        if isinstance(spec, str):
            return self._one(spec, spec, {}, None, where)
        label = spec.get("id") or spec["model"]
        own = spec.get("messages")
        templates = None
        if own is not None:
            templates = compile_messages(self.sandbox, own, f"{where}.messages")
        return self._one(label, spec["model"], spec.get("params") or {}, templates, where)

    def _one(
        self,
        label: str,
        model: str,
        params: Mapping[str, Any],
        templates: tuple[Template, ...] | None,
        where: str,
    ) -> Plan:
        merged = {**self.params, **params}
        if model.startswith(PREFIX):
            if templates is not None:
                raise SuiteError(f"{where}.messages", "a prompt target brings its own messages")
            return self._prompt(label, model, merged, where)
        self._check_alias(model, where)
        messages = templates if templates is not None else self.messages
        if not messages:
            raise SuiteError(
                where,
                f"model target `{label}` needs messages: set `messages:` in the suite or on the "
                "target",
            )
        target = Target(
            label=label,
            kind="model",
            model=model,
            identity=self.alias_identity(model),
            params=merged,
        )
        return Plan(target, messages=messages)

    def _prompt(self, label: str, text: str, params: dict[str, Any], where: str) -> Plan:
        try:
            ref = parse_reference(text)
        except PromptError as exc:
            raise SuiteError(where, exc.message) from None
        prompts = self.prompts(where)
        versions = prompts.versions.get(ref.name)
        if not versions:
            known = ", ".join(sorted(prompts.versions)) or "none"
            raise SuiteError(
                where, f"no prompt `{ref.name}` in {self.prompt_dir} (prompts: {known})"
            )
        if ref.version is None and ref.label is None:
            number = max(versions)  # a bare name is the latest version
        elif ref.version is not None:
            number = ref.version
        else:
            try:
                number = prompts.resolve(ref).version.version
            except PromptError as exc:
                raise SuiteError(where, exc.message) from None
        version = versions.get(number)
        if version is None:
            have = ", ".join(f"v{n}" for n in sorted(versions))
            raise SuiteError(where, f"prompt `{ref.name}` has no version {number} ({have})")
        self._check_alias(version.spec.model, where)
        target = Target(
            label=label,
            kind="prompt",
            model=f"{PREFIX}{ref.name}@v{number}",
            prompt=ref.name,
            version=number,
            identity=f"{version.hash}|{self.alias_identity(version.spec.model)}",
            params=params,
        )
        return Plan(target, version=version, prompts=prompts)

    def _check_alias(self, alias: str, where: str) -> None:
        if self.config is None:
            return  # a remote gateway: it says so at the first call
        spec = self.config.models.get(alias)
        if spec is None:
            known = ", ".join(self.config.models) or "none"
            raise SuiteError(where, f"no model alias `{alias}` in the config (aliases: {known})")
        if spec.kind != "chat":
            raise SuiteError(where, f"`{alias}` is an {spec.kind} alias, not a chat one")

    def alias_identity(self, alias: str) -> str:
        """The alias and its deployments as configured (just the alias when the config is not
        known: a remote gateway)."""
        if self.config is None or alias not in self.config.models:
            return alias
        deployments = ",".join(
            f"{d.provider}/{d.model}" for d in self.config.models[alias].deployments
        )
        return f"{alias}=[{deployments}]"
