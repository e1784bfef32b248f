"""Websocket middleware: a socket that meets a database fault is told so, then closed with 1013.

Channels resolves the session's user from the database before any consumer runs, and a consumer
reads the conversation as it connects; with PostgreSQL unreachable either raised out of the
application and daphne dropped the handshake, so clients saw a malformed response
(`InvalidMessage` in `latency_bench load`'s postgres_unreachable fault) and the browser nothing.
Here such a socket is accepted if it was not yet, told why in a notice (the chat page shows it;
daphne does not pass a close reason on) and closed with 1013 ("try again later"); the page's
socket reconnects by itself once the database is back.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError

from chatapp.consumers.chat import notice_html

DATABASE_DOWN = 1013
DATABASE_DOWN_REASON = "The service cannot reach its database just now: try again in a moment."
logger = logging.getLogger(__name__)


class DatabaseFaultClose:
    """ASGI middleware for websockets: the database unreachable (OperationalError or
    InterfaceError) out of `application` ends the socket with a notice and DATABASE_DOWN
    instead of dropping the connection; any other error goes on as before."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        state = {"websocket.accept": False, "websocket.close": False}

        async def tracked(message: dict[str, Any]) -> None:
            if message["type"] in state:
                state[message["type"]] = True
            await send(message)

        try:
            return await self.application(scope, receive, tracked)
        except (OperationalError, InterfaceError) as error:  # the database away, as elsewhere
            logger.warning("websocket %s ended by a database fault: %s", scope.get("path"), error)
            if state["websocket.close"]:
                return None
            if not state["websocket.accept"]:
                await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": notice_html(DATABASE_DOWN_REASON)})
            await send({"type": "websocket.close", "code": DATABASE_DOWN,
                        "reason": DATABASE_DOWN_REASON})  # fmt: skip
            return None
