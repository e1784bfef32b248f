"""Per-endpoint capacity: at most N requests in service at once, the others wait in FIFO order.

A request holds its slot from admission until its last byte (decode shares the batch, as in
a continuous-batching server), so the time it waited shows up in its TTFT and in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator


class SlotQueue:
    """Slots of one endpoint. Per process by nature: the simulator's own serving state.

    `capacity <= 0` means unlimited: requests are admitted at once and not counted, so that
    switching a capacity on later does not wait for requests it never admitted.
    """

    def __init__(self) -> None:
        self.capacity = 0
        self.busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def resize(self, *, capacity: int) -> None:
        """Apply a new capacity: a larger one (or none) admits waiters at once."""
        self.capacity = capacity
        self._admit()

    def _admit(self) -> None:
        while self._waiters and (self.capacity <= 0 or self.busy < self.capacity):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.busy += 1
                waiter.set_result(None)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the body of the `async with`, waiting in line for one if needed."""
        if self.capacity <= 0:
            yield
            return
        if self.busy < self.capacity and not self._waiters:
            self.busy += 1
        else:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # Granted in the same tick as the cancel: give the slot on to the next one.
                if waiter.done() and not waiter.cancelled():
                    self._release()
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        self.busy -= 1
        self._admit()


class EndpointSlots:
    """One `SlotQueue` per endpoint (region prefix, "" for none), made on first use."""

    def __init__(self) -> None:
        self._queues: dict[str, SlotQueue] = {}

    def queue_for(self, *, endpoint: str, capacity: int) -> SlotQueue:
        queue = self._queues.setdefault(endpoint, SlotQueue())
        if queue.capacity != capacity:
            queue.resize(capacity=capacity)
        return queue

    def resize_all(self, *, capacity: int) -> None:
        for queue in self._queues.values():
            queue.resize(capacity=capacity)
