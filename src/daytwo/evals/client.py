"""The run's way to the gateway: every answer, judge verdict and embedding of an eval run is an
HTTP call to a daytwo gateway's OpenAI door, so admission, budgets, kill switches and the ledger
apply to the eval itself.

Attribution (headers): ``x-daytwo-project`` (the suite's project), ``x-daytwo-workflow``
(``eval:<suite name>``), ``x-daytwo-session`` (the run id: the scope of the run's own budget)
and ``x-daytwo-tags: run=<run id>,purpose=<answer|judge|embedding>``, so every ledger row of a
run can be found by its id.

What waiting can fix is retried (connection errors, 5xx, rate limits, honouring
``retry-after`` up to :data:`MAX_RETRY_AFTER_S`); a spent budget, a kill switch or a refused
key stops the run (:class:`RunAborted`); any other refusal fails the one call
(:class:`CallFailed`, the item is an error, not a failure).

Answers are cached (:mod:`daytwo.evals.cache`) by (identity, request, repeat index).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import aiohttp
import orjson

from daytwo.evals.cache import EvalCache, cache_key
from daytwo.evals.model import CallFailed, Output, RunAborted, ToolCall

#: Tries per call (the first included) for what waiting can fix.
MAX_ATTEMPTS = 4
#: Backoff before the n-th retry: BACKOFF_S * 2**(n-1).
BACKOFF_S = 0.25
#: The longest ``retry-after`` honoured; a longer wait fails the call.
MAX_RETRY_AFTER_S = 30.0
#: One call's time limit (a long generation included).
CALL_TIMEOUT_S = 600.0

CALL_ID_HEADER = "x-daytwo-call-id"
COST_HEADER = "x-daytwo-cost-usd"


class BudgetRefused(RunAborted):
    """The gateway refused a call for a budget: ``scope`` is the budget's scope key."""

    def __init__(self, message: str, scope: str | None) -> None:
        super().__init__(message)
        self.scope = scope


@dataclass
class Meter:
    """What a run's calls did: counted as they finish (one event loop: no lock needed).
    ``calls``: every request the gateway answered (each is a ledger row), refusals and
    retried failures included; ``spent_usd``: what the answered ones cost."""

    calls: int = 0
    spent_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class Attribution:
    project: str
    workflow: str
    run_id: str


class GatewayClient:
    """:class:`~daytwo.evals.model.EvalClient` over aiohttp. One per run; :meth:`for_repeat`
    gives the view an item's repeat uses (its cache keys name the repeat)."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        attribution: Attribution,
        *,
        identity: Callable[[str], str],
        cache: EvalCache | None,
        meter: Meter,
        headers: Mapping[str, str] | None = None,
        use_cache: bool = True,
        repeat: int = 0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.attribution = attribution
        self.identity = identity
        self.cache = cache
        self.meter = meter
        self.use_cache = use_cache
        self.repeat = repeat
        a = attribution
        self._headers = {
            **(headers or {}),
            "content-type": "application/json",
            "x-daytwo-project": a.project,
            "x-daytwo-workflow": a.workflow,
            "x-daytwo-session": a.run_id,
        }

    def for_repeat(self, repeat: int) -> GatewayClient:
        view = copy.copy(self)  # the session, cache and meter stay shared
        view.repeat = repeat
        return view

    async def chat(
        self,
        body: Mapping[str, Any],
        *,
        purpose: str,
        headers: Mapping[str, str] | None = None,
    ) -> Output:
        """One non-streamed chat completion. ``headers``: extra request headers (a judge's
        ``X-Daytwo-Prompt``)."""
        key = cache_key(self.identity(str(body.get("model"))), body, self.repeat)
        hit = self._cached(key)
        if hit is not None:
            return cached_output(hit)
        answer, data, latency_ms = await self._post("/v1/chat/completions", body, purpose, headers)
        out = read_output(data, answer, latency_ms)
        self.meter.spent_usd += out.cost_usd
        if self.cache is not None:
            self.cache.put(key, {k: v for k, v in asdict(out).items() if k != "cached"})
        return out

    async def send(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        purpose: str,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any], Mapping[str, str], float]:
        """One non-streamed call to the door at ``path`` (``/v1/messages``, ...), never cached:
        its JSON answer in that door's format, the gateway's response headers and the latency
        in ms. Retried, refused and metered like :meth:`chat`."""
        answer, data, latency_ms = await self._post(path, body, purpose, headers)
        self.meter.spent_usd += _cost(answer)
        return data, answer, latency_ms

    async def embed(self, texts: list[str], model: str) -> tuple[list[list[float]], float]:
        """Embeddings of ``texts`` in order, and what they cost (from the cache: what the
        original call cost; the run's spend counts only calls made)."""
        body = {"model": model, "input": texts}
        key = cache_key(self.identity(model), body, 0)
        hit = self._cached(key)
        if hit is not None:  # the original call's cost, as for a cached answer
            return [list(v) for v in hit["vectors"]], float(hit.get("cost_usd", 0.0))
        answer, data, _ = await self._post("/v1/embeddings", body, "embedding", None)
        rows = sorted(data.get("data") or (), key=lambda r: r.get("index", 0))
        vectors = [[float(x) for x in r["embedding"]] for r in rows]
        if len(vectors) != len(texts):
            raise CallFailed(
                f"the embeddings answer has {len(vectors)} vectors for {len(texts)} texts"
            )
        cost = _cost(answer)
        self.meter.spent_usd += cost
        if self.cache is not None:
            self.cache.put(key, {"vectors": vectors, "cost_usd": cost})
        return vectors, cost

    def _cached(self, key: str) -> Any | None:
        if self.cache is None or not self.use_cache:
            return None
        return self.cache.get(key)

    async def _post(
        self,
        path: str,
        body: Mapping[str, Any],
        purpose: str,
        extra: Mapping[str, str] | None,
    ) -> tuple[Mapping[str, str], dict[str, Any], float]:
        a = self.attribution
        headers = {
            **self._headers,
            **(extra or {}),
            "x-daytwo-tags": f"run={a.run_id},purpose={purpose}",
        }
        raw = orjson.dumps(body)
        url = self.base_url + path
        last = "no attempt made"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            wait = BACKOFF_S * 2 ** (attempt - 1)
            start = time.perf_counter()
            try:
                async with self.session.post(url, data=raw, headers=headers) as resp:
                    payload = await resp.read()
                    latency_ms = (time.perf_counter() - start) * 1000
                    status = resp.status
                    answer = {k.lower(): v for k, v in resp.headers.items()}
                self.meter.calls += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = f"cannot reach the gateway at {self.base_url}: {type(exc).__name__}: {exc}"
                if attempt == MAX_ATTEMPTS:
                    raise RunAborted(last) from exc
                await asyncio.sleep(wait)
                continue
            data = _json(payload)
            if 200 <= status < 300:
                return answer, data, latency_ms
            got = data.get("error")
            err: dict[str, Any] = got if isinstance(got, dict) else {}
            # The Anthropic door's coarse types carry daytwo's own beside them.
            kind = str(err.get("daytwo_type") or err.get("type") or "")
            message = str(err.get("message") or payload[:200].decode("utf-8", "replace"))
            self._refuse(status, kind, message, err)
            last = f"HTTP {status} {kind}: {message}".replace("  ", " ")
            if status == 429 or status >= 500:
                after = _retry_after(answer)
                if after is not None:
                    if after > MAX_RETRY_AFTER_S:
                        break
                    wait = max(wait, after)
                if attempt < MAX_ATTEMPTS:
                    await asyncio.sleep(wait)
                continue
            break
        raise CallFailed(last)

    def _refuse(self, status: int, kind: str, message: str, err: Mapping[str, Any]) -> None:
        """Refusals no retry cures stop the run."""
        project = self.attribution.project
        if status == 401:
            raise RunAborted(
                f"the gateway refused the run's credentials (project {project}): {message} "
                "(set DAYTWO_API_KEY to a virtual key of the gateway)"
            )
        if kind == "budget_exceeded":
            scope = err.get("scope")
            raise BudgetRefused(
                f"a budget stopped the run (project {project}, scope {scope}): {message}",
                str(scope) if scope is not None else None,
            )
        if kind == "feature_disabled":
            raise RunAborted(
                f"a kill switch stopped the run (project {project}, scope {err.get('scope')}): "
                f"{message}"
            )


def read_output(data: Mapping[str, Any], headers: Mapping[str, str], latency_ms: float) -> Output:
    """An OpenAI chat completion (and the gateway's headers) as an :class:`Output`."""
    choices = data.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    calls = tuple(
        ToolCall(
            name=str((c.get("function") or {}).get("name") or ""),
            arguments=str((c.get("function") or {}).get("arguments") or ""),
        )
        for c in message.get("tool_calls") or ()
        if isinstance(c, dict)
    )
    usage = data.get("usage") or {}
    content = message.get("content")
    return Output(
        text=content if isinstance(content, str) else "",
        tool_calls=calls,
        finish_reason=choice.get("finish_reason"),
        refusal=message.get("refusal"),
        served_model=data.get("model"),
        fingerprint=data.get("system_fingerprint"),
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cost_usd=_cost(headers),
        latency_ms=latency_ms,
        call_id=headers.get(CALL_ID_HEADER),
    )


def _cost(headers: Mapping[str, str]) -> float:
    text = headers.get(COST_HEADER)
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0


def _json(payload: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(payload) if payload else {}
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    text = headers.get("retry-after")
    try:
        return float(text) if text else None
    except ValueError:
        return None


def cached_output(value: Mapping[str, Any]) -> Output:
    return replace(
        Output(**{**value, "tool_calls": tuple(ToolCall(**c) for c in value["tool_calls"])}),
        cached=True,
    )
