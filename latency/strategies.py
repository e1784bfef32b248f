"""The strategy settings every request reads: one row in PostgreSQL, re-read at most every second.

The copy kept here is per process by nature (a read cache of the shared row), so a change
made on the settings page reaches every worker within about a second, without a restart.
"""

from __future__ import annotations

import copy
import time

from latency.models import StrategySettings

REFRESH_S = 1.0
_copy: tuple[float, StrategySettings] | None = None


async def strategy_settings_get() -> StrategySettings:
    global _copy
    now = time.monotonic()
    if _copy is None or now - _copy[0] >= REFRESH_S:
        row = await StrategySettings.objects.order_by("id").afirst()
        if row is None:
            row, _ = await StrategySettings.objects.aget_or_create(id=1)
        _copy = (now, row)
    # Each request its own copy: one that changes a knob (cache_eval, a test) changes only its own.
    return copy.copy(_copy[1])


def strategy_settings_forget() -> None:
    """Drop this process's copy (after a change here, or between tests)."""
    global _copy
    _copy = None
