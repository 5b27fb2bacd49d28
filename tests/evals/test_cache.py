"""The eval cache: keys name identity, request and repeat; writers sharing the file (threads of
one run, or several processes) lose nothing."""

from __future__ import annotations

import threading
from pathlib import Path

from daytwo.evals.cache import EvalCache, cache_key


def test_the_key_names_identity_request_and_repeat() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    key = cache_key("m=[sim/gpt-4o-mini]", body, 0)
    assert key == cache_key("m=[sim/gpt-4o-mini]", dict(reversed(body.items())), 0)
    assert key != cache_key("m=[sim/gpt-4o]", body, 0)  # the deployments changed
    assert key != cache_key("m=[sim/gpt-4o-mini]", {**body, "max_tokens": 6}, 0)
    assert key != cache_key("m=[sim/gpt-4o-mini]", body, 1)  # each repeat is its own sample


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    def write(worker: int) -> None:
        cache = EvalCache(tmp_path)
        try:
            for i in range(200):
                cache.put(f"{worker}:{i}", {"text": f"answer {worker} {i}"})
                assert cache.get(f"{worker}:{i}") == {"text": f"answer {worker} {i}"}
        finally:
            cache.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cache = EvalCache(tmp_path)
    try:
        assert len(cache) == 800
        assert cache.get("3:199") == {"text": "answer 3 199"}
        assert cache.get("missing") is None
    finally:
        cache.close()
