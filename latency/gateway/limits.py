"""Per-key rate limits in requests and tokens per minute, shared by every process.

Fixed windows of one minute aligned on the clock (12:00:00–12:00:59, ...). With Redis: one hash
a key a window, checked and counted by one Lua script (atomic), expiring after the window.
Without: one PostgreSQL row a key a window, checked and counted by one upsert (atomic under
concurrency: the row lock orders the increments). A refused request is not counted. Tokens are
admitted on an estimate and corrected after the answer with what it really cost.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from latency.core.background import background_spawn
from latency.core.db_async import async_connection
from latency.gateway.redis import gateway_redis
from latency.gateway.verify import KeyGrant

WINDOW_S = 60
_REDIS_KEY = "subsecond:ratelimit:{key_id}:{window}"

# KEYS[1] the window's hash; ARGV tokens, requests limit, tokens limit, expiry (s).
# Returns {admitted 0/1, requests counted, tokens counted}.
_ADMIT_LUA = """
local requests = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
local tokens = tonumber(redis.call('HGET', KEYS[1], 't') or '0')
local need = tonumber(ARGV[1])
if requests + 1 > tonumber(ARGV[2]) or tokens + need > tonumber(ARGV[3]) then
  return {0, requests, tokens}
end
requests = redis.call('HINCRBY', KEYS[1], 'r', 1)
tokens = redis.call('HINCRBY', KEYS[1], 't', need)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {1, requests, tokens}
"""

# Counts the request when both limits allow it; otherwise returns the row as it was.
_ADMIT_SQL = """
WITH counted AS (
  INSERT INTO latency_apikeywindow (key_id, window_start, requests, tokens)
  VALUES (%(key_id)s, to_timestamp(%(window)s), 1, %(tokens)s)
  ON CONFLICT (key_id, window_start) DO UPDATE
     SET requests = latency_apikeywindow.requests + 1,
         tokens = latency_apikeywindow.tokens + EXCLUDED.tokens
   WHERE latency_apikeywindow.requests + 1 <= %(requests_limit)s
     AND latency_apikeywindow.tokens + EXCLUDED.tokens <= %(tokens_limit)s
  RETURNING requests, tokens
)
SELECT 1, requests, tokens FROM counted
UNION ALL
SELECT 0, requests, tokens FROM latency_apikeywindow
 WHERE key_id = %(key_id)s AND window_start = to_timestamp(%(window)s)
   AND NOT EXISTS (SELECT FROM counted)
"""
_CORRECT_SQL = """
UPDATE latency_apikeywindow SET tokens = GREATEST(tokens + %(delta)s, 0)
 WHERE key_id = %(key_id)s AND window_start = to_timestamp(%(window)s)
"""


@dataclass(frozen=True)
class RateState:
    """A key's standing in the current window, after admitting (or refusing) one request."""

    admitted: bool
    exceeded: str | None  # "requests" or "tokens" when refused
    requests_limit: int
    requests_used: int
    tokens_limit: int
    tokens_used: int
    reset_s: float  # until the window ends and both counts start again
    window: int  # the window's start, epoch seconds
    tokens_admitted: int = 0

    @property
    def requests_remaining(self) -> int:
        return max(self.requests_limit - self.requests_used, 0)

    @property
    def tokens_remaining(self) -> int:
        return max(self.tokens_limit - self.tokens_used, 0)

    @property
    def retry_after_s(self) -> int:
        return max(math.ceil(self.reset_s), 1)


def duration_format(*, seconds: float) -> str:
    """A duration as OpenAI's x-ratelimit-reset-* headers give it: "20ms", "1s", "6m0s"."""
    if seconds < 1:
        return f"{max(round(seconds * 1000), 0)}ms"
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{rest_text}s" if minutes else f"{rest_text}s"


def _state(grant: KeyGrant, *, admitted: bool, requests: int, tokens: int, need: int,
           window: int, now: float) -> RateState:  # fmt: skip
    exceeded = None
    if not admitted:
        exceeded = "requests" if requests + 1 > grant.requests_per_minute else "tokens"
    return RateState(
        admitted=admitted, exceeded=exceeded,
        requests_limit=grant.requests_per_minute, requests_used=requests,
        tokens_limit=grant.tokens_per_minute, tokens_used=tokens,
        reset_s=window + WINDOW_S - now, window=window, tokens_admitted=need if admitted else 0,
    )  # fmt: skip


async def rate_admit(*, grant: KeyGrant, tokens: int) -> RateState:
    """Count one request of about `tokens` tokens against the key, if its limits allow it."""
    need = max(int(tokens), 0)
    if need > grant.tokens_per_minute or grant.requests_per_minute < 1:
        # Never admissible, whatever the window holds (the upsert's first insert of a window
        # would not check it): refuse without counting.
        peek = await rate_peek(grant=grant)
        exceeded = "requests" if grant.requests_per_minute < 1 else "tokens"
        return replace(peek, admitted=False, exceeded=exceeded)
    now = time.time()
    window = int(now // WINDOW_S) * WINDOW_S
    client = gateway_redis()
    if client is not None:
        key = _REDIS_KEY.format(key_id=grant.key_id, window=window)
        admitted, requests, counted = await client.eval(
            _ADMIT_LUA, 1, key, need, grant.requests_per_minute, grant.tokens_per_minute,
            WINDOW_S * 2,
        )  # fmt: skip
    else:
        params = {"key_id": grant.key_id, "window": window, "tokens": need,
                  "requests_limit": grant.requests_per_minute,
                  "tokens_limit": grant.tokens_per_minute}  # fmt: skip
        async with async_connection() as conn:
            row = await (await conn.execute(_ADMIT_SQL, params)).fetchone()
        if row is None:
            # Refused against a window row another request inserted while this statement ran:
            # its snapshot cannot see that row, a new statement can.
            peek = await rate_peek(grant=grant)
            row = (0, peek.requests_used, peek.tokens_used)
        admitted, requests, counted = row
    return _state(grant, admitted=bool(admitted), requests=int(requests), tokens=int(counted),
                  need=need, window=window, now=now)  # fmt: skip


async def rate_peek(*, grant: KeyGrant) -> RateState:
    """The key's standing without counting anything (for answers that were not admitted)."""
    now = time.time()
    window = int(now // WINDOW_S) * WINDOW_S
    requests = tokens = 0
    client = gateway_redis()
    if client is not None:
        values = await client.hmget(_REDIS_KEY.format(key_id=grant.key_id, window=window),
                                    ["r", "t"])  # fmt: skip
        requests, tokens = (int(v or 0) for v in values)
    else:
        async with async_connection() as conn:
            row = await (await conn.execute(
                "SELECT requests, tokens FROM latency_apikeywindow"
                " WHERE key_id = %(key_id)s AND window_start = to_timestamp(%(window)s)",
                {"key_id": grant.key_id, "window": window},
            )).fetchone()  # fmt: skip
        if row is not None:
            requests, tokens = row
    return RateState(
        admitted=True, exceeded=None, requests_limit=grant.requests_per_minute,
        requests_used=requests, tokens_limit=grant.tokens_per_minute, tokens_used=tokens,
        reset_s=window + WINDOW_S - now, window=window,
    )  # fmt: skip


async def _correct(key_id: int, window: int, delta: int) -> None:
    client = gateway_redis()
    if client is not None:
        await client.hincrby(_REDIS_KEY.format(key_id=key_id, window=window), "t", delta)
        return
    async with async_connection() as conn:
        await conn.execute(_CORRECT_SQL, {"key_id": key_id, "window": window, "delta": delta})


def rate_tokens_correct(*, grant: KeyGrant, state: RateState, tokens_used: int) -> None:
    """After the answer: replace the admitted estimate by what the request really cost, in
    the window it was admitted in (off the request path)."""
    delta = int(tokens_used) - state.tokens_admitted
    if state.admitted and delta:
        background_spawn(deadline_s=5.0, work=_correct(grant.key_id, state.window, delta),
                         name=f"rate-correct-{grant.key_id}")  # fmt: skip
