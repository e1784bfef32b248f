"""The request pipeline: one async generator of events, used by the websocket and the API edge.

Stages run in the order of DESIGN.md's diagram; each is a small module with one job. Later
stages (cache, retrieval, compression, routing) slot in before the provider stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from latency.catalog import Endpoint, ModelSpec, catalog_load
from latency.errors import SubsecondError, UpstreamError
from latency.providers.stream import provider_stream
from latency.tracing import TraceRecorder, trace_save

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]
    received_at: float
    feature: str = "chat"
    user_id: int | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    source: str = "ws"


@dataclass(frozen=True)
class StageEvent:
    name: str
    ms: float


@dataclass(frozen=True)
class TokenEvent:
    text: str
    ttft_ms: float


@dataclass(frozen=True)
class DoneEvent:
    text: str
    model: str
    endpoint: str
    endpoint_label: str
    ttft_ms: float | None
    total_ms: float
    cache: str
    trace_id: int
    stages: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorEvent:
    message: str
    kind: str
    text: str  # whatever had streamed before the failure, kept for the user


Event = StageEvent | TokenEvent | DoneEvent | ErrorEvent


def _model_choose(request: ChatRequest) -> tuple[ModelSpec, Endpoint]:
    catalog = catalog_load()
    spec = (
        catalog.model_get(request.model)
        if request.model
        else catalog.model_default(request.feature)
    )
    return spec, spec.endpoints[0]


async def pipeline_run(*, request: ChatRequest) -> AsyncIterator[Event]:
    """Answer one chat request; cancelling the consumer cancels the upstream call at once."""
    trace = TraceRecorder(
        received_at=request.received_at,
        feature=request.feature,
        source=request.source,
        user_id=request.user_id,
    )
    parts: list[str] = []
    try:
        with trace.stage("routing"):
            spec, endpoint = _model_choose(request)
        trace.set(model=spec.name, endpoint=endpoint.name, region=endpoint.region)
        yield StageEvent(name="routing", ms=trace.stages["routing"])
        async for delta in provider_stream(
            model=spec,
            endpoint=endpoint,
            messages=request.messages,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
        ):
            if delta.upstream_id:
                trace.set(upstream_id=delta.upstream_id)
            if delta.completion_tokens is not None:
                trace.set(
                    tokens_prompt=delta.prompt_tokens, tokens_completion=delta.completion_tokens
                )
            if delta.text:
                parts.append(delta.text)
                yield TokenEvent(text=delta.text, ttft_ms=trace.first_token())
        total_ms = trace.finish()
        if trace.ttft_ms is not None:
            trace.stages["generation"] = round(total_ms - trace.ttft_ms, 3)
        trace.set(status="ok", cache_outcome="off")
        saved = await trace_save(recorder=trace)
        yield DoneEvent(
            text="".join(parts),
            model=spec.name,
            endpoint=endpoint.name,
            endpoint_label=endpoint.label,
            ttft_ms=trace.ttft_ms,
            total_ms=total_ms,
            cache="off",
            trace_id=saved.id,
            stages=dict(trace.stages),
        )
    except asyncio.CancelledError:
        trace.set(status="stopped")
        await _trace_save_quietly(trace)
        raise
    except SubsecondError as error:
        kind = error.kind if isinstance(error, UpstreamError) else "request"
        trace.set(status="failed", error=str(error))
        await _trace_save_quietly(trace)
        yield ErrorEvent(message=str(error), kind=kind, text="".join(parts))


async def _trace_save_quietly(trace: TraceRecorder) -> None:
    # A trace that cannot be written must never take the user's answer down with it.
    try:
        await asyncio.shield(trace_save(recorder=trace))
    except Exception:
        logger.exception("could not save a request trace")
