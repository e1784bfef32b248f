"""/v1/chat/completions (SSE or JSON): parse, call latency.pipeline, shape the events as
OpenAI's chunks. Headers X-Cache, X-Cache-Similarity and X-Model; the last chunk (or the body)
carries `x_latency`, and `usage` as OpenAI fills it (a cache hit reports the prompt it did not
send in `prompt_tokens_details.cached_tokens`)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from chatapp.api.auth import api_admit, api_grant, api_tokens_used
from chatapp.api.chat_request import ChatCall, chat_call_parse
from chatapp.api.choices import choices_collect
from chatapp.api.edge import api_body_json, api_endpoint
from chatapp.api.errors import api_error, api_rate_limited
from latency.gateway.request_id import REQUEST_ID
from latency.pipeline import DoneEvent, ErrorEvent, StartEvent, TokenEvent, pipeline_run
from latency.pipeline.coalesce import events_coalesced

_UPSTREAM_STATUS = {"rate_limit": 429, "timeout": 504}


@api_endpoint(methods=("POST",))
async def chat_completions(request: HttpRequest) -> HttpResponse:
    received_at = time.perf_counter()
    payload = api_body_json(request=request)
    call = chat_call_parse(
        payload=payload, user_id=api_grant(request=request).user_id, received_at=received_at,
        request_id=REQUEST_ID.get(),
        # A cache hit comes whole unless the client asks for it paced like a live stream.
        paced=request.headers.get("X-Cache-Replay", "").lower() == "paced",
    )  # fmt: skip
    if isinstance(call, HttpResponse):
        return call
    state = await api_admit(request=request, tokens=call.reserve_tokens)
    if not state.admitted:
        return api_rate_limited(state=state)
    events = pipeline_run(request=call.request)
    if call.request.stream:  # tokens within a few ms leave as one chunk (the first at once)
        events = events_coalesced(events=events)
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
        return _failure_response(failure)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    if call.request.stream:
        response = StreamingHttpResponse(
            _sse(request, call, completion_id, head, events), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
    else:
        body = await _whole(request, call, completion_id, head, events)
        if isinstance(body, ErrorEvent):  # failed after its first token: an error, not a 200
            return _failure_response(body)
        response = JsonResponse(body)
    if start is not None:
        response["X-Cache"] = start.cache_tier
        response["X-Model"] = start.model
        if start.cache_similarity is not None:
            response["X-Cache-Similarity"] = f"{start.cache_similarity:.4f}"
    return response


def _failure_response(failure: ErrorEvent) -> HttpResponse:
    upstream_status = failure.kind.removeprefix("http_")
    if failure.kind == "request":
        status, kind = 400, "invalid_request_error"
    elif upstream_status.isdigit() and upstream_status.startswith("4"):
        status, kind = int(upstream_status), "invalid_request_error"  # passed on as refused
    elif failure.kind == "internal":
        status, kind = 500, "server_error"
    else:
        status, kind = _UPSTREAM_STATUS.get(failure.kind, 502), "upstream_error"
    return api_error(status=status, message=failure.message, kind=kind, code=failure.kind)


def _usage(request: HttpRequest, done: DoneEvent) -> dict[str, object]:
    """OpenAI's usage for the answer; it also corrects the key's admitted token estimate."""
    usage = done.usage
    total = usage.prompt_tokens + usage.completion_tokens
    api_tokens_used(request=request, tokens=total - usage.cached_tokens)
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": total,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens}}  # fmt: skip


def _latency(done: DoneEvent) -> dict[str, object]:
    return {"ttft_ms": done.outcome.ttft_ms, "total_ms": done.outcome.total_ms,
            "stages": done.stages, "cache": done.x_cache, "model": done.outcome.model,
            "request_id": REQUEST_ID.get()}  # fmt: skip


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
    # The chunk's fixed part, encoded once: per token only the text is encoded.
    prefix = f'data: {{"id": "{completion_id}", "object": "chat.completion.chunk", ' \
             f'"created": {created}, "model": '  # fmt: skip
    model_json = '""'
    async for event in _replayed(head, events):
        if isinstance(event, StartEvent):
            model_json = json.dumps(event.model)
            yield (f'{prefix}{model_json}, "choices": [{{"index": 0, "delta": {{"role": '
                   f'"assistant", "content": ""}}, "finish_reason": null}}]}}\n\n')  # fmt: skip
        elif isinstance(event, TokenEvent):
            if event.choices:  # tool-call deltas, other choices, logprobs: as the upstream sent
                choices = [{**c, "finish_reason": None} for c in event.choices]
                yield f'{prefix}{model_json}, "choices": {json.dumps(choices)}}}\n\n'
            else:
                yield (f'{prefix}{model_json}, "choices": [{{"index": 0, "delta": {{"content": '
                       f'{json.dumps(event.text)}}}, "finish_reason": null}}]}}\n\n')  # fmt: skip
        elif isinstance(event, DoneEvent):
            chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                     "model": event.outcome.model}  # fmt: skip
            reasons = event.finish_reasons or {0: "stop"}
            final = [{"index": i, "delta": {}, "finish_reason": reason}
                     for i, reason in sorted(reasons.items())]  # fmt: skip
            usage = _usage(request, event)
            yield _data({**chunk, "x_latency": _latency(event), "choices": final})
            if call.include_usage:
                yield _data({**chunk, "choices": [], "usage": usage})
        elif isinstance(event, ErrorEvent):
            api_tokens_used(request=request, tokens=call.prompt_tokens)
            yield _data({"error": {"message": event.message, "type": "upstream_error",
                                   "param": None, "code": event.kind}})  # fmt: skip
    yield "data: [DONE]\n\n"


async def _whole(
    request: HttpRequest, call: ChatCall, completion_id: str, head: list[object],
    events: AsyncIterator[object],
) -> dict[str, object] | ErrorEvent:  # fmt: skip
    done: DoneEvent | None = None
    tokens: list[TokenEvent] = []
    async for event in _replayed(head, events):
        if isinstance(event, TokenEvent):
            tokens.append(event)
        elif isinstance(event, DoneEvent):
            done = event
        elif isinstance(event, ErrorEvent):
            api_tokens_used(request=request, tokens=call.prompt_tokens)
            return event
    if done is None:
        return ErrorEvent(message="The answer was interrupted.", kind="internal", text="")
    return {
        "id": completion_id, "object": "chat.completion", "created": int(time.time()),
        "model": done.outcome.model, "x_latency": _latency(done),
        "choices": choices_collect(text=done.text, tokens=tokens, reasons=done.finish_reasons),
        "usage": _usage(request, done),
    }  # fmt: skip
