"""The timed event sequences of one chat reply: streamed, whole, or a fault.

Delays run against absolute deadlines, so that event-loop lag under many concurrent streams
does not pile up token after token. Every delay is multiplied by the time scale.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass
from typing import Any

from latency.simulator.faults import RETRY_AFTER_S, STALL_AFTER_TOKENS, STALL_HOLD_S, TIMEOUT_HOLD_S
from latency.simulator.profiles import LatencyPlan
from latency.simulator.requestlog import RequestLog, RequestRecord
from latency.simulator.streaming import ResponseEvents, ResponseStart
from latency.simulator.wire import (
    JSON_HEADERS,
    SSE_DONE,
    SSE_HEADERS,
    chunk_build,
    completion_build,
    error_build,
    json_encode,
    request_id_new,
    sse_encode,
    usage_build,
)

CLIENT_CLOSED = 499  # nginx's status for a client that left before the response started


@dataclass(frozen=True)
class Reply:
    completion_id: str
    model: str
    created: int
    tokens: tuple[str, ...]
    finish_reason: str
    prompt_tokens: int
    stream: bool
    include_usage: bool
    plan: LatencyPlan
    fault: str | None
    time_scale: float
    arrived_at: float  # the event loop's clock when the request arrived: delays count from here


class Pacer:
    """Sleeps until cumulative deadlines measured from an origin on the event loop's clock."""

    def __init__(self, *, time_scale: float, origin: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._origin = origin
        self._elapsed_ms = 0.0
        self._time_scale = time_scale

    async def wait(self, *, ms: float) -> None:
        self._elapsed_ms += ms
        delay = self._origin + self._elapsed_ms * self._time_scale / 1000 - self._loop.time()
        # Behind schedule, still yield once, so that one stream cannot starve the others.
        await asyncio.sleep(max(0.0, delay))


async def reply_events(*, reply: Reply, record: RequestRecord, log: RequestLog) -> ResponseEvents:
    """The events of a reply; a disconnect at any point closes its log record."""
    status = CLIENT_CLOSED
    if reply.fault in ("429", "500", "timeout"):
        events = _fault_events(reply=reply, record=record, log=log)
    elif reply.stream:
        events = _stream_events(reply=reply, record=record, log=log)
    else:
        events = _complete_events(reply=reply, record=record, log=log)
    try:
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, ResponseStart):
                    status = event.status
                yield event
    finally:
        log.record_finish(record=record, status=status, outcome="client_disconnected")


def _usage(reply: Reply) -> dict[str, Any]:
    return usage_build(prompt_tokens=reply.prompt_tokens, completion_tokens=len(reply.tokens))


def _stall_at(reply: Reply) -> int | None:
    return min(STALL_AFTER_TOKENS, len(reply.tokens)) if reply.fault == "stall" else None


async def _stream_events(*, reply: Reply, record: RequestRecord, log: RequestLog) -> ResponseEvents:
    pacer = Pacer(time_scale=reply.time_scale, origin=reply.arrived_at)

    def chunk(delta: dict[str, Any] | None, **extra: Any) -> bytes:
        return sse_encode(
            payload=chunk_build(
                completion_id=reply.completion_id,
                model=reply.model,
                created=reply.created,
                delta=delta,
                include_usage=reply.include_usage,
                **extra,
            )
        )

    await pacer.wait(ms=reply.plan.rtt_ms)
    yield ResponseStart(200, {**SSE_HEADERS, "x-request-id": request_id_new()})
    await pacer.wait(ms=reply.plan.ttft_ms)
    yield chunk({"role": "assistant", "content": "", "refusal": None})
    stall_at = _stall_at(reply)
    for index, token in enumerate(reply.tokens):
        if index:
            await pacer.wait(ms=reply.plan.itl_ms[index - 1])
        if index == stall_at:
            await pacer.wait(ms=STALL_HOLD_S * 1000)
        record.first_token_mark()
        yield chunk({"content": token})
        record.tokens_sent += 1
    if stall_at == len(reply.tokens):
        await pacer.wait(ms=STALL_HOLD_S * 1000)
    yield chunk({}, finish_reason=reply.finish_reason)
    if reply.include_usage:
        yield chunk(None, usage=_usage(reply))
    # Logged before [DONE], so a client that has read [DONE] finds the record already there.
    log.record_finish(record=record, status=200, outcome="ok")
    yield SSE_DONE


async def _complete_events(
    *, reply: Reply, record: RequestRecord, log: RequestLog
) -> ResponseEvents:
    plan = reply.plan
    hold_ms = STALL_HOLD_S * 1000 if reply.fault == "stall" else 0.0
    await Pacer(time_scale=reply.time_scale, origin=reply.arrived_at).wait(
        ms=plan.planned_ttft_ms + sum(plan.itl_ms) + hold_ms
    )
    record.first_token_mark()
    record.tokens_sent = len(reply.tokens)
    body = completion_build(
        completion_id=reply.completion_id,
        model=reply.model,
        created=reply.created,
        content="".join(reply.tokens),
        finish_reason=reply.finish_reason,
        usage=_usage(reply),
    )
    log.record_finish(record=record, status=200, outcome="ok")
    yield ResponseStart(200, {**JSON_HEADERS, "x-request-id": request_id_new()})
    yield json_encode(payload=body)


async def _fault_events(*, reply: Reply, record: RequestRecord, log: RequestLog) -> ResponseEvents:
    pacer = Pacer(time_scale=reply.time_scale, origin=reply.arrived_at)
    await pacer.wait(ms=reply.plan.rtt_ms)
    headers = {**JSON_HEADERS, "x-request-id": request_id_new()}
    if reply.fault == "429":
        status, outcome = 429, "error"
        retry_after_s = RETRY_AFTER_S * reply.time_scale
        headers["retry-after"] = str(max(1, math.ceil(retry_after_s)))
        headers["retry-after-ms"] = str(max(1, round(retry_after_s * 1000)))
        error = error_build(
            message=f"Rate limit reached for {reply.model}. Please try again shortly.",
            error_type="requests",
            code="rate_limit_exceeded",
        )
    elif reply.fault == "500":
        status, outcome = 500, "error"
        error = error_build(
            message="The server had an error while processing your request.",
            error_type="server_error",
            code="server_error",
        )
    else:
        # A silent upstream: no status line, no headers, nothing, until the hold runs out.
        await pacer.wait(ms=TIMEOUT_HOLD_S * 1000)
        status, outcome = 504, "timeout"
        error = error_build(message="Request timed out.", error_type="timeout", code="timeout")
    log.record_finish(record=record, status=status, outcome=outcome)
    yield ResponseStart(status, headers)
    yield json_encode(payload=error)
