"""What the /batch/ page shows of a job: items done, failed and from the cache, items per
second, time left, tokens used, their estimated cost, and what the cache and packing saved."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from latency.batching.output import job_counts
from latency.errors import UnknownModelError
from latency.models import BatchJob
from latency.providers.catalog import catalog_load


@dataclass(frozen=True)
class JobProgress:
    job: BatchJob
    done: int
    failed: int
    cancelled: int
    cached: int
    duplicates: int
    packed: int
    percent: int
    items_per_s: float | None
    eta_s: float | None
    cost: float
    saved_cost: float

    @property
    def settled(self) -> int:
        return self.done + self.failed + self.cancelled


def _cost_per_token(model: str) -> float:
    try:
        return catalog_load().model_get(model).cost_per_mtok / 1_000_000
    except UnknownModelError:
        return 0.0


def job_progress(*, job: BatchJob) -> JobProgress:
    counts = job_counts(job=job)
    settled = counts["done"] + counts["failed"] + counts["cancelled"]
    end = job.completed_at or job.cancelled_at or job.expired_at or timezone.now()
    rate = eta = None
    if job.in_progress_at and settled:
        elapsed = max((end - job.in_progress_at).total_seconds(), 1e-3)
        rate = settled / elapsed
        eta = None if job.finished else max(0, job.total - settled) / rate
    per_token = _cost_per_token(job.model)
    saved = job.saved_cache_tokens + max(0, job.saved_packing_tokens)
    return JobProgress(
        job=job, done=counts["done"], failed=counts["failed"], cancelled=counts["cancelled"],
        cached=counts["cached"], duplicates=counts["duplicates"], packed=counts["packed"],
        percent=round(100 * settled / job.total) if job.total else 100,
        items_per_s=rate, eta_s=eta,
        cost=(job.prompt_tokens + job.completion_tokens) * per_token, saved_cost=saved * per_token,
    )  # fmt: skip
