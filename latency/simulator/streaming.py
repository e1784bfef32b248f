"""An ASGI response driven by an async generator, cancelled as soon as the client disconnects.

The generator yields a `ResponseStart` (when the status line and headers should go out) and
then body bytes, sleeping in between; a silent generator sends nothing at all, not even
headers. Starlette's own StreamingResponse only notices a disconnect on its next write.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


@dataclass(frozen=True)
class ResponseStart:
    status: int
    headers: dict[str, str]


@dataclass(frozen=True)
class ConnectionDrop:
    """The connection goes, mid-body: the response is left unfinished (the server then closes
    the connection, and the client's read of the stream breaks)."""


ResponseEvents = AsyncGenerator[ResponseStart | ConnectionDrop | bytes, None]


class GeneratedResponse(Response):
    def __init__(self, *, events: ResponseEvents) -> None:
        self.events = events
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        producer = asyncio.create_task(self._produce(send))
        watcher = asyncio.create_task(self._disconnect_wait(receive))
        try:
            done, _ = await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if producer not in done:
                # The client went away: stop generating at once (the generator sees the cancel).
                producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await producer
        finally:
            watcher.cancel()
            producer.cancel()
            await asyncio.gather(watcher, producer, return_exceptions=True)
            await self.events.aclose()

    async def _produce(self, send: Send) -> None:
        started = False
        async for event in self.events:
            if isinstance(event, ResponseStart):
                self.status_code = event.status
                headers = [(k.encode(), v.encode()) for k, v in event.headers.items()]
                await send(
                    {"type": "http.response.start", "status": event.status, "headers": headers}
                )
                started = True
            elif isinstance(event, ConnectionDrop):
                return
            elif started:
                await send({"type": "http.response.body", "body": event, "more_body": True})
        if started:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _disconnect_wait(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
