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


def writers(folder: Path, n: int = 8, each: int = 50) -> list[BaseException]:
    """``n`` connections open ``folder``'s cache at once, each writes and reads back ``each``
    entries; what any of them raised."""
    failures: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            cache = EvalCache(folder)
            try:
                for i in range(each):
                    cache.put(f"{worker}:{i}", {"text": f"answer {worker} {i}"})
                    assert cache.get(f"{worker}:{i}") == {"text": f"answer {worker} {i}"}
            finally:
                cache.close()
        except BaseException as exc:  # reported in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """A new file opened by eight connections at once (the first switch it to WAL while the
    others open it): none fails, no entry is lost. (Before the set-up was retried, about one
    trial in ten had a connection refused as locked.)"""
    for trial in range(40):
        folder = tmp_path / str(trial)
        assert writers(folder) == []
        cache = EvalCache(folder)
        try:
            assert len(cache) == 400
            assert cache.get("7:49") == {"text": "answer 7 49"}
            assert cache.get("missing") is None
        finally:
            cache.close()
