"""The batch counters and gauge of /metrics, recorded by workers (multiprocess mode)."""

from __future__ import annotations

import logging

from latency.models import BatchItem
from latency.observability.metrics import BATCH_ITEMS, BATCH_QUEUE_DEPTH, BATCH_UPSTREAM_CALLS

logger = logging.getLogger(__name__)


def item_outcome(*, outcome: str) -> None:
    BATCH_ITEMS.labels(outcome).inc()


def upstream_call(*, rate_limited: int = 0) -> None:
    BATCH_UPSTREAM_CALLS.labels("ok").inc()
    if rate_limited:
        BATCH_UPSTREAM_CALLS.labels("rate_limited").inc(rate_limited)


def queue_depth_set(*, depth: int) -> None:
    BATCH_QUEUE_DEPTH.set(depth)


def queue_depth_observe() -> None:
    """Count the items of every job still waiting or running (sync: call it off the loop)."""
    try:
        queue_depth_set(depth=queue_depth())
    except Exception:  # a metric must never break a job
        logger.exception("could not count the batch queue")


def queue_depth() -> int:
    return BatchItem.objects.filter(
        state__in=[BatchItem.State.PENDING, BatchItem.State.RUNNING]
    ).count()
