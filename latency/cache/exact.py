"""The exact tier: the normalised question under its scope key, in Redis when REDIS_URL is set
(sub-millisecond, shared by every worker), else straight from PostgreSQL's btree index."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import asdict, replace

from chatapp import env
from latency.cache.scope import CacheScope
from latency.cache.store import CacheCandidate, cache_exact_get

# Per process by nature: a Redis connection pool belongs to one event loop.
_clients: dict[int, object] = {}


def _redis():  # noqa: ANN202
    if not env.REDIS_URL:
        return None
    import redis.asyncio as redis

    loop_id = id(asyncio.get_running_loop())
    if loop_id not in _clients:
        _clients.clear()  # a new loop (tests, a restart): the old pool is unusable
        _clients[loop_id] = redis.from_url(env.REDIS_URL)
    return _clients[loop_id]


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
    if env.REDIS_URL and keys:
        import redis

        client = redis.Redis.from_url(env.REDIS_URL)
        try:
            client.delete(*(exact_key(scope_key=s, normalized=n) for s, n in keys))
        finally:
            client.close()
