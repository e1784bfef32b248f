"""What every /v1 view shares: no CSRF (bearer keys, not cookies), methods, the request id,
the key check, JSON bodies within limits, and errors in OpenAI's shape, never Django's HTML."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from chatapp.api.auth import api_authenticate, api_rate_headers
from chatapp.api.errors import api_error, api_invalid, api_unauthorized
from latency.gateway.request_id import request_id_set

logger = logging.getLogger(__name__)

JSON_MAX_DEPTH = 32
View = Callable[..., Awaitable[HttpResponse]]


class BodyRefused(Exception):
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _too_large(limit: int) -> HttpResponse:
    return api_error(status=413, message=f"The request body is larger than {limit} bytes.",
                     code="request_too_large")  # fmt: skip


def _server_error(request_id: str) -> HttpResponse:
    return api_error(status=500, message="The server had an error while processing your "
                     f"request (request id {request_id}).")  # fmt: skip


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _depth_ok(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > JSON_MAX_DEPTH:
            return False
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return True


def api_body_json(*, request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object, or BodyRefused with a 400 or 413 in OpenAI's shape."""
    limit = min(settings.API_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyRefused(_too_large(limit))
    body = request.body  # RequestDataTooBig is turned into a 413 by api_endpoint
    if len(body) > limit:
        raise BodyRefused(_too_large(limit))
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BodyRefused(api_invalid("The body must be valid JSON (UTF-8).")) from None
    if not isinstance(payload, dict):
        raise BodyRefused(api_invalid("The body must be a JSON object."))
    if not _depth_ok(payload):
        raise BodyRefused(api_invalid(f"The JSON is nested more than {JSON_MAX_DEPTH} deep."))
    return payload


def api_endpoint(*, methods: tuple[str, ...], auth: bool = True) -> Callable[[View], View]:
    """Wrap a /v1 view: see the module's docstring."""

    def wrap(view: View) -> View:
        @functools.wraps(view)
        async def endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            request_id = request_id_set(header=request.headers.get("X-Request-Id"))
            try:
                response = await _answer(view, request, methods, auth, *args, **kwargs)
                await api_rate_headers(request=request, response=response)
            except Exception:
                logger.exception("/v1 request %s failed", request_id)
                response = _server_error(request_id)
            response["x-request-id"] = request_id
            return response

        return csrf_exempt(endpoint)

    return wrap


async def _answer(view: View, request: HttpRequest, methods: tuple[str, ...], auth: bool,
                  *args: Any, **kwargs: Any) -> HttpResponse:  # fmt: skip
    if request.method not in methods:
        response = api_error(status=405, message=f"Use {' or '.join(methods)} here.",
                             code="method_not_allowed")  # fmt: skip
        response["Allow"] = ", ".join(methods)
        return response
    if auth and await api_authenticate(request=request) is None:
        return api_unauthorized()
    try:
        return await view(request, *args, **kwargs)
    except BodyRefused as refused:
        return refused.response
    except RequestDataTooBig:
        return _too_large(min(settings.API_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE))


@api_endpoint(methods=("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"), auth=False)
async def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return api_error(status=404, message=f"Unknown request URL: {request.method} "
                     f"{request.path}.", code="unknown_url")  # fmt: skip
