"""The OpenAI-compatible HTTP edge: /v1/chat/completions (SSE or JSON) and /v1/models.

Parse, call latency.pipeline, shape the events as OpenAI chunks. Headers X-Cache,
X-Cache-Similarity and X-Model; the last chunk (or the body) carries `x_latency`.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from latency.errors import UnknownModelError
from latency.gateway.keys import api_key_user
from latency.models import Feature
from latency.pipeline import (
    ChatRequest,
    DoneEvent,
    ErrorEvent,
    StartEvent,
    TokenEvent,
    pipeline_run,
)
from latency.providers.catalog import catalog_load

MAX_BODY_BYTES = 512 * 1024
_UPSTREAM_STATUS = {"rate_limit": 429, "timeout": 504}


def _error(status: int, message: str, *, kind: str = "invalid_request_error", code: str = ""):  # noqa: ANN202
    return JsonResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": code or None}},
        status=status,
    )


async def _authenticated(request: HttpRequest):  # noqa: ANN202
    return await api_key_user(authorization=request.headers.get("Authorization", ""))


async def models_list(request: HttpRequest) -> HttpResponse:
    if await _authenticated(request) is None:
        return _error(401, "Missing or invalid API key.", code="invalid_api_key")
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": spec.tier}
        for name, spec in catalog_load().models.items()
    ]
    return JsonResponse({"object": "list", "data": data})


def _request_parse(
    body: bytes, user_id: int, received_at: float, *, paced: bool = False
) -> ChatRequest | HttpResponse:
    if len(body) > MAX_BODY_BYTES:
        return _error(413, f"Request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        return _error(400, "The body must be a JSON object.")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages or not all(
        isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") in
        {"system", "user", "assistant", "developer"} for m in messages
    ):  # fmt: skip
        return _error(400, "`messages` must be a non-empty list of {role, content} objects.")
    model = payload.get("model") or None
    if model == "auto":
        model = None
    if model is not None and model not in catalog_load().models:
        return _error(404, str(UnknownModelError(model, known=sorted(catalog_load().models))),
                      code="model_not_found")  # fmt: skip
    feature = payload.get("feature", Feature.CHAT)
    if feature not in Feature.values:
        return _error(400, f"Unknown feature {feature!r}; use one of {Feature.values}.")
    return ChatRequest(
        messages=[{"role": m["role"], "content": m["content"]} for m in messages],
        received_at=received_at, feature=feature, user_id=user_id, model=model,
        temperature=payload.get("temperature"), max_tokens=payload.get("max_tokens"),
        source="api", stream=bool(payload.get("stream")), replay_paced=paced,
    )  # fmt: skip


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    received_at = time.perf_counter()
    if request.method != "POST":
        return _error(405, "Use POST.")
    user = await _authenticated(request)
    if user is None:
        return _error(401, "Missing or invalid API key.", code="invalid_api_key")
    # A cache hit comes whole unless the client asks for it paced like a live stream.
    paced = request.headers.get("X-Cache-Replay", "").lower() == "paced"
    parsed = _request_parse(request.body, user.pk, received_at, paced=paced)
    if isinstance(parsed, HttpResponse):
        return parsed
    # The id the client sees is the trace's request_id: a benchmark or a support ticket can
    # find the request's trace (and its upstream call) from the response alone.
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    parsed = dataclasses.replace(parsed, request_id=completion_id)
    events = pipeline_run(request=parsed)
    # Pull events up to the first token: the headers need the cache outcome and the model.
    head: list[object] = []
    async for event in events:
        head.append(event)
        if isinstance(event, TokenEvent | DoneEvent | ErrorEvent):
            break
    start = next((e for e in head if isinstance(e, StartEvent)), None)
    failure = next((e for e in head if isinstance(e, ErrorEvent)), None)
    if failure is not None:
        return _failure_response(failure)
    if parsed.stream:
        response = StreamingHttpResponse(
            _sse(completion_id, head, events), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
    else:
        body = await _whole(completion_id, head, events)
        if isinstance(body, ErrorEvent):  # failed after its first token: an error, not a 200
            return _failure_response(body)
        response = JsonResponse(body)
    response["x-request-id"] = completion_id
    if start is not None:
        response["X-Cache"] = start.cache_tier
        response["X-Model"] = start.model
        if start.cache_similarity is not None:
            response["X-Cache-Similarity"] = f"{start.cache_similarity:.4f}"
    return response


def _failure_response(failure: ErrorEvent) -> HttpResponse:
    if failure.kind == "request":
        status, kind = 400, "invalid_request_error"
    elif failure.kind == "internal":
        status, kind = 500, "server_error"
    else:
        status, kind = _UPSTREAM_STATUS.get(failure.kind, 502), "upstream_error"
    return _error(status, failure.message, kind=kind, code=failure.kind)


def _latency(done: DoneEvent) -> dict[str, object]:
    return {"ttft_ms": done.outcome.ttft_ms, "total_ms": done.outcome.total_ms,
            "stages": done.stages, "cache": done.x_cache, "model": done.outcome.model}  # fmt: skip


def _usage(done: DoneEvent) -> dict[str, object]:
    usage = done.usage
    return {
        "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }  # fmt: skip


async def _replayed(head: list[object], events: AsyncIterator[object]) -> AsyncIterator[object]:
    for event in head:
        yield event
    async for event in events:
        yield event


async def _sse(completion_id: str, head: list[object], events) -> AsyncIterator[str]:  # noqa: ANN001
    created = int(time.time())
    model = ""
    async for event in _replayed(head, events):
        if isinstance(event, StartEvent):
            model = event.model
            yield _chunk(completion_id, created, model, {"role": "assistant", "content": ""})
        elif isinstance(event, TokenEvent):
            yield _chunk(completion_id, created, model, {"content": event.text})
        elif isinstance(event, DoneEvent):
            final = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                     "model": event.outcome.model, "x_latency": _latency(event),
                     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}  # fmt: skip
            yield f"data: {json.dumps(final)}\n\n"
        elif isinstance(event, ErrorEvent):
            error = {"error": {"message": event.message, "type": "upstream_error",
                               "code": event.kind}}  # fmt: skip
            yield f"data: {json.dumps(error)}\n\n"
    yield "data: [DONE]\n\n"


def _chunk(completion_id: str, created: int, model: str, delta: dict[str, str]) -> str:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }
    return f"data: {json.dumps(body)}\n\n"


async def _whole(
    completion_id: str, head: list[object], events: AsyncIterator[object]
) -> dict[str, object] | ErrorEvent:
    done: DoneEvent | None = None
    async for event in _replayed(head, events):
        if isinstance(event, DoneEvent):
            done = event
        elif isinstance(event, ErrorEvent):
            return event
    if done is None:
        return ErrorEvent(message="The answer was interrupted.", kind="internal", text="")
    return {
        "id": completion_id, "object": "chat.completion", "created": int(time.time()),
        "model": done.outcome.model, "x_latency": _latency(done),
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": done.text}}],
        "usage": _usage(done),
    }  # fmt: skip
