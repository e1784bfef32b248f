"""The request pipeline: one async generator of events, used by the websocket and the API edge.

Stages run in the order of DESIGN.md's diagram: exact cache, semantic cache, (retrieval,
compression,) routing, provider stream, trace. A stage switched off is skipped and the trace
records which strategies were on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from latency.cache.normalize import query_normalize
from latency.cache.scope import CacheScope, cache_scope_build
from latency.cache.service import (
    CacheHit,
    CacheLookup,
    cache_hit_record,
    cache_lookup,
    cache_remember,
)
from latency.catalog import Endpoint, ModelSpec, catalog_load
from latency.errors import SubsecondError, UpstreamError
from latency.models import StrategySettings
from latency.providers.stream import StreamDelta, provider_stream
from latency.strategies import strategy_settings_get
from latency.tracing import TraceRecorder, trace_save

logger = logging.getLogger(__name__)
_REPLAY_TOKEN = re.compile(r"\s*\S+")


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
    stream: bool = True
    cache_bypass: bool = False  # "wrong answer": regenerate without consulting the cache


@dataclass(frozen=True)
class StageEvent:
    name: str
    ms: float


@dataclass(frozen=True)
class StartEvent:
    """Sent once, just before the first token: who is answering, and from where."""

    model: str
    endpoint: str
    cache_tier: str  # exact, semantic, miss or off (the X-Cache header)
    cache_similarity: float | None


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
    cache: str  # hit, miss or off (the websocket contract)
    cache_tier: str  # exact, semantic, miss or off (the X-Cache header)
    trace_id: int
    cache_similarity: float | None = None
    cache_matched_query: str = ""
    cache_entry_id: int | None = None
    stages: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorEvent:
    message: str
    kind: str
    text: str  # whatever had streamed before the failure, kept for the user


Event = StageEvent | StartEvent | TokenEvent | DoneEvent | ErrorEvent


def _model_choose(request: ChatRequest) -> tuple[ModelSpec, Endpoint]:
    catalog = catalog_load()
    if request.model:
        spec = catalog.model_get(request.model)
    else:
        spec = catalog.model_default(request.feature)
    return spec, spec.endpoints[0]


def _cache_usable(request: ChatRequest, settings: StrategySettings) -> bool:
    if not (settings.exact_cache or settings.semantic_cache):
        return False
    temperature = request.temperature
    return temperature is None or temperature <= settings.cache_max_temperature


def _cache_scope(request: ChatRequest, spec: ModelSpec, settings: StrategySettings) -> CacheScope:
    private = not settings.cache_share_across_users
    return cache_scope_build(
        model_scope=spec.name if request.model else f"{request.feature}:{spec.tier}",
        feature=request.feature,
        messages=request.messages,
        owner_id=request.user_id if private else None,
    )


async def pipeline_run(*, request: ChatRequest) -> AsyncIterator[Event]:
    """Answer one chat request; cancelling the consumer cancels the upstream call at once."""
    trace = TraceRecorder(
        received_at=request.received_at,
        feature=request.feature,
        source=request.source,
        user_id=request.user_id,
    )
    parts: list[str] = []
    upstream: AsyncIterator[StreamDelta] | None = None
    first_delta: asyncio.Future[StreamDelta] | None = None
    try:
        settings = await strategy_settings_get()
        use_cache = _cache_usable(request, settings)
        trace.set(strategies={**settings.as_flags(), "cache_used": use_cache})
        with trace.stage("routing"):
            spec, endpoint = _model_choose(request)
        trace.set(model=spec.name, endpoint=endpoint.name, region=endpoint.region)
        question = str(request.messages[-1].get("content", ""))
        scope = _cache_scope(request, spec, settings)
        upstream = provider_stream(
            model=spec, endpoint=endpoint, messages=request.messages,
            temperature=request.temperature, max_tokens=request.max_tokens,
        )  # fmt: skip
        if use_cache and settings.speculative_cache and not request.cache_bypass:
            # The model call runs alongside the lookup; a hit cancels it, a miss pays nothing.
            first_delta = asyncio.ensure_future(anext(upstream))
        lookup = CacheLookup(hit=None, normalized=query_normalize(text=question))
        if use_cache and not request.cache_bypass:  # a regenerated answer skips the lookup
            lookup = await cache_lookup(query=question, scope=scope, settings=settings, trace=trace)
            trace.set(cache_similarity=lookup.best_similarity)
        if lookup.hit is not None:
            await _upstream_cancel(first_delta, upstream)
            async for event in _answer_replay(lookup.hit, trace, settings, parts):
                yield event
            return
        trace.set(cache_outcome="miss" if use_cache else "off")
        async for delta in _deltas(first_delta, upstream):
            if delta.upstream_id:
                trace.set(upstream_id=delta.upstream_id)
            if delta.completion_tokens is not None:
                trace.set(
                    tokens_prompt=delta.prompt_tokens, tokens_completion=delta.completion_tokens
                )
            if delta.text:
                if not parts:
                    yield StartEvent(
                        model=spec.name, endpoint=endpoint.name,
                        cache_tier=trace.values["cache_outcome"],
                        cache_similarity=lookup.best_similarity,
                    )  # fmt: skip
                parts.append(delta.text)
                yield TokenEvent(text=delta.text, ttft_ms=trace.first_token())
        total_ms = trace.finish()
        if trace.ttft_ms is not None:
            trace.stages["generation"] = round(total_ms - trace.ttft_ms, 3)
        text = "".join(parts)
        entry_id = None
        if use_cache and text:
            entry = await cache_remember(
                lookup=lookup, query=question, scope=scope, response=text, model=spec.name,
                settings=settings,
            )  # fmt: skip
            entry_id = entry.id
        trace.set(status="ok")
        saved = await trace_save(recorder=trace)
        yield DoneEvent(
            text=text, model=spec.name, endpoint=endpoint.name,
            endpoint_label=endpoint.label, ttft_ms=trace.ttft_ms, total_ms=total_ms,
            cache="miss" if use_cache else "off", cache_tier=trace.values["cache_outcome"],
            trace_id=saved.id, cache_entry_id=entry_id, stages=dict(trace.stages),
        )  # fmt: skip
    except asyncio.CancelledError:
        await _upstream_cancel(first_delta, upstream)
        trace.set(status="stopped")
        await _trace_save_quietly(trace)
        raise
    except SubsecondError as error:
        kind = error.kind if isinstance(error, UpstreamError) else "request"
        trace.set(status="failed", error=str(error))
        await _trace_save_quietly(trace)
        yield ErrorEvent(message=str(error), kind=kind, text="".join(parts))


async def _deltas(
    first: asyncio.Future[StreamDelta] | None, upstream: AsyncIterator[StreamDelta]
) -> AsyncIterator[StreamDelta]:
    if first is not None:
        try:
            yield await first
        except StopAsyncIteration:
            return
    async for delta in upstream:
        yield delta


async def _answer_replay(
    hit: CacheHit, trace: TraceRecorder, settings: StrategySettings, parts: list[str]
) -> AsyncIterator[Event]:
    """Stream a cached answer like a live one: paced word chunks, not one blob."""
    candidate = hit.candidate
    trace.set(
        cache_outcome=hit.tier, cache_similarity=candidate.similarity, model=candidate.model,
        endpoint="cache", region="", cache_note=f"matched: {candidate.query[:150]}",
    )  # fmt: skip
    pause_s = settings.cache_replay_ms_per_token / 1000
    yield StartEvent(
        model=candidate.model, endpoint="cache", cache_tier=hit.tier,
        cache_similarity=candidate.similarity,
    )  # fmt: skip
    for index, match in enumerate(_REPLAY_TOKEN.finditer(candidate.response)):
        if index and pause_s:
            await asyncio.sleep(pause_s)
        parts.append(match.group())
        yield TokenEvent(text=match.group(), ttft_ms=trace.first_token())
    total_ms = trace.finish()
    trace.set(status="ok")
    saved = await trace_save(recorder=trace)
    await cache_hit_record(hit=hit)
    yield DoneEvent(
        text=candidate.response, model=candidate.model, endpoint="cache", endpoint_label="cached",
        ttft_ms=trace.ttft_ms, total_ms=total_ms, cache="hit", cache_tier=hit.tier,
        trace_id=saved.id, cache_similarity=candidate.similarity,
        cache_matched_query=candidate.query, cache_entry_id=candidate.entry_id,
        stages=dict(trace.stages),
    )  # fmt: skip


async def _upstream_cancel(
    first: asyncio.Future[StreamDelta] | None, upstream: AsyncIterator[StreamDelta] | None
) -> None:
    if first is not None and not first.done():
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, SubsecondError):
            await first
    if upstream is not None:
        with contextlib.suppress(Exception):
            await upstream.aclose()  # type: ignore[attr-defined]


async def _trace_save_quietly(trace: TraceRecorder) -> None:
    # A trace that cannot be written must never take the user's answer down with it.
    try:
        await asyncio.shield(trace_save(recorder=trace))
    except Exception:
        logger.exception("could not save a request trace")
