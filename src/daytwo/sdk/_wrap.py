"""One decorator for the sdk's scopes: a fresh scope around each call of a sync or async
function (a scope object holds per-entry state, so one is never shared between calls)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


def decorate(fn: F, scope: Callable[[], AbstractContextManager[Any]]) -> F:
    if not callable(fn):
        raise TypeError(f"a daytwo.sdk decorator needs a function, not {type(fn).__name__}.")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        # The scope would close when the generator is created, before any of its work.
        raise TypeError(
            f"{fn.__qualname__} is a generator function: use the scope as a `with` block "
            "inside it instead of as a decorator."
        )
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with scope():
                return await fn(*args, **kwargs)

        return cast(F, run_async)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with scope():
            return fn(*args, **kwargs)

    return cast(F, run)
