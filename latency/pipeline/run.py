"""The request pipeline: one async generator of events, used by the websocket and the API edge.

The stages run in the order of DESIGN.md's diagram: model routing, exact and semantic cache,
retrieval, compression, the provider stream (fallback, hedging, breakers), trace. A stage
switched off is skipped and the trace records which strategies were on. Every run ends in one
`DoneEvent` or `ErrorEvent`, or is cancelled (stopped); each of the three is traced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np
from asgiref.sync import sync_to_async

from latency.cache.replay import cache_replay
from latency.cache.service import CacheLookup, cache_lookup, cache_remember
from latency.compression.service import CompressionOptions, prompt_compress
from latency.core.tokens import messages_tokens
from latency.errors import InternalError, SubsecondError, UpstreamError
from latency.events import ChatRequest, DoneEvent, Event, StartEvent, TokenEvent
from latency.observability.tracing import TraceRecorder, trace_save_soon
from latency.pipeline.state import AnswerRun, answer_failed, answer_outcome, upstream_cancel
from latency.rag.context import context_message_build
from latency.rag.retrieve import Retrieval, passages_retrieve
from latency.routing.choice import route_plan
from latency.routing.policy import policy_build
from latency.routing.resilient import resilient_stream
from latency.strategies import strategy_settings_get

logger = logging.getLogger(__name__)
# Compression is CPU work: a one-line chat message takes ~0.14 ms, less than a thread hop, but
# the bench's RAG prompts of 2-4k characters took 9 ms (median) on a busy 2-core machine, so
# anything longer than this goes to a thread and the event loop keeps serving others.
COMPRESS_OFF_LOOP_CHARS = 1000


async def pipeline_run(*, request: ChatRequest) -> AsyncIterator[Event]:
    """Answer one chat request; cancelling the consumer cancels the upstream call at once."""
    trace = TraceRecorder(
        received_at=request.received_at, feature=request.feature, source=request.source,
        user_id=request.user_id, request_id=request.request_id,
    )  # fmt: skip
    run = AnswerRun(request=request, trace=trace)
    try:
        async for event in _stages(run):
            yield event
    except (asyncio.CancelledError, GeneratorExit):
        # Stopped: the edge cancelled us, or closed us between two events (aclose). Either
        # way the upstream call goes now, not when the garbage collector gets to it.
        await upstream_cancel(run)
        if not trace.saved:  # closed after its end was already traced: nothing to add
            trace.set(status="stopped")
            trace_save_soon(recorder=trace)
        raise
    except SubsecondError as error:
        await upstream_cancel(run)
        kind = error.kind if isinstance(error, UpstreamError) else "request"
        yield answer_failed(run, error=error, kind=kind)
    except Exception as error:  # a fault below (database, embedding queue) or a bug
        logger.exception("the pipeline failed on request %s", trace.uid)
        await upstream_cancel(run)
        yield answer_failed(run, error=InternalError(), kind="internal", detail=repr(error))


async def _stages(run: AnswerRun) -> AsyncIterator[Event]:
    request, trace = run.request, run.trace
    run.settings = settings = await strategy_settings_get()
    trace.set(strategies={**settings.as_flags(), "cache_used": run.use_cache,
                          "rag_used": run.use_rag})  # fmt: skip
    # 1. Routing first: the model's tier scopes the cache, and the call may start right away.
    with trace.stage("routing"):
        run.route = await route_plan(
            feature=request.feature, messages=request.messages, settings=settings,
            pinned_model=request.model, grounded=run.use_rag,
        )  # fmt: skip
    primary = run.route.primary
    trace.set(model=primary.model.name, endpoint=primary.endpoint.name,
              region=primary.endpoint.region, decision=run.route.decision)  # fmt: skip
    # 2-3. Exact and semantic cache; a speculative model call runs alongside the lookup.
    speculate = run.lookup_wanted and settings.speculative_cache and not run.use_rag

    async def speculation_start() -> None:
        _upstream_open(run, await _compress(run, request.messages))

    lookup = await _lookup(run, on_exact_miss=speculation_start if speculate else None)
    if lookup.hit is not None:
        await upstream_cancel(run)
        async for event in cache_replay(
            hit=lookup.hit, trace=trace, settings=settings, paced=request.replay_paced,
            usage_prompt=run.prompt_estimate(),
        ):  # fmt: skip
            if isinstance(event, TokenEvent):
                run.parts.append(event.text)
            yield event
        return
    trace.set(cache_outcome="miss" if run.use_cache else "off")
    # 4-5. Retrieval and compression, then the provider stream (6).
    retrieval = Retrieval()
    if run.upstream is None:
        messages = request.messages
        if run.use_rag:
            # The cache lookup's embedding of the question, if it made one: one forward pass.
            retrieval = await _retrieve(run, lookup.embedding)
            context = context_message_build(passages=retrieval.passages)
            messages = [*messages[:-1], context, messages[-1]]
        _upstream_open(run, await _compress(run, messages))
    async for event in _answer_stream(run, lookup):
        yield event
    # 7. Remember the answer, write the trace (off the request path), tell the edge.
    yield await _answer_done(run, lookup, retrieval)


def _upstream_open(run: AnswerRun, messages: list[dict[str, str]]) -> None:
    request = run.request
    run.upstream = resilient_stream(
        plan=run.route, messages=messages,
        temperature=request.temperature, max_tokens=request.max_tokens,
        options=request.options, rich=request.rich,
        policy=policy_build(settings=run.settings, plan=run.route),
    )  # fmt: skip
    run.first_delta = asyncio.ensure_future(anext(run.upstream))


async def _compress(run: AnswerRun, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    settings, trace = run.settings, run.trace
    # A tool-calling history is a protocol (each tool result answers a call): left whole.
    tool_turns = any(m.get("role") == "tool" or m.get("tool_calls") for m in messages)
    if not settings.compression or tool_turns:
        tokens = messages_tokens(messages=messages)
        trace.set(tokens_before_compression=tokens, tokens_after_compression=tokens)
        return messages
    options = CompressionOptions(budget_tokens=settings.compression_budget_tokens)
    started_ms = trace.elapsed_ms()
    if sum(len(str(m.get("content", ""))) for m in messages) > COMPRESS_OFF_LOOP_CHARS:
        compress = sync_to_async(prompt_compress, thread_sensitive=False)
        result = await compress(messages=messages, question=run.question, options=options)
    else:
        result = prompt_compress(messages=messages, question=run.question, options=options)
    trace.stage_add("compression", ms=result.ms, started_ms=started_ms)
    trace.set(
        tokens_before_compression=result.tokens_before,
        tokens_after_compression=result.tokens_after,
    )
    return result.messages


async def _retrieve(run: AnswerRun, embedding: np.ndarray | None) -> Retrieval:
    settings, trace = run.settings, run.trace
    with trace.stage("retrieval"):
        retrieval = await passages_retrieve(
            query=run.question, user_id=run.request.user_id, k=settings.rag_top_k,
            fuse_fts=settings.rag_fuse_fts, embedding=embedding,
        )  # fmt: skip
    trace.stage_add("retrieval_embed", ms=retrieval.embed_ms)
    trace.stage_add("retrieval_search", ms=retrieval.search_ms)
    return retrieval


async def _lookup(
    run: AnswerRun, *, on_exact_miss: Callable[[], Awaitable[None]] | None = None
) -> CacheLookup:
    question = run.question
    if not run.lookup_wanted:  # cache off, or a regenerated answer
        return CacheLookup.skipped(query=question)
    lookup = await cache_lookup(
        query=question, scope=run.scope, settings=run.settings, trace=run.trace,
        on_exact_miss=on_exact_miss,
    )  # fmt: skip
    run.trace.set(cache_similarity=lookup.best_similarity)
    return lookup


async def _answer_stream(run: AnswerRun, lookup: CacheLookup) -> AsyncIterator[Event]:
    trace = run.trace
    async for delta in run.deltas():
        if delta.upstream_id:
            trace.set(upstream_id=delta.upstream_id)
        if delta.completion_tokens is not None:
            run.usage_set(prompt=delta.prompt_tokens, completion=delta.completion_tokens)
        run.finish_reasons.update(delta.finish_reasons)
        if not delta.visible:
            continue
        if not run.parts:
            winner = run.winner()
            yield StartEvent(
                model=winner.model.name, endpoint=winner.endpoint.name,
                cache_tier=trace.values["cache_outcome"],
                cache_similarity=lookup.best_similarity, streaming=run.settings.streaming,
            )  # fmt: skip
        run.parts.append(delta.text)
        yield TokenEvent(text=delta.text, ttft_ms=trace.first_token(), choices=delta.choices)


async def _answer_done(run: AnswerRun, lookup: CacheLookup, retrieval: Retrieval) -> DoneEvent:
    trace = run.trace
    total_ms = trace.finish()
    winner = run.winner()
    if trace.ttft_ms is not None:
        trace.stages["generation"] = round(total_ms - trace.ttft_ms, 3)
    text = run.text
    entry_id = None
    # A tool call is this request's alone: an answer that made one is never stored.
    if run.use_cache and text and "tool_calls" not in run.finish_reasons.values():
        entry = await cache_remember(
            lookup=lookup, query=run.question, scope=run.scope, response=text,
            model=winner.model.name, settings=run.settings,
            source_documents=retrieval.document_ids, citations=retrieval.citations(),
        )  # fmt: skip
        entry_id = entry.id if entry else None
    trace.set(status="ok")
    trace_uid = trace_save_soon(recorder=trace)
    outcome = answer_outcome(
        run, winner=winner, trace_uid=str(trace_uid), cache_entry_id=entry_id,
        retrieval=retrieval,
    )  # fmt: skip
    return DoneEvent(
        text=text, endpoint=winner.endpoint.name, outcome=outcome, stages=dict(trace.stages),
        usage=run.usage(), finish_reasons=run.finish_reasons,
    )  # fmt: skip
