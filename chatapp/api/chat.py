"""/v1/chat/completions (SSE or JSON): parse, call latency.pipeline, shape the events as
OpenAI's chunks. Headers X-Cache, X-Cache-Similarity and X-Model; the last chunk (or the body)
carries `x_latency`, and `usage` as OpenAI fills it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from chatapp.api.auth import api_admit, api_grant, api_tokens_used
from chatapp.api.chat_request import ChatCall, chat_call_parse
from chatapp.api.edge import api_body_json, api_endpoint
from chatapp.api.errors import api_error, api_rate_limited
from latency.core.tokens import tokens_count
from latency.pipeline import DoneEvent, ErrorEvent, StartEvent, TokenEvent, pipeline_run

_UPSTREAM_STATUS = {"rate_limit": 429, "timeout": 504}


@api_endpoint(methods=("POST",))
async def chat_completions(request: HttpRequest) -> HttpResponse:
    received_at = time.perf_counter()
    payload = api_body_json(request=request)
    call = chat_call_parse(payload=payload, user_id=api_grant(request=request).user_id,
                           received_at=received_at)  # fmt: skip
    if isinstance(call, HttpResponse):
        return call
    state = await api_admit(request=request, tokens=call.reserve_tokens)
    if not state.admitted:
        return api_rate_limited(state=state)
    events = pipeline_run(request=call.request)
    # Pull events up to the first token: the headers need the cache outcome and the model.
    head: list[object] = []
    async for event in events:
        head.append(event)
        if isinstance(event, TokenEvent | DoneEvent | ErrorEvent):
            break
    start = next((e for e in head if isinstance(e, StartEvent)), None)
    failure = next((e for e in head if isinstance(e, ErrorEvent)), None)
    if failure is not None:
        api_tokens_used(request=request, tokens=call.prompt_tokens)
        status = _UPSTREAM_STATUS.get(failure.kind, 502 if failure.kind != "request" else 400)
        return api_error(status=status, message=failure.message, kind="upstream_error",
                         code=failure.kind)  # fmt: skip
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    if call.request.stream:
        response = StreamingHttpResponse(
            _sse(request, call, completion_id, head, events), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
    else:
        response = JsonResponse(await _whole(request, call, completion_id, head, events))
    if start is not None:
        response["X-Cache"] = start.cache_tier
        response["X-Model"] = start.model
        if start.cache_similarity is not None:
            response["X-Cache-Similarity"] = f"{start.cache_similarity:.4f}"
    return response


def _usage(request: HttpRequest, call: ChatCall, text: str) -> dict[str, int]:
    """OpenAI's usage for the answer; it also corrects the key's admitted token estimate."""
    completion = tokens_count(text=text)
    total = call.prompt_tokens + completion
    api_tokens_used(request=request, tokens=total)
    return {"prompt_tokens": call.prompt_tokens, "completion_tokens": completion,
            "total_tokens": total}  # fmt: skip


def _latency(done: DoneEvent) -> dict[str, object]:
    return {"ttft_ms": done.ttft_ms, "total_ms": done.total_ms, "stages": done.stages,
            "cache": done.cache_tier, "model": done.model}  # fmt: skip


async def _replayed(head: list[object], events: AsyncIterator[object]) -> AsyncIterator[object]:
    for event in head:
        yield event
    async for event in events:
        yield event


def _data(body: dict[str, object]) -> str:
    return f"data: {json.dumps(body)}\n\n"


async def _sse(request: HttpRequest, call: ChatCall, completion_id: str, head: list[object],
               events: AsyncIterator[object]) -> AsyncIterator[str]:  # fmt: skip
    created = int(time.time())
    model = ""
    chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created}
    async for event in _replayed(head, events):
        if isinstance(event, StartEvent):
            model = event.model
            yield _chunk(chunk, model, {"role": "assistant", "content": ""})
        elif isinstance(event, TokenEvent):
            yield _chunk(chunk, model, {"content": event.text})
        elif isinstance(event, DoneEvent):
            usage = _usage(request, call, event.text)
            final = [{"index": 0, "delta": {}, "finish_reason": "stop"}]
            yield _data({**chunk, "model": event.model, "x_latency": _latency(event),
                         "choices": final})  # fmt: skip
            if call.include_usage:
                yield _data({**chunk, "model": event.model, "choices": [], "usage": usage})
        elif isinstance(event, ErrorEvent):
            spent = call.prompt_tokens + tokens_count(text=event.text)
            api_tokens_used(request=request, tokens=spent)
            yield _data({"error": {"message": event.message, "type": "upstream_error",
                                   "param": None, "code": event.kind}})  # fmt: skip
    yield "data: [DONE]\n\n"


def _chunk(chunk: dict[str, object], model: str, delta: dict[str, str]) -> str:
    return _data({**chunk, "model": model,
                  "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})  # fmt: skip


async def _whole(request: HttpRequest, call: ChatCall, completion_id: str, head: list[object],
                 events: AsyncIterator[object]) -> dict[str, object]:  # fmt: skip
    done: DoneEvent | None = None
    error: ErrorEvent | None = None
    async for event in _replayed(head, events):
        if isinstance(event, DoneEvent):
            done = event
        elif isinstance(event, ErrorEvent):
            error = event
    if done is None:
        message = error.message if error else "The answer was interrupted."
        api_tokens_used(request=request, tokens=call.prompt_tokens)
        return {"error": {"message": message, "type": "upstream_error", "param": None,
                          "code": error.kind if error else None}}  # fmt: skip
    return {
        "id": completion_id, "object": "chat.completion", "created": int(time.time()),
        "model": done.model, "x_latency": _latency(done),
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": done.text}}],
        "usage": _usage(request, call, done.text),
    }  # fmt: skip
