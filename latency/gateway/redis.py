"""The gateway's Redis clients, when `settings.REDIS_URL` is set: one asyncio client per event
loop (a connection belongs to the loop that opened it; daphne has one loop for its life) and one
blocking client for the pages' sync views."""

from __future__ import annotations

import asyncio
import weakref
from functools import cache

import redis
import redis.asyncio as aioredis
from django.conf import settings

SOCKET_TIMEOUT_S = 2.0

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]] = (
    weakref.WeakKeyDictionary()
)


def gateway_redis() -> aioredis.Redis | None:
    """This loop's client, or None when there is no Redis (PostgreSQL and per-process state)."""
    url = settings.REDIS_URL
    if not url:
        return None
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(url)
    if client is None:
        client = per_loop[url] = aioredis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
        )
    return client


async def gateway_redis_close() -> None:
    """Close this loop's clients (tests, whose loops are short-lived)."""
    for client in _clients.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose()


@cache
def _sync_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S)


def gateway_redis_sync() -> redis.Redis | None:
    return _sync_client(settings.REDIS_URL) if settings.REDIS_URL else None
