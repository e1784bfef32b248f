"""The gate of /v1: who the bearer key belongs to, and whether its limits admit the request.
The grant and the limits' state ride on the request, so the edge can put the headers on."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from chatapp.api.errors import ratelimit_headers_apply
from latency.gateway.limits import RateState, rate_admit, rate_peek, rate_tokens_correct
from latency.gateway.usage import api_key_touch
from latency.gateway.verify import KeyGrant, api_key_verify


async def api_authenticate(*, request: HttpRequest) -> KeyGrant | None:
    grant = await api_key_verify(authorization=request.headers.get("Authorization", ""))
    if grant is not None:
        api_key_touch(key_id=grant.key_id)
    request.api_grant = grant
    return grant


def api_grant(*, request: HttpRequest) -> KeyGrant:
    """The grant of an authenticated request (the edge authenticated it first)."""
    grant = getattr(request, "api_grant", None)
    assert grant is not None, "api_endpoint(auth=True) authenticates before the view"
    return grant


async def api_admit(*, request: HttpRequest, tokens: int) -> RateState:
    """Count this request (about `tokens` tokens) against its key; `.admitted` says if it may
    go on."""
    state = await rate_admit(grant=api_grant(request=request), tokens=tokens)
    request.api_rate = state
    return state


def api_tokens_used(*, request: HttpRequest, tokens: int) -> None:
    """The request really cost `tokens`: correct the admitted estimate (off the request path)."""
    state = getattr(request, "api_rate", None)
    if state is not None:
        rate_tokens_correct(grant=api_grant(request=request), state=state, tokens_used=tokens)


async def api_rate_headers(*, request: HttpRequest, response: HttpResponse) -> None:
    """Rate-limit headers for any answer to a known key, admitted or not."""
    grant = getattr(request, "api_grant", None)
    if grant is None:
        return
    state = getattr(request, "api_rate", None) or await rate_peek(grant=grant)
    ratelimit_headers_apply(response=response, state=state)
