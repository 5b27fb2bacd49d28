"""Stage 3's own cost, in process: what ``resolve`` adds to one call that names a prompt (the
rendering cached per version + variables, as in a steady state), and what a plain call pays
(the prefix test and header lookup). Complements the end-to-end ``prompt_vs_plain`` case of
``gateway_overhead.py``, whose 0.1 ms resolution a busy machine blurs.

Usage::

    .venv/bin/python bench/prompt_resolve.py
"""

from __future__ import annotations

import sys
import tempfile
import timeit
from pathlib import Path

import orjson

from daytwo.core.types import LLMRequest
from daytwo.gateway.openai_format import parse_chat
from daytwo.gateway.prompt_stage import PREFIX, PROMPT_HEADER, resolve
from daytwo.prompts import load_prompts
from prompt_case import PROMPT_FILE, PROMPT_MODEL

N = 20_000


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "prompts"
        (root / "bench-reply").mkdir(parents=True)
        (root / "bench-reply" / "v1.yaml").write_text(PROMPT_FILE)
        (root / "labels.yaml").write_text("bench-reply: {production: 1}\n")
        prompts = load_prompts(root)
    raw = orjson.dumps(
        {
            "model": PROMPT_MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "variables": {"product": "daytwo"},
        }
    )
    headers: dict[bytes, bytes] = {}

    def prompt_call() -> LLMRequest:
        req = parse_chat(raw)
        if PROMPT_HEADER in headers or req.model.startswith(PREFIX):
            resolve(prompts, req, None, raw, None)
        return req

    plain_raw = raw.replace(PROMPT_MODEL.encode(), b"gpt-4o-mini")

    def plain_call() -> LLMRequest:
        req = parse_chat(plain_raw)
        if PROMPT_HEADER in headers or req.model.startswith(PREFIX):
            raise AssertionError("plain")
        return req

    prompt_call()  # fill the render cache
    best = {}
    for name, fn in (("plain", plain_call), ("prompt", prompt_call)):
        best[name] = min(timeit.repeat(fn, number=N, repeat=5)) / N * 1e6
    added = best["prompt"] - best["plain"]
    print(
        f"parse + stage 3, per call: plain {best['plain']:.2f} us, prompt {best['prompt']:.2f} us,"
        f" added {added:.2f} us ({added / 1000:.4f} ms)"
    )
    return 0 if added < 100 else 1


if __name__ == "__main__":
    sys.exit(main())
