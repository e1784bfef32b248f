"""The machine-facing HTTP paths (/v1/…, /healthz, /metrics) without the browser middleware.

Django runs each middleware's process_request/process_response in a thread when the view is
async: eight middlewares cost about a dozen thread hops per API request, for sessions, CSRF,
messages and htmx that a bearer-token client never uses (profiled under 20 concurrent streams:
the hops were a tenth of the event loop's busy time). These paths get Django's exception
handling and nothing else; their views check their own credentials.
"""

from __future__ import annotations

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response

LEAN_PREFIXES = ("/v1/", "/healthz", "/metrics")


class LeanASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        get_response = self._get_response_async if is_async else self._get_response
        self._middleware_chain = convert_exception_to_response(get_response)


class HttpByPath:
    """HTTP to the lean handler for machine-facing paths, to the full one for pages."""

    def __init__(self, *, pages: ASGIHandler, machines: ASGIHandler) -> None:
        self.pages, self.machines = pages, machines

    async def __call__(self, scope: dict, receive, send) -> None:  # noqa: ANN001
        path = scope.get("path", "")
        handler = self.machines if path.startswith(LEAN_PREFIXES) else self.pages
        await handler(scope, receive, send)
