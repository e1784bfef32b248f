"""The timed event sequences of one chat reply: streamed, whole, or a refusal or fault.

Delays run against absolute deadlines, so that event-loop lag under many concurrent streams
does not pile up token after token. Every delay is multiplied by the time scale. A reply that
reaches the model first waits for a slot of its endpoint; that wait moves its whole schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from latency.simulator.capacity import SlotQueue
from latency.simulator.choices import ChoicePlan
from latency.simulator.faults import (
    BREAKS,
    RETRY_AFTER_S,
    STALL_AFTER_TOKENS,
    STALL_HOLD_S,
    TIMEOUT_HOLD_S,
)
from latency.simulator.logprobs import logprobs_build
from latency.simulator.profiles import LatencyPlan
from latency.simulator.ratelimit import RateVerdict, duration_format
from latency.simulator.requestlog import RequestLog, RequestRecord
from latency.simulator.streaming import ConnectionDrop, ResponseEvents, ResponseStart
from latency.simulator.wire import (
    JSON_HEADERS,
    SSE_DONE,
    SSE_HEADERS,
    chunk_build,
    chunk_choice_build,
    completion_build,
    error_build,
    json_encode,
    message_choice_build,
    request_id_new,
    sse_encode,
    tool_call_build,
    usage_build,
)

CLIENT_CLOSED = 499  # nginx's status for a client that left before the response started
Delta = tuple[dict[str, Any], dict[str, Any] | None]  # a delta and its logprobs


@dataclass(frozen=True)
class Reply:
    completion_id: str
    model: str
    created: int
    choices: tuple[ChoicePlan, ...]
    prompt_tokens: int
    stream: bool
    include_usage: bool
    plan: LatencyPlan
    fault: str | None
    time_scale: float
    arrived_at: float  # the event loop's clock when the request arrived: delays count from here
    top_logprobs: int | None = None  # None: no logprobs
    headers: dict[str, str] = field(default_factory=dict)  # the rate-limit headers
    refusal: RateVerdict | None = None  # the rate limits refused it: a 429 after the RTT
    slots: SlotQueue | None = None  # the endpoint's queue, None when it answers with an error

    @property
    def completion_tokens(self) -> int:
        return sum(choice.completion_tokens for choice in self.choices)

    @property
    def steps(self) -> int:
        return max((choice.steps for choice in self.choices), default=0)


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
    try:
        if reply.refusal is not None or reply.fault in ("429", "500", "timeout"):
            events = _error_events(reply=reply, record=record, log=log, origin=reply.arrived_at)
            async with contextlib.aclosing(events):
                async for event in events:
                    status = event.status if isinstance(event, ResponseStart) else status
                    yield event
            return
        loop = asyncio.get_running_loop()
        queued_at = loop.time()
        slot = reply.slots.slot() if reply.slots is not None else contextlib.nullcontext()
        async with slot:
            waited_s = loop.time() - queued_at
            _queue_record(record=record, queue_ms=waited_s * 1000)
            origin = reply.arrived_at + waited_s
            make = _stream_events if reply.stream else _complete_events
            events = make(reply=reply, record=record, log=log, origin=origin)
            async with contextlib.aclosing(events):
                async for event in events:
                    status = event.status if isinstance(event, ResponseStart) else status
                    yield event
    finally:
        log.record_finish(record=record, status=status, outcome="client_disconnected")


def _queue_record(*, record: RequestRecord, queue_ms: float) -> None:
    """The queue wait is part of what the upstream cost before the first token."""
    record.queue_ms = round(queue_ms, 3)
    if record.planned_ttft_ms is not None:
        record.planned_ttft_ms = round(record.planned_ttft_ms + queue_ms, 3)
    if record.planned_total_ms is not None:
        record.planned_total_ms = round(record.planned_total_ms + queue_ms, 3)


def _usage(reply: Reply) -> dict[str, Any]:
    return usage_build(prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens)


def _logprobs(reply: Reply, choice: ChoicePlan, start: int, tokens: tuple[str, ...]) -> Any:
    if reply.top_logprobs is None:
        return None
    salt = hashlib.sha256(f"{reply.model}:{choice.index}:{''.join(choice.tokens)}".encode())
    return logprobs_build(tokens=tokens, start=start, salt=salt.hexdigest(), top=reply.top_logprobs)


def _choice_deltas(reply: Reply, choice: ChoicePlan) -> tuple[dict[str, Any], list[Delta]]:
    """The first delta of a choice (sent at TTFT) and its timed deltas, as OpenAI streams them."""
    if not choice.tool_calls:
        first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        steps = [
            ({"content": token}, _logprobs(reply, choice, position, (token,)))
            for position, token in enumerate(choice.tokens)
        ]
        return first, steps
    headers, steps = [], []
    for index, call in enumerate(choice.tool_calls):
        header = {"index": index, **tool_call_build(call_id=call.id, name=call.name, arguments="")}
        headers.append(header)
        if index:
            steps.append(({"tool_calls": [header]}, None))
        steps += [
            ({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, None)
            for piece in call.fragments
        ]
    first = {"role": "assistant", "content": None, "tool_calls": headers[:1], "refusal": None}
    return first, steps


async def _stream_events(
    *, reply: Reply, record: RequestRecord, log: RequestLog, origin: float
) -> ResponseEvents:
    pacer = Pacer(time_scale=reply.time_scale, origin=origin)

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return sse_encode(
            payload=chunk_build(
                completion_id=reply.completion_id,
                model=reply.model,
                created=reply.created,
                choices=choices,
                include_usage=reply.include_usage,
                **extra,
            )
        )

    await pacer.wait(ms=reply.plan.rtt_ms)
    yield ResponseStart(200, {**SSE_HEADERS, **reply.headers, "x-request-id": request_id_new()})
    await pacer.wait(ms=reply.plan.prefill_ms + reply.plan.ttft_ms)
    timed: list[list[Delta]] = []
    for choice in reply.choices:
        first, steps = _choice_deltas(reply, choice)
        timed.append(steps)
        yield chunk([chunk_choice_build(index=choice.index, delta=first)])
    stall_at = min(STALL_AFTER_TOKENS, reply.steps) if reply.fault == "stall" else None
    break_at = min(STALL_AFTER_TOKENS, reply.steps) if reply.fault in BREAKS else None
    for step in range(reply.steps):
        if step:
            await pacer.wait(ms=reply.plan.itl_ms[step - 1])
        if step == stall_at:
            await pacer.wait(ms=STALL_HOLD_S * 1000)
        if step == break_at:
            break
        record.first_token_mark()
        for choice, steps in zip(reply.choices, timed, strict=True):
            if step < len(steps):
                delta, logprobs = steps[step]
                yield chunk(
                    [chunk_choice_build(index=choice.index, delta=delta, logprobs=logprobs)]
                )
                record.tokens_sent += 1
    if stall_at is not None and stall_at == reply.steps:
        await pacer.wait(ms=STALL_HOLD_S * 1000)
    if break_at is not None:
        log.record_finish(record=record, status=200, outcome=reply.fault or "")
        if reply.fault == "malformed":
            yield b'data: {"id": "' + reply.completion_id.encode() + b'", "choices": [{"delta\n\n'
        else:
            yield ConnectionDrop()
        return
    for choice in reply.choices:
        yield chunk(
            [chunk_choice_build(index=choice.index, delta={}, finish_reason=choice.finish_reason)]
        )
    if reply.include_usage:
        yield chunk([], usage=_usage(reply))
    # Logged before [DONE], so a client that has read [DONE] finds the record already there.
    log.record_finish(record=record, status=200, outcome="ok")
    yield SSE_DONE


async def _complete_events(
    *, reply: Reply, record: RequestRecord, log: RequestLog, origin: float
) -> ResponseEvents:
    plan = reply.plan
    hold_ms = STALL_HOLD_S * 1000 if reply.fault == "stall" else 0.0
    await Pacer(time_scale=reply.time_scale, origin=origin).wait(
        ms=plan.planned_ttft_ms + sum(plan.itl_ms) + hold_ms
    )
    record.first_token_mark()
    record.tokens_sent = reply.completion_tokens
    choices = [
        message_choice_build(
            index=choice.index,
            content=None if choice.tool_calls else "".join(choice.tokens),
            finish_reason=choice.finish_reason,
            tool_calls=[
                tool_call_build(call_id=call.id, name=call.name, arguments=call.arguments)
                for call in choice.tool_calls
            ],
            logprobs=_logprobs(reply, choice, 0, choice.tokens),
        )
        for choice in reply.choices
    ]
    body = completion_build(
        completion_id=reply.completion_id,
        model=reply.model,
        created=reply.created,
        choices=choices,
        usage=_usage(reply),
    )
    log.record_finish(record=record, status=200, outcome=reply.fault if reply.fault in BREAKS
                      else "ok")  # fmt: skip
    yield ResponseStart(200, {**JSON_HEADERS, **reply.headers, "x-request-id": request_id_new()})
    encoded = json_encode(payload=body)
    if reply.fault in BREAKS:  # the body's first half, then not JSON, or the connection gone
        yield encoded[: len(encoded) // 2] + (b"\n" if reply.fault == "malformed" else b"")
        if reply.fault == "reset":
            yield ConnectionDrop()
        return
    yield encoded


def _retry_headers(*, seconds: float) -> dict[str, str]:
    # Retry-After is whole seconds by HTTP's rule; the SDKs prefer retry-after-ms when present.
    return {
        "retry-after": str(max(1, math.ceil(seconds))),
        "retry-after-ms": str(max(1, round(seconds * 1000))),
    }


async def _error_events(
    *, reply: Reply, record: RequestRecord, log: RequestLog, origin: float
) -> ResponseEvents:
    pacer = Pacer(time_scale=reply.time_scale, origin=origin)
    await pacer.wait(ms=reply.plan.rtt_ms)
    headers = {**JSON_HEADERS, **reply.headers, "x-request-id": request_id_new()}
    refusal = reply.refusal
    if refusal is not None:
        status, outcome = 429, "rate_limited"
        headers.update(_retry_headers(seconds=refusal.retry_after_s))
        unit = "RPM" if refusal.kind == "requests" else "TPM"
        error = error_build(
            message=f"Rate limit reached for {reply.model} on {refusal.kind} per min ({unit}): "
            f"Limit {refusal.limit}. Please try again in "
            f"{duration_format(seconds=refusal.retry_after_s)}.",
            error_type=refusal.kind or "requests",
            code="rate_limit_exceeded",
        )
    elif reply.fault == "429":
        status, outcome = 429, "error"
        headers.update(_retry_headers(seconds=RETRY_AFTER_S * reply.time_scale))
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
