"""Small writes that follow a /v1 request (last use of a key, token corrections) run in tasks
off the request path: kept referenced until done, given a deadline, their failures logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)

WRITE_TIMEOUT_S = 5.0

# Per process by nature: the tasks this process's event loops are running.
_pending: set[asyncio.Task[Any]] = set()


def _finished(task: asyncio.Task[Any]) -> None:
    _pending.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("gateway background write failed: %r", task.exception())


async def _bounded(work: Coroutine[Any, Any, Any]) -> None:
    async with asyncio.timeout(WRITE_TIMEOUT_S):
        await work


def background_spawn(*, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[None]:
    """Run `work` in a task of the running loop, at most WRITE_TIMEOUT_S long."""
    task = asyncio.get_running_loop().create_task(_bounded(work), name=name)
    _pending.add(task)
    task.add_done_callback(_finished)
    return task


async def background_wait() -> None:
    """Wait for this loop's pending writes (tests, and a server that shuts down cleanly)."""
    loop = asyncio.get_running_loop()
    mine = [task for task in _pending if task.get_loop() is loop]
    if mine:
        await asyncio.gather(*mine, return_exceptions=True)


def background_cancel() -> None:
    """Cancel this loop's pending writes (a loop about to close)."""
    loop = asyncio.get_running_loop()
    for task in [task for task in _pending if task.get_loop() is loop]:
        task.cancel()
