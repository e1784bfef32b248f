"""Hand each saved trace to open dashboards (channel layer group) and to the metrics, without
making the request wait: both run in a task of their own after the row is written."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer

from latency.models import RequestTrace
from latency.observability.metrics import metrics_observe

logger = logging.getLogger(__name__)
GROUP = "dashboard"
SUMMARY_FIELDS = (
    "id", "feature", "model", "region", "endpoint", "cache_outcome", "ttft_ms", "total_ms",
    "status", "fallbacks", "hedged",
)  # fmt: skip
# Tasks in flight on this process's loop, held so they are not collected before they finish
# (asyncio keeps only weak references): per process by nature.
_in_flight: set[asyncio.Task[None]] = set()


def trace_summary(*, trace: RequestTrace) -> dict[str, Any]:
    """What a dashboard shows of a new trace: plain values, fit for any channel layer."""
    summary = {name: getattr(trace, name) for name in SUMMARY_FIELDS}
    summary["created_at"] = trace.created_at.isoformat()
    return summary


def trace_published(*, trace: RequestTrace) -> None:
    """Schedule the publication of `trace`; returns at once (a task creation, ~10 µs)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop: a sync caller; count it and skip the live update
        _metrics_observe_safely(trace)
        return
    task = loop.create_task(trace_publish(trace=trace))
    _in_flight.add(task)
    task.add_done_callback(_finished)


async def trace_publish(*, trace: RequestTrace) -> None:
    _metrics_observe_safely(trace)
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(
            GROUP, {"type": "dashboard.trace", "trace": trace_summary(trace=trace)}
        )


def _metrics_observe_safely(trace: RequestTrace) -> None:
    try:
        metrics_observe(trace=trace)
    except Exception:
        logger.exception("could not count trace %s in the metrics", trace.pk)


def _finished(task: asyncio.Task[None]) -> None:
    _in_flight.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("could not publish a trace to the dashboards", exc_info=task.exception())
