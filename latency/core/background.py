"""Work started off the request path (trace writes, cache eviction): the request does not wait,
but the task is kept, its failure logged, and `background_wait()` lets tests and an orderly
shutdown wait for what is still under way.

Per process by nature: these are this process's own tasks, not state other workers need.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")
_pending: set[asyncio.Task[Any]] = set()


def background_spawn(*, work: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
    task = asyncio.get_running_loop().create_task(work, name=name)
    _pending.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _pending.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("background task %s failed", task.get_name(), exc_info=task.exception())


async def background_wait(*, timeout_s: float | None = None) -> None:
    """Wait for this loop's background tasks under way (and those they start)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        while mine := [t for t in _pending if t.get_loop() is loop]:
            await asyncio.gather(*mine, return_exceptions=True)
