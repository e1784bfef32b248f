"""A key's `last_used_at`, written at most once a minute per key and never on the request path.

Each process remembers when it last wrote a key (so it sends at most one statement a minute a
key), and the statement itself changes the row only when it is a minute old, so several
processes together still write it at most once a minute. The same task sweeps the key's old
rate-limit windows from PostgreSQL.
"""

from __future__ import annotations

import time

from latency.core.background import background_spawn
from latency.core.db_async import async_connection

TOUCH_INTERVAL_S = 60.0

# Per process by nature: when this process last sent the write for each key.
_touched: dict[int, float] = {}

_TOUCH_SQL = """
UPDATE latency_apikey SET last_used_at = now()
 WHERE id = %(key_id)s AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')
"""
_SWEEP_SQL = """
DELETE FROM latency_apikeywindow
 WHERE key_id = %(key_id)s AND window_start < now() - interval '2 minutes'
"""


async def _touch_write(key_id: int) -> None:
    try:
        async with async_connection() as conn:
            await conn.execute(_TOUCH_SQL, {"key_id": key_id})
            await conn.execute(_SWEEP_SQL, {"key_id": key_id})
    except BaseException:
        _touched.pop(key_id, None)  # try again on the key's next request
        raise


def api_key_touch(*, key_id: int) -> None:
    """Note that a key was used now; returns at once (the write, when due, runs in a task)."""
    now = time.monotonic()
    last = _touched.get(key_id)
    if last is not None and now - last < TOUCH_INTERVAL_S:
        return
    _touched[key_id] = now
    background_spawn(work=_touch_write(key_id), name=f"api-key-touch-{key_id}", deadline_s=5.0)
