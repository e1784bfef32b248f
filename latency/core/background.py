"""Work started off the request path (trace writes, cache eviction, a key's last use, token
corrections): the request does not wait, but the task is kept, given a deadline, its failure
logged, and `background_wait()` lets tests and an orderly shutdown wait for what is under way.

Each task runs in a fresh context, not the request's: Django gives every request its own
thread for sync database work (asgiref's ThreadSensitiveContext), and a write begun after the
request ended would open a connection in that thread that nothing closes again. With 100
concurrent streams that drained the connection pool for good. In a fresh context the ORM's
sync work goes to one shared thread, whose connection is reused.

Per process by nature: these are this process's own tasks, not state other workers need.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")
DEADLINE_S = 30.0
_pending: set[asyncio.Task[Any]] = set()


async def _bounded(work: Coroutine[Any, Any, T], deadline_s: float) -> T:
    async with asyncio.timeout(deadline_s):
        return await work


def background_spawn(
    *, work: Coroutine[Any, Any, T], name: str, deadline_s: float = DEADLINE_S
) -> asyncio.Task[T]:
    task = asyncio.get_running_loop().create_task(
        _bounded(work, deadline_s), name=name, context=contextvars.Context()
    )
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
