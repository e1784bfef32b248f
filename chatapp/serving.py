"""daphne as `make run` and the tests start it: `python -m chatapp.serving [daphne options]`.

Two bounds daphne lacks. Its --http-timeout starts only once a request's body has arrived (and
would cut long streamed answers), so a client sending a body a byte a second held a connection
forever: here a request whose headers and body are not in within HTTP_BODY_TIMEOUT_S is
answered 408 and closed. And autobahn dropped a websocket frame over the size limit by cutting
the TCP connection; here it closes with code 1009 and the reason.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from daphne import http_protocol, server
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory


def _body_timeout_s() -> float:
    from django.conf import settings

    return float(settings.HTTP_BODY_TIMEOUT_S)


_daphne_check_timeouts = http_protocol.WebRequest.check_timeouts
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: 37\r\n\r\nThe request took too long to arrive.\n"
)


def request_check_timeouts(self: Any) -> None:
    """Called by daphne every 2 s for each open request: bound the time to receive it."""
    channel = getattr(self, "channel", None)
    if not hasattr(self, "request_start") and channel is not None:
        # daphne sets request_start once headers and body are in; until then it is reading.
        connected = self.server.connections.get(self, {}).get("connected")
        if connected is not None and time.time() - connected > _body_timeout_s():
            # Straight to the socket: the request is half read, twisted has no status line for
            # it. (An exception here would stop daphne's timeout loop for every connection.)
            with contextlib.suppress(Exception):
                channel.transport.write(REQUEST_TIMEOUT)
                channel.transport.loseConnection()
            return
    _daphne_check_timeouts(self)


class ClosingWebSocketFactory(WebSocketFactory):
    """Fails a websocket with a close frame (1009 and a reason), not by dropping TCP."""

    def setProtocolOptions(self, **options: Any) -> None:  # noqa: N802 (autobahn's name)
        super().setProtocolOptions(failByDrop=False, **options)


def serving_patch() -> None:
    http_protocol.WebRequest.check_timeouts = request_check_timeouts
    server.WebSocketFactory = ClosingWebSocketFactory


if __name__ == "__main__":
    serving_patch()
    CommandLineInterface.entrypoint()
