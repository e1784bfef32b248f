"""A per-process read cache of shared data (PostgreSQL rows), re-read at most every few seconds.

Per process by nature: it only copies rows every worker can read. A stale copy is served while
one refresh runs in the background, so only the very first read of a process waits for the query.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Snapshot(Generic[T]):
    def __init__(self, *, load: Callable[[], Awaitable[T]], refresh_s: float) -> None:
        self._load = load
        self._refresh_s = refresh_s
        self._value: T | None = None
        self._loaded_at = 0.0
        self._task: asyncio.Task[None] | None = None

    async def get(self) -> T:
        if self._value is None:
            await self._refresh()
            assert self._value is not None
            return self._value
        if time.monotonic() - self._loaded_at >= self._refresh_s and not self._refreshing():
            # A fresh context: the refresh is nobody's request (see core/background.py).
            self._task = asyncio.create_task(self._refresh_quietly(), context=contextvars.Context())
        return self._value

    def forget(self) -> None:
        """Drop the copy (tests, or after a change made by this process) and any refresh."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None
        self._value = None

    def _refreshing(self) -> bool:
        task = self._task
        if task is None or task.done():
            return False
        # A refresh begun on another event loop (a previous test's) will never finish here.
        return task.get_loop() is asyncio.get_running_loop()

    async def _refresh(self) -> None:
        self._value = await self._load()
        self._loaded_at = time.monotonic()

    async def _refresh_quietly(self) -> None:
        try:
            await self._refresh()
        except Exception:
            # Keep serving the last copy; the next read tries again.
            self._loaded_at = time.monotonic()
            logger.exception("could not refresh a routing snapshot")
