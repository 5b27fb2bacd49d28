"""``GET /v1/prompts/{name}``: a prompt version for applications that render client-side
(``daytwo.sdk.prompts``). Query: ``label=`` or ``version=`` (default: as a call naming the
prompt would get it). Authenticated like a model call; a key limited to some models may read
only prompts of those models.

The body carries the version's content hash: the SDK reports it with the calls it makes
(``X-Daytwo-Prompt: NAME@vN; hash=sha256:...``), so the ledger records the prompt either way.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote

from daytwo.core.errors import DaytwoError, InvalidRequest, PermissionDenied
from daytwo.gateway import openai_format as oai
from daytwo.gateway.http import Scope, Send, send_bytes, send_json
from daytwo.gateway.pipeline import Pipeline
from daytwo.prompts import PromptSet
from daytwo.prompts.errors import PromptError

PATH = "/v1/prompts/"


def prompt_body(prompts: PromptSet, name: str, label: str | None, version: str | None) -> Any:
    text = name
    if version is not None:
        if not version.isdigit():
            raise InvalidRequest("version: expected an integer", param="version")
        text = f"{name}@v{version}"
    elif label is not None:
        text = f"{name}@{label}"
    found = prompts.lookup(text, None, param="name")
    v = found.version
    spec = v.spec
    return {
        "object": "prompt",
        "name": v.name,
        "version": v.version,
        "label": found.label,
        "hash": v.hash,
        "model": spec.model,
        "system": spec.system,
        "messages": [m.model_dump() for m in spec.messages],
        "variables": {k: var.model_dump(mode="json") for k, var in spec.variables.items()},
        "params": spec.params(),
    }


async def get_prompt(
    pipeline: Pipeline, prompts: PromptSet | None, scope: Scope, send: Send
) -> None:
    headers = dict(scope["headers"])
    call = pipeline.open("prompts")
    try:
        await pipeline.identify(call, headers)  # as a model call: a new key works at once
        if prompts is None:
            raise PromptError(
                "This gateway serves no prompts (set `prompts.dir` in its config).",
                param="name",
                code="prompts_not_configured",
            )
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        label = query.get("label", [None])[-1]
        version = query.get("version", [None])[-1]
        body = prompt_body(prompts, unquote(scope["path"][len(PATH) :]), label, version)
        principal = call.principal
        if principal is not None and not principal.allows_model(body["model"]):
            raise PermissionDenied(
                f"This key may not use the model `{body['model']}` of this prompt.",
                param="name",
                code="model_not_allowed",
            )
    except DaytwoError as exc:
        await send_bytes(send, exc.status_code(), oai.error_body(exc))
        return
    finally:
        call.runtime.release()
    await send_json(send, 200, body)
