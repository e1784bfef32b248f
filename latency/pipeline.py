"""The request pipeline: one async generator of events, used by the websocket and the API edge.

Stages run in the order of DESIGN.md's diagram: exact cache, semantic cache, retrieval,
compression, routing, provider stream, trace. A stage switched off is skipped and the trace
records which strategies were on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator

import numpy as np

from latency.cache.normalize import query_normalize
from latency.cache.scope import CacheScope, cache_scope_build
from latency.cache.service import (
    CacheHit,
    CacheLookup,
    cache_hit_record,
    cache_lookup,
    cache_remember,
)
from latency.compression.service import CompressionOptions, prompt_compress
from latency.core.tokens import messages_tokens
from latency.errors import SubsecondError, UpstreamError
from latency.events import (
    ChatRequest,
    DoneEvent,
    ErrorEvent,
    Event,
    StageEvent,
    StartEvent,
    TokenEvent,
)
from latency.models import StrategySettings
from latency.observability.tracing import TraceRecorder, trace_save_soon
from latency.providers.catalog import Endpoint, ModelSpec
from latency.providers.stream import StreamDelta
from latency.rag.retrieve import Retrieval, context_message, passages_retrieve
from latency.routing.choice import RoutePlan, route_plan
from latency.routing.resilient import ResilientStream, policy_build, resilient_stream
from latency.strategies import strategy_settings_get

__all__ = ["ChatRequest", "DoneEvent", "ErrorEvent", "Event", "StageEvent", "StartEvent",
           "TokenEvent", "pipeline_run"]  # fmt: skip

logger = logging.getLogger(__name__)
_REPLAY_TOKEN = re.compile(r"\s*\S+")


async def _model_choose(request: ChatRequest, settings: StrategySettings) -> RoutePlan:
    """The feature's budget, live estimates and endpoint health pick the model (latency/routing.py);
    a pinned model leaves only the endpoint to choose."""
    return await route_plan(
        feature=request.feature, messages=request.messages, settings=settings,
        pinned_model=request.model,
    )  # fmt: skip


def _upstream_open(
    request: ChatRequest, route: RoutePlan, settings: StrategySettings,
    messages: list[dict[str, str]],
) -> ResilientStream:  # fmt: skip
    # Fallback, hedging, breakers and the stall cut wrap provider_stream (providers/resilient.py).
    return resilient_stream(
        plan=route, messages=messages,
        temperature=request.temperature, max_tokens=request.max_tokens,
        policy=policy_build(settings=settings, plan=route),
    )  # fmt: skip


def _route_outcome(
    upstream: AsyncIterator[StreamDelta] | None, route: RoutePlan, trace: TraceRecorder
) -> tuple[ModelSpec, Endpoint]:
    """Record which attempt won and what it took (model, endpoint, region, decision, hedged,
    fallbacks, upstream_ttft_ms) in the trace; the winner's model and endpoint."""
    if isinstance(upstream, ResilientStream):
        trace.set(**upstream.outcome.trace_fields(plan=route))
        if upstream.outcome.winner is not None:
            return upstream.outcome.winner.model, upstream.outcome.winner.endpoint
    return route.primary.model, route.primary.endpoint


def _cache_usable(request: ChatRequest, settings: StrategySettings) -> bool:
    if not (settings.exact_cache or settings.semantic_cache):
        return False
    temperature = request.temperature
    return temperature is None or temperature <= settings.cache_max_temperature


def _cache_scope(
    request: ChatRequest, spec: ModelSpec, settings: StrategySettings, use_rag: bool
) -> CacheScope:
    # An answer that may rest on the user's documents is served to that user only.
    private = use_rag or not settings.cache_share_across_users
    return cache_scope_build(
        model_scope=spec.name if request.model else f"{request.feature}:{spec.tier}",
        feature=request.feature,
        messages=request.messages,
        owner_id=request.user_id if private else None,
    )


def _compress(
    messages: list[dict[str, str]], question: str, settings: StrategySettings,
    trace: TraceRecorder,
) -> list[dict[str, str]]:  # fmt: skip
    if not settings.compression:
        tokens = messages_tokens(messages=messages)
        trace.set(tokens_before_compression=tokens, tokens_after_compression=tokens)
        return messages
    options = CompressionOptions(budget_tokens=settings.compression_budget_tokens)
    result = prompt_compress(messages=messages, question=question, options=options)
    trace.stages["compression"] = round(result.ms, 3)
    trace.set(
        tokens_before_compression=result.tokens_before,
        tokens_after_compression=result.tokens_after,
    )
    return result.messages


async def _retrieve(
    request: ChatRequest, question: str, settings: StrategySettings, trace: TraceRecorder,
    embedding: np.ndarray | None,
) -> Retrieval:  # fmt: skip
    with trace.stage("retrieval"):
        retrieval = await passages_retrieve(
            query=question, user_id=request.user_id, k=settings.rag_top_k,
            fuse_fts=settings.rag_fuse_fts, embedding=embedding,
        )  # fmt: skip
    trace.stages["retrieval_embed"] = retrieval.embed_ms
    trace.stages["retrieval_search"] = retrieval.search_ms
    return retrieval


async def pipeline_run(*, request: ChatRequest) -> AsyncIterator[Event]:
    """Answer one chat request; cancelling the consumer cancels the upstream call at once."""
    trace = TraceRecorder(
        received_at=request.received_at, feature=request.feature, source=request.source,
        user_id=request.user_id,
    )  # fmt: skip
    parts: list[str] = []
    upstream: AsyncIterator[StreamDelta] | None = None
    first_delta: asyncio.Future[StreamDelta] | None = None
    try:
        settings = await strategy_settings_get()
        use_cache = _cache_usable(request, settings)
        use_rag = request.use_documents and settings.rag
        trace.set(strategies={**settings.as_flags(), "cache_used": use_cache, "rag_used": use_rag})
        with trace.stage("routing"):
            route = await _model_choose(request, settings)
        spec, endpoint = route.primary.model, route.primary.endpoint
        trace.set(
            model=spec.name, endpoint=endpoint.name, region=endpoint.region,
            decision=route.decision,
        )  # fmt: skip
        question = str(request.messages[-1].get("content", ""))
        scope = _cache_scope(request, spec, settings, use_rag)
        messages = request.messages
        lookup_wanted = use_cache and not request.cache_bypass  # a regenerated answer skips it
        if lookup_wanted and settings.speculative_cache and not use_rag:
            # The model call runs alongside the lookup; a hit cancels it, a miss pays nothing.
            messages = _compress(messages, question, settings, trace)
            upstream = _upstream_open(request, route, settings, messages)
            first_delta = asyncio.ensure_future(anext(upstream))
        if lookup_wanted:
            lookup = await cache_lookup(query=question, scope=scope, settings=settings, trace=trace)
            trace.set(cache_similarity=lookup.best_similarity)
        else:
            lookup = CacheLookup(hit=None, normalized=query_normalize(text=question))
        if lookup.hit is not None:
            await _upstream_cancel(first_delta, upstream)
            async for event in _answer_replay(lookup.hit, trace, settings, parts):
                yield event
            return
        trace.set(cache_outcome="miss" if use_cache else "off")
        retrieval = Retrieval()
        if upstream is None:
            if use_rag:
                # The cache lookup's embedding of the question, if it made one: one pass.
                retrieval = await _retrieve(request, question, settings, trace, lookup.embedding)
                messages = [*messages[:-1], context_message(retrieval=retrieval), messages[-1]]
            messages = _compress(messages, question, settings, trace)
            upstream = _upstream_open(request, route, settings, messages)
        for name, ms in list(trace.stages.items()):  # what ran before the model call
            yield StageEvent(name=name, ms=ms)
        async for delta in _deltas(first_delta, upstream):
            if delta.upstream_id:
                trace.set(upstream_id=delta.upstream_id)
            if delta.completion_tokens is not None:
                trace.set(
                    tokens_prompt=delta.prompt_tokens, tokens_completion=delta.completion_tokens
                )
            if delta.text:
                if not parts:
                    spec, endpoint = _route_outcome(upstream, route, trace)
                    yield StartEvent(
                        model=spec.name, endpoint=endpoint.name,
                        cache_tier=trace.values["cache_outcome"],
                        cache_similarity=lookup.best_similarity, streaming=settings.streaming,
                    )  # fmt: skip
                parts.append(delta.text)
                yield TokenEvent(text=delta.text, ttft_ms=trace.first_token())
        total_ms = trace.finish()
        spec, endpoint = _route_outcome(upstream, route, trace)
        if trace.ttft_ms is not None:
            trace.stages["generation"] = round(total_ms - trace.ttft_ms, 3)
        text = "".join(parts)
        entry_id = None
        if use_cache and text:
            entry = await cache_remember(
                lookup=lookup, query=question, scope=scope, response=text, model=spec.name,
                settings=settings, source_documents=retrieval.document_ids,
            )  # fmt: skip
            entry_id = entry.id if entry else None
        trace.set(status="ok")
        trace_uid = trace_save_soon(recorder=trace)
        yield DoneEvent(
            text=text, model=spec.name, endpoint=endpoint.name,
            endpoint_label=endpoint.label, ttft_ms=trace.ttft_ms, total_ms=total_ms,
            cache="miss" if use_cache else "off", cache_tier=trace.values["cache_outcome"],
            trace_uid=str(trace_uid), cache_entry_id=entry_id, stages=dict(trace.stages),
            citations=_citations(retrieval),
            retrieval_embed_ms=retrieval.embed_ms if use_rag else None,
            retrieval_search_ms=retrieval.search_ms if use_rag else None,
            tokens_before=trace.values.get("tokens_before_compression"),
            tokens_after=trace.values.get("tokens_after_compression"),
            decision=str(trace.values.get("decision", "")),
        )  # fmt: skip
    except asyncio.CancelledError:
        await _upstream_cancel(first_delta, upstream)
        if upstream is not None:
            _route_outcome(upstream, route, trace)
        trace.set(status="stopped")
        trace_save_soon(recorder=trace)
        raise
    except SubsecondError as error:
        kind = error.kind if isinstance(error, UpstreamError) else "request"
        if upstream is not None:
            _route_outcome(upstream, route, trace)
        trace.set(status="failed", error=str(error))
        trace_save_soon(recorder=trace)
        yield ErrorEvent(message=str(error), kind=kind, text="".join(parts))


def _citations(retrieval: Retrieval) -> list[dict[str, object]]:
    return [
        {"n": n, "chunk_id": p.chunk_id, "document_id": p.document_id, "title": p.title,
         "heading": p.heading}  # fmt: skip
        for n, p in enumerate(retrieval.passages, start=1)
    ]


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
        cache_similarity=candidate.similarity, streaming=settings.streaming,
    )  # fmt: skip
    for index, match in enumerate(_REPLAY_TOKEN.finditer(candidate.response)):
        if index and pause_s:
            await asyncio.sleep(pause_s)
        parts.append(match.group())
        yield TokenEvent(text=match.group(), ttft_ms=trace.first_token())
    total_ms = trace.finish()
    trace.set(status="ok")
    trace_uid = trace_save_soon(recorder=trace)
    await cache_hit_record(hit=hit)
    yield DoneEvent(
        text=candidate.response, model=candidate.model, endpoint="cache", endpoint_label="cached",
        ttft_ms=trace.ttft_ms, total_ms=total_ms, cache="hit", cache_tier=hit.tier,
        trace_uid=str(trace_uid), cache_similarity=candidate.similarity,
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
