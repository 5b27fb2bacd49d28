"""Config hot reload: on SIGHUP and when the file changes (polled). An invalid new config is
refused with a log line naming every problem; the running config stays in force."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from daytwo.config.load import load_config
from daytwo.config.schema import Config
from daytwo.core.errors import ConfigError
from daytwo.core.secrets import SecretError

log = logging.getLogger("daytwo.config")


class ConfigWatcher:
    def __init__(
        self,
        path: Path,
        apply: Callable[[Config], Awaitable[None]],
        poll_s: float,
    ) -> None:
        self._path = path
        self._apply = apply
        self._poll_s = poll_s
        self._stamp = self._read_stamp()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._sighup = False

    def _read_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            # Only possible in the main thread; tests running the app in a thread use polling.
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
            self._sighup = True
        if self._poll_s > 0:
            self._task = loop.create_task(self._poll())

    def stop(self) -> None:
        if self._sighup:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._task is not None:
            self._task.cancel()

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading config", extra={"path": str(self._path)})
        asyncio.get_running_loop().create_task(self.reload_now())

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            stamp = self._read_stamp()
            if stamp is not None and stamp != self._stamp:
                log.info("config file changed: reloading", extra={"path": str(self._path)})
                await self.reload_now()

    async def reload_now(self) -> bool:
        """Load, validate and apply the file. Returns False (and logs why) if refused."""
        async with self._lock:
            self._stamp = self._read_stamp()
            try:
                config = await asyncio.to_thread(load_config, self._path)
                await self._apply(config)
            except ConfigError as exc:
                log.error(
                    "config reload refused; the running config stays in force",
                    extra={"problems": exc.problems},
                )
                return False
            except SecretError as exc:
                log.error(
                    "config reload refused; the running config stays in force",
                    extra={"problems": [str(exc)]},
                )
                return False
            return True
