"""Serve a cache hit: the whole answer at once, recorded at the time it was actually served.

The trace, `data-total-ms`, the dashboard and /metrics all see the real serve time. A client
that wants a hit to look like a live stream asks for it (`replay_paced`; the API's
`X-Cache-Replay: paced` header): the words then follow at `cache_replay_ms_per_token`, after
the trace is written, so the pacing is cosmetic and never measured as latency.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from latency.cache.service import CacheCandidate, CacheHit, cache_hit_record
from latency.core.tokens import tokens_count
from latency.events import AnswerOutcome, DoneEvent, Event, StartEvent, TokenEvent, Usage
from latency.models import CacheEntry, StrategySettings
from latency.observability.tracing import TraceRecorder, trace_save_soon

_WORD = re.compile(r"\s*\S+")
_MARKER = re.compile(r"\[\d+\]")


async def _citations(*, candidate: CacheCandidate) -> list[dict[str, object]]:
    """The sources of the answer's [n]s, as stored with it; read only when it has markers (and
    after the trace is finished: this read is not part of the hit's serve time)."""
    if not _MARKER.search(candidate.response):
        return []
    stored = CacheEntry.objects.filter(id=candidate.entry_id).values_list("citations", flat=True)
    return await stored.afirst() or []


async def cache_replay(
    *, hit: CacheHit, trace: TraceRecorder, settings: StrategySettings, paced: bool,
    usage_prompt: int,
) -> AsyncIterator[Event]:  # fmt: skip
    candidate = hit.candidate
    trace.set(
        cache_outcome=hit.tier, cache_similarity=candidate.similarity, model=candidate.model,
        endpoint="cache", region="", cache_note=f"matched: {candidate.query[:150]}",
        status="ok",
    )  # fmt: skip
    yield StartEvent(
        model=candidate.model, endpoint="cache", cache_tier=hit.tier,
        cache_similarity=candidate.similarity, streaming=settings.streaming,
    )  # fmt: skip
    words = [m.group() for m in _WORD.finditer(candidate.response)] if paced else []
    first = words[0] if words else candidate.response
    yield TokenEvent(text=first, ttft_ms=trace.first_token())
    total_ms = trace.finish()
    trace_uid = trace_save_soon(recorder=trace)
    await cache_hit_record(hit=hit)
    pause_s = settings.cache_replay_ms_per_token / 1000
    for word in words[1:]:
        if pause_s:
            await asyncio.sleep(pause_s)
        yield TokenEvent(text=word, ttft_ms=trace.ttft_ms or 0.0)
    outcome = AnswerOutcome(
        model=candidate.model, endpoint_label="cached", ttft_ms=trace.ttft_ms,
        total_ms=total_ms, cache="hit", cache_tier=hit.tier, trace_uid=str(trace_uid),
        cache_similarity=candidate.similarity, cache_matched_query=candidate.query,
        cache_entry_id=candidate.entry_id, citations=await _citations(candidate=candidate),
    )  # fmt: skip
    usage = Usage(
        prompt_tokens=usage_prompt, completion_tokens=tokens_count(text=candidate.response),
        cached_tokens=usage_prompt,
    )  # fmt: skip
    yield DoneEvent(
        text=candidate.response, endpoint="cache", outcome=outcome, stages=dict(trace.stages),
        usage=usage,
    )  # fmt: skip
