"""A concurrency window per endpoint for background calls: additive increase on success,
halving on a 429 with a pause for its `Retry-After` (AIMD), and a smaller share of it while
interactive traffic is in flight. Per process by nature: it paces this worker's own calls; the
chat load it gives way to is read from PostgreSQL (latency.batching.priority)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class EndpointWindow:
    limit: float
    cap: int
    in_flight: int = 0
    paused_until: float = 0.0  # monotonic time
    rate_limited: int = 0
    slow_start: bool = True  # +1 a success (doubling a round) until the first sign of overload

    def allowed(self, *, share: float) -> int:
        return max(1, math.floor(min(self.limit, self.cap) * share))


@dataclass
class RateWindows:
    cap: int
    share_under_chat: float
    chat_busy: Callable[[], bool] = lambda: False
    start: float = 4.0
    windows: dict[str, EndpointWindow] = field(default_factory=dict)
    _changed: asyncio.Condition | None = None

    def window(self, name: str) -> EndpointWindow:
        if name not in self.windows:
            self.windows[name] = EndpointWindow(limit=min(self.start, self.cap), cap=self.cap)
        return self.windows[name]

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    def share(self) -> float:
        return self.share_under_chat if self.chat_busy() else 1.0

    async def acquire(self, *, endpoints: Sequence[str]) -> str:
        """The first endpoint, in the caller's order, with room in its window and no pause; wait
        (a short poll: a pause ends, chat traffic leaves) while none has."""
        condition = self._condition()
        while True:
            now, share = time.monotonic(), self.share()
            for name in endpoints:
                window = self.window(name)
                if window.paused_until <= now and window.in_flight < window.allowed(share=share):
                    window.in_flight += 1
                    return name
            async with condition:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(condition.wait(), timeout=0.05)

    async def release(
        self, *, endpoint: str, outcome: str, retry_after_s: float | None = None
    ) -> None:
        """outcome: "ok" (grow by 1/limit, about one a window's worth of successes; by 1 in slow
        start), "rate_limit"
        (halve, pause for Retry-After), "overload" (a timeout or refused connection: shrink by a
        third), or "error" (no change: a bad request says nothing about load)."""
        window = self.window(endpoint)
        window.in_flight = max(0, window.in_flight - 1)
        if outcome == "ok":
            step = 1.0 if window.slow_start else 1 / max(window.limit, 1.0)
            window.limit = min(float(window.cap), window.limit + step)
        elif outcome == "overload":
            window.slow_start = False
            window.limit = max(1.0, window.limit * 2 / 3)
        elif outcome == "rate_limit":
            window.slow_start = False
            window.rate_limited += 1
            window.limit = max(1.0, window.limit / 2)
            pause = retry_after_s if retry_after_s is not None else 1.0
            window.paused_until = max(window.paused_until, time.monotonic() + pause)
        condition = self._condition()
        async with condition:
            condition.notify_all()
