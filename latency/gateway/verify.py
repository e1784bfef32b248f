"""Checking a bearer key without a database round trip on most requests.

With Redis (`settings.REDIS_URL`): the key's grant is kept there for REDIS_TTL_S, shared by
every process; revoking a key or changing its limits on /keys/ deletes the entry, so that takes
effect at once everywhere. Without Redis: a per-process read cache of the key row (shared data,
kept only LOCAL_TTL_S), so a key revoked in any process stops working within a second.
Unknown tokens are cached the same way, so guessing costs no query either.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass

from latency.gateway.redis import gateway_redis, gateway_redis_sync
from latency.models import ApiKey

PREFIX = "sk-sub-"
REDIS_TTL_S = 10  # bounds what /keys/ does not invalidate: a user deactivated in the admin
LOCAL_TTL_S = 1.0
LOCAL_MAX_ENTRIES = 10_000
_REDIS_KEY = "subsecond:apikey:{digest}"
_UNKNOWN = "-"


@dataclass(frozen=True)
class KeyGrant:
    """What an accepted key lets its caller do."""

    key_id: int
    user_id: int
    requests_per_minute: int
    tokens_per_minute: int


# Per-process read cache of shared rows (digest -> (expires at, grant or None)), at most
# LOCAL_TTL_S old: used only when there is no Redis.
_local: dict[str, tuple[float, KeyGrant | None]] = {}


def token_digest(*, token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(*, authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(PREFIX) or len(token) > 200:
        return None
    return token


async def _grant_read(digest: str) -> KeyGrant | None:
    row = (
        await ApiKey.objects.filter(key_hash=digest, revoked=False, user__is_active=True)
        .values("id", "user_id", "requests_per_minute", "tokens_per_minute")
        .afirst()
    )
    if row is None:
        return None
    return KeyGrant(key_id=row["id"], user_id=row["user_id"],
                    requests_per_minute=row["requests_per_minute"],
                    tokens_per_minute=row["tokens_per_minute"])  # fmt: skip


async def api_key_verify(*, authorization: str) -> KeyGrant | None:
    """The grant of an `Authorization: Bearer sk-sub-…` header, or None."""
    token = bearer_token(authorization=authorization)
    if token is None:
        return None
    digest = token_digest(token=token)
    client = gateway_redis()
    if client is not None:
        cached = await client.get(_REDIS_KEY.format(digest=digest))
        if cached is not None:
            return None if cached.decode() == _UNKNOWN else KeyGrant(**json.loads(cached))
        grant = await _grant_read(digest)
        value = _UNKNOWN if grant is None else json.dumps(asdict(grant))
        await client.set(_REDIS_KEY.format(digest=digest), value, ex=REDIS_TTL_S)
        return grant
    now = time.monotonic()
    entry = _local.get(digest)
    if entry is not None and entry[0] > now:
        return entry[1]
    grant = await _grant_read(digest)
    if len(_local) >= LOCAL_MAX_ENTRIES:
        _local.clear()
    _local[digest] = (now + LOCAL_TTL_S, grant)
    return grant


def api_key_forget(*, key_hash: str) -> None:
    """Drop a key's cached grant (it was revoked or its limits changed): at once in Redis and
    in this process; other processes without Redis notice within LOCAL_TTL_S."""
    _local.pop(key_hash, None)
    client = gateway_redis_sync()
    if client is not None:
        client.delete(_REDIS_KEY.format(digest=key_hash))
