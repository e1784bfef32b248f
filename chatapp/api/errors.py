"""OpenAI's shapes for what /v1 refuses, and the rate-limit headers of every /v1 answer."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse

from latency.gateway.limits import RateState, duration_format

_KIND_BY_STATUS = {401: "invalid_request_error", 404: "invalid_request_error",
                   429: "requests", 500: "server_error", 502: "upstream_error"}  # fmt: skip


def api_error(
    *, status: int, message: str, kind: str = "", code: str | None = None,
    param: str | None = None,
) -> JsonResponse:  # fmt: skip
    """`{"error": {"message", "type", "param", "code"}}` with `status`."""
    kind = kind or _KIND_BY_STATUS.get(status, "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JsonResponse(body, status=status)


def api_invalid(message: str, *, param: str | None = None) -> JsonResponse:
    return api_error(status=400, message=message, param=param)


def api_unauthorized() -> JsonResponse:
    return api_error(
        status=401, code="invalid_api_key",
        message="Incorrect API key provided. You can make a key at /keys/.",
    )  # fmt: skip


def ratelimit_headers_apply(*, response: HttpResponse, state: RateState) -> None:
    """The six x-ratelimit-* headers, as OpenAI sends them."""
    reset = duration_format(seconds=state.reset_s)
    response["x-ratelimit-limit-requests"] = str(state.requests_limit)
    response["x-ratelimit-remaining-requests"] = str(state.requests_remaining)
    response["x-ratelimit-reset-requests"] = reset
    response["x-ratelimit-limit-tokens"] = str(state.tokens_limit)
    response["x-ratelimit-remaining-tokens"] = str(state.tokens_remaining)
    response["x-ratelimit-reset-tokens"] = reset


def api_rate_limited(*, state: RateState) -> JsonResponse:
    """429 with Retry-After, worded as OpenAI words it."""
    if state.exceeded == "requests":
        what, limit, used = "requests per min (RPM)", state.requests_limit, state.requests_used
    else:
        what, limit, used = "tokens per min (TPM)", state.tokens_limit, state.tokens_used
    response = api_error(
        status=429, kind=state.exceeded or "requests", code="rate_limit_exceeded",
        message=f"Rate limit reached for {what}: Limit {limit}, Used {used}. "
        f"Please try again in {duration_format(seconds=state.reset_s)}.",
    )  # fmt: skip
    response["Retry-After"] = str(state.retry_after_s)
    return response
