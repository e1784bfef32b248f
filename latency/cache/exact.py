"""The exact tier: the normalised question under its scope key, in Redis when REDIS_URL is set
(sub-millisecond, shared by every worker), else straight from PostgreSQL's btree index."""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref
from dataclasses import asdict, replace
from typing import Any

from django.conf import settings

from latency.cache.scope import CacheScope
from latency.cache.store import CacheCandidate, cache_exact_get

# Per process by nature: a Redis connection pool belongs to one event loop, and goes with it.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def _redis() -> Any:
    if not settings.REDIS_URL:
        return None
    import redis.asyncio as redis

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = redis.from_url(settings.REDIS_URL)
    return client


async def exact_tier_close() -> None:
    """Close this loop's Redis pool: a loop about to end (each batch job runs on its own; left
    open, every job's pool stayed connected) or an orderly shutdown."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def exact_key(*, scope_key: str, normalized: str) -> str:
    digest = hashlib.sha256(normalized.encode()).hexdigest()[:32]
    return f"subsecond:cache:exact:{scope_key}:{digest}"


async def exact_lookup(*, scope: CacheScope, normalized: str) -> CacheCandidate | None:
    client = _redis()
    if client is None:
        return await cache_exact_get(scope=scope, normalized=normalized)
    raw = await client.get(exact_key(scope_key=scope.key, normalized=normalized))
    return CacheCandidate(**json.loads(raw)) if raw else None


async def exact_remember(
    *, scope: CacheScope, normalized: str, candidate: CacheCandidate, ttl_s: int
) -> None:
    client = _redis()
    if client is not None:
        key = exact_key(scope_key=scope.key, normalized=normalized)
        await client.set(key, json.dumps(asdict(replace(candidate, embedding=None))), ex=ttl_s)


def exact_forget(*, keys: list[tuple[str, str]]) -> None:
    """Drop the exact-tier copies of deleted entries: (scope key, normalised query) pairs.

    Synchronous, so ingestion tasks and request code (through a thread) can both call it.
    """
    if settings.REDIS_URL and keys:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            client.delete(*(exact_key(scope_key=s, normalized=n) for s, n in keys))
        finally:
            client.close()
