"""Gemini embeddings, translated both ways; pure functions, no I/O.

An OpenAI embeddings request becomes ``models/{model}:embedContent`` for one text, or
``:batchEmbedContents`` (``requests[]``, each naming ``models/{model}``) for several; ``dimensions``
becomes ``outputDimensionality``. The answer (``embedding.values`` or ``embeddings[].values``)
becomes an OpenAI ``list`` of float arrays, or of base64 little-endian float32 when the client asked
for ``encoding_format: base64`` -- as the OpenAI SDK does by default. The Gemini API reports no
token counts for embeddings: usage is estimated and flagged so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from daytwo.core.errors import InvalidRequest, UpstreamProtocolError
from daytwo.providers.chat_answers import embeddings_list
from daytwo.providers.chat_parts import text_inputs


@dataclass(frozen=True, slots=True)
class EmbedCall:
    """What to send: the method (``embedContent`` or ``batchEmbedContents``) and its body,
    and what the client expects back."""

    method: str
    body: dict[str, Any]
    count: int
    base64: bool


def resource_name(model: str) -> str:
    """``gemini-2.5-flash`` → ``models/gemini-2.5-flash``; names that already carry their
    collection (``models/...``, ``tunedModels/...``) stay as they are."""
    return model if "/" in model else f"models/{model}"


def to_gemini_embed(body: dict[str, Any], *, model: str) -> EmbedCall:
    """An OpenAI embeddings body → the Gemini call that answers it. Token-array inputs have no
    Gemini counterpart: a 400 naming ``input``."""
    texts = text_inputs(body, " for this deployment (Gemini embeds text, not token arrays).")
    dims = body.get("dimensions")
    if dims is not None and (type(dims) is not int or dims < 1):
        raise InvalidRequest("`dimensions` must be a positive integer.", param="dimensions")
    encoding = body.get("encoding_format")
    if encoding not in (None, "float", "base64"):
        raise InvalidRequest("expected `float` or `base64`.", param="encoding_format")
    name = resource_name(model)

    def request(text: str) -> dict[str, Any]:
        out: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
        if dims is not None:
            out["outputDimensionality"] = dims
        return out

    b64 = encoding == "base64"
    if len(texts) == 1:
        return EmbedCall("embedContent", request(texts[0]), 1, b64)
    return EmbedCall(
        "batchEmbedContents", {"requests": [request(t) for t in texts]}, len(texts), b64
    )


def to_openai_embeddings(
    data: dict[str, Any], call: EmbedCall, *, model: str, input_tokens: int
) -> dict[str, Any]:
    """A Gemini embeddings answer → an OpenAI embeddings ``list``."""
    if "embedding" in data:
        items: Any = [data["embedding"]]
    else:
        items = data.get("embeddings")
    if not isinstance(items, list) or len(items) != call.count:
        raise UpstreamProtocolError(
            f"upstream sent {len(items) if isinstance(items, list) else 'no'} embeddings for "
            f"{call.count} inputs"
        )
    vectors: list[list[float]] = []
    for item in items:
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            raise UpstreamProtocolError("upstream embedding has no numeric `values`")
        vectors.append([float(v) for v in values])
    return embeddings_list(vectors, model=model, input_tokens=input_tokens, base64_out=call.base64)
