"""The id of the /v1 request being served, for logs and (once wired) the request's trace.

The API edge sets it at the start of each request. Every ASGI request runs in its own task,
with its own copy of the context, so the value never leaks into another request, and it is
still set while a streamed answer is sent (same task) and in tasks started from it.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

# Read by whatever records the request: `REQUEST_ID.get()` is "" outside a /v1 request.
REQUEST_ID: ContextVar[str] = ContextVar("gateway_request_id", default="")

# What a client may choose: OpenAI's own ids (req_…), UUIDs, trace ids; nothing that could
# split a header or a log line.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def request_id_accept(*, header: str | None) -> str:
    """The client's `X-Request-Id` if it is sane, else a new `req_<32 hex>`."""
    if header and _SANE.fullmatch(header):
        return header
    return f"req_{secrets.token_hex(16)}"


def request_id_set(*, header: str | None) -> str:
    """Accept or make this request's id and make it the current one; returns it."""
    request_id = request_id_accept(header=header)
    REQUEST_ID.set(request_id)
    return request_id
