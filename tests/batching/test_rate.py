"""The background window: AIMD on 429s with Retry-After, and a smaller share under chat load."""

from __future__ import annotations

import time

from latency.batching.rate import RateWindows


async def test_window_grows_halves_on_429_and_pauses() -> None:
    windows = RateWindows(cap=16, share_under_chat=0.25)
    for _ in range(20):
        name = await windows.acquire(endpoints=["a"])
        await windows.release(endpoint=name, outcome="ok")
    grown = windows.window("a").limit
    assert grown == 16  # slow start: +1 a success up to the cap
    await windows.acquire(endpoints=["a"])
    await windows.release(endpoint="a", outcome="rate_limit", retry_after_s=0.3)
    assert windows.window("a").limit == max(1.0, grown / 2)
    # Paused: the next call goes to the other endpoint (the fallback) at once.
    assert await windows.acquire(endpoints=["a", "b"]) == "b"
    started = time.monotonic()
    assert await windows.acquire(endpoints=["a"]) == "a"
    assert time.monotonic() - started >= 0.25


async def test_chat_in_flight_shrinks_the_background_share() -> None:
    busy = {"chat": False}
    windows = RateWindows(cap=16, share_under_chat=0.25, chat_busy=lambda: busy["chat"])
    windows.window("a").limit = 16
    assert windows.window("a").allowed(share=windows.share()) == 16
    busy["chat"] = True
    assert windows.window("a").allowed(share=windows.share()) == 4
