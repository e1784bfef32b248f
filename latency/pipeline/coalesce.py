"""Tokens that arrive within a few milliseconds of each other leave as one frame.

Each frame costs the edge a render, an encode and a write (and the browser a DOM swap); at
20 streams that per-token work was most of the app's CPU. The first token always goes at once
(time to first token is what users feel), and no token waits longer than `window_s`. Events
that carry raw choices (tool-call fragments, several choices) pass one by one, as sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from latency.events import Event, TokenEvent

WINDOW_S = 0.010


async def events_coalesced(
    *, events: AsyncIterator[Event], window_s: float = WINDOW_S
) -> AsyncIterator[Event]:
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[Event] = asyncio.ensure_future(anext(events))
    held: list[str] = []
    held_ttft = 0.0
    sent_first = False
    flushed_at = 0.0
    try:
        while True:
            timeout = max(0.0, flushed_at + window_s - loop.time()) if held else None
            done, _ = await asyncio.wait({pending}, timeout=timeout)
            if not done:  # the window closed with tokens held: send them
                yield TokenEvent(text="".join(held), ttft_ms=held_ttft)
                held, flushed_at = [], loop.time()
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                break
            pending = asyncio.ensure_future(anext(events))
            if isinstance(event, TokenEvent) and not event.choices:
                if not sent_first:
                    sent_first, flushed_at = True, loop.time()
                    yield event
                    continue
                if not held:
                    held_ttft = event.ttft_ms
                held.append(event.text)
                if loop.time() - flushed_at >= window_s:
                    yield TokenEvent(text="".join(held), ttft_ms=held_ttft)
                    held, flushed_at = [], loop.time()
                continue
            if held:
                yield TokenEvent(text="".join(held), ttft_ms=held_ttft)
                held = []
            yield event
        if held:
            yield TokenEvent(text="".join(held), ttft_ms=held_ttft)
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]
