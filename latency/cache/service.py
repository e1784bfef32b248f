"""The cache as the pipeline sees it: look up (exact, then semantic with verification and each
entry's learned threshold), remember a fresh answer, and forget entries (changed documents)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
from channels.db import database_sync_to_async
from django.db.models import QuerySet

from latency.cache.exact import exact_forget, exact_lookup, exact_remember
from latency.cache.normalize import query_normalize
from latency.cache.scope import CacheScope
from latency.cache.store import (
    CacheCandidate,
    EntryNew,
    cache_entries_delete,
    cache_evict,
    cache_hit_count,
    cache_semantic_candidates,
    cache_store,
    cache_store_many,
)
from latency.cache.verify.verifier import cache_hit_verify_async
from latency.core.background import background_spawn
from latency.embeddings.batcher import EmbeddingQueueFull
from latency.embeddings.service import query_embed, query_embed_ready
from latency.models import CacheEntry, StrategySettings
from latency.observability.tracing import TraceRecorder

# About one store in fifty sweeps expired and excess entries, in a task of its own: the sweep
# counts the table, which the answer must not wait for.
EVICTION_CHANCE = 0.02


@dataclass(frozen=True)
class CacheHit:
    candidate: CacheCandidate
    tier: str  # "exact" or "semantic"
    reason: str


@dataclass
class CacheLookup:
    hit: CacheHit | None
    normalized: str
    embedding: np.ndarray | None = None
    best_similarity: float | None = None  # the nearest entry's, hit or not

    @classmethod
    def skipped(cls, *, query: str) -> CacheLookup:
        """No lookup (cache off, or a regenerated answer); a fresh answer may still be stored."""
        return cls(hit=None, normalized=query_normalize(text=query))


async def cache_lookup(
    *,
    query: str,
    scope: CacheScope,
    settings: StrategySettings,
    trace: TraceRecorder,
    on_exact_miss: Callable[[], Awaitable[None]] | None = None,
) -> CacheLookup:
    """Exact tier, then semantic tier. `on_exact_miss` (the speculative model call) runs once
    the exact tier has missed, while the question is embedded on the embedding thread: an exact
    hit starts no upstream call, and a miss's call leaves without waiting for the embedding
    (~6 ms alone here, 10-16 ms in a loaded web process) or the search after it. A full
    embedding queue (overload) skips the semantic tier, as a model still loading does."""
    lookup = CacheLookup(hit=None, normalized=query_normalize(text=query))
    if settings.exact_cache:
        with trace.stage("exact_cache"):
            candidate = await exact_lookup(scope=scope, normalized=lookup.normalized)
        if candidate is not None:
            lookup.hit = CacheHit(candidate=candidate, tier="exact", reason="same question")
            lookup.best_similarity = 1.0
            return lookup
    semantic = settings.semantic_cache and query_embed_ready()
    if settings.semantic_cache and not semantic:
        trace.set(cache_note="semantic tier skipped: the embedding model is still loading")
    embedding = asyncio.ensure_future(_embed_timed(query, trace)) if semantic else None
    try:
        if on_exact_miss is not None:
            await on_exact_miss()
        if embedding is None:
            return lookup
        try:
            lookup.embedding = await embedding
        except EmbeddingQueueFull:  # overloaded: answer from the model rather than wait or fail
            trace.set(cache_note="semantic tier skipped: the embedding queue is full")
            return lookup
    finally:
        if embedding is not None and not embedding.done():
            embedding.cancel()  # the call's set-up failed, or the request was stopped
        elif embedding is not None and not embedding.cancelled():
            embedding.exception()  # seen here, so never logged as lost if nobody awaited it
    with trace.stage("semantic_lookup"):
        candidates = await cache_semantic_candidates(scope=scope, embedding=lookup.embedding)
        for candidate in candidates:
            lookup.best_similarity = max(lookup.best_similarity or -1.0, candidate.similarity)
            if candidate.similarity < settings.semantic_threshold:
                continue
            learned = candidate.learned_threshold
            if learned is not None and candidate.similarity < learned:
                # People marked this entry's hits wrong at about this similarity (labels.py).
                trace.set(cache_note=f"below the entry's learned threshold: "
                                     f"{candidate.similarity:.3f} < {learned:.3f}")  # fmt: skip
                continue
            if settings.semantic_verify:
                verdict = await cache_hit_verify_async(
                    query=query,
                    candidate=candidate.query,
                    similarity=candidate.similarity,
                    threshold=settings.semantic_threshold,
                    query_embedding=lookup.embedding,
                    candidate_embedding=candidate.embedding,
                )
                if not verdict.ok:
                    trace.set(cache_note=f"rejected ({verdict.reason}): {verdict.detail}"[:200])
                    continue
            lookup.hit = CacheHit(candidate=candidate, tier="semantic", reason="verified")
            break
    return lookup


async def _embed_timed(query: str, trace: TraceRecorder) -> np.ndarray:
    with trace.stage("embed"):
        return await query_embed(text=query)


async def cache_remember(
    *,
    lookup: CacheLookup,
    query: str,
    scope: CacheScope,
    response: str,
    model: str,
    settings: StrategySettings,
    source_documents: list[int] | None = None,
    citations: list[dict[str, object]] | None = None,
) -> CacheEntry | None:
    embedding = lookup.embedding
    if embedding is None:
        if not query_embed_ready():
            return None  # not worth a wait: the next identical question will be stored
        try:
            embedding = await query_embed(text=query)
        except EmbeddingQueueFull:
            return None  # the answer is given; storing it can wait for its next asking
    entry = await cache_store(
        scope=scope,
        query=query,
        normalized=lookup.normalized,
        embedding=embedding,
        response=response,
        model=model,
        source_documents=source_documents or [],
        ttl_s=settings.cache_ttl_seconds,
    )
    if citations:  # a hit of this answer shows its [n]s' sources again (cache_replay)
        await CacheEntry.objects.filter(id=entry.id).aupdate(citations=citations)
        entry.citations = citations
    if random.random() < EVICTION_CHANCE:
        background_spawn(
            work=cache_evict_async(max_entries=settings.cache_max_entries), name="cache-evict"
        )
    candidate = CacheCandidate(entry.id, query, response, model, 1.0)
    await exact_remember(
        scope=scope, normalized=lookup.normalized, candidate=candidate,
        ttl_s=settings.cache_ttl_seconds,
    )  # fmt: skip
    return entry


@dataclass(frozen=True)
class Remember:
    """One fresh answer for cache_remember_many: its lookup, query, scope and response."""

    lookup: CacheLookup
    query: str
    scope: CacheScope
    response: str


async def cache_remember_many(
    *, answers: list[Remember], model: str, settings: StrategySettings
) -> int:
    """cache_remember for several answers at once (a batch job's pack), in one INSERT; those
    whose lookup has no embedding are embedded first, or skipped while the model loads. How
    many were stored."""
    entries = []
    for answer in answers:
        embedding = answer.lookup.embedding
        if embedding is None:
            if not query_embed_ready():
                continue
            embedding = await query_embed(text=answer.query)
        entries.append(EntryNew(scope=answer.scope, query=answer.query,
                                normalized=answer.lookup.normalized, embedding=embedding,
                                response=answer.response, model=model))  # fmt: skip
    if not entries:
        return 0
    stored = await cache_store_many(entries=entries, ttl_s=settings.cache_ttl_seconds)
    if random.random() < EVICTION_CHANCE:
        background_spawn(
            work=cache_evict_async(max_entries=settings.cache_max_entries), name="cache-evict"
        )
    for entry, new in zip(stored, entries, strict=True):
        candidate = CacheCandidate(entry.id, new.query, new.response, model, 1.0)
        await exact_remember(scope=new.scope, normalized=new.normalized, candidate=candidate,
                             ttl_s=settings.cache_ttl_seconds)  # fmt: skip
    return len(stored)


async def cache_hit_record(*, hit: CacheHit) -> None:
    await cache_hit_count(entry_id=hit.candidate.entry_id)


def cache_entries_forget(*, entries: QuerySet[CacheEntry]) -> list[tuple[str, str]]:
    """Delete entries from PostgreSQL and their copies from the exact tier."""
    keys = cache_entries_delete(entries=entries)
    exact_forget(keys=keys)
    return keys


@database_sync_to_async
def cache_evict_async(*, max_entries: int) -> int:
    """Expired and least recently used entries go, from PostgreSQL and the exact tier."""
    keys = cache_evict(max_entries=max_entries)
    exact_forget(keys=keys)
    return len(keys)


def cache_invalidate_documents(*, document_ids: list[int]) -> int:
    """Every cached answer that cited one of these documents goes (changed or deleted)."""
    entries = CacheEntry.objects.filter(source_documents__overlap=document_ids)
    return len(cache_entries_forget(entries=entries))
