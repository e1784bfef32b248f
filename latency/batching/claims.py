"""Claiming items with a lease, and committing what became of them: an answer commits in the
same transaction that ends the claim's lease, and only while this worker still holds it, so an
item is answered once however many workers run or die."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from latency.models import BatchItem, BatchJob

State = BatchItem.State
MAX_ATTEMPTS = 3


@dataclass
class Answer:
    text: str
    model: str
    request_id: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    from_cache: bool = False
    packed: bool = False


def items_claim(
    *, job_id: int, worker_id: uuid.UUID, limit: int, lease_s: float
) -> list[BatchItem]:
    """Up to `limit` items nobody holds (pending, or a lease that ran out), in order; only the
    first of identical items is ever claimed. SKIP LOCKED: two workers never wait on each other."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            BatchItem.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(job_id=job_id, duplicate_of__isnull=True)
            # Never for a job being cancelled: no new upstream call after a cancel.
            .filter(job__status__in=[BatchJob.Status.VALIDATING, BatchJob.Status.IN_PROGRESS])
            .filter(Q(state=State.PENDING) | Q(state=State.RUNNING, lease_until__lt=now))
            .order_by("index")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        BatchItem.objects.filter(id__in=ids).update(
            state=State.RUNNING, lease_owner=worker_id,
            lease_until=now + timedelta(seconds=lease_s), attempts=F("attempts") + 1,
        )  # fmt: skip
        BatchJob.objects.filter(id=job_id, status=BatchJob.Status.VALIDATING).update(
            status=BatchJob.Status.IN_PROGRESS, in_progress_at=now
        )
    return list(BatchItem.objects.filter(id__in=ids).order_by("index"))


def leases_renew(*, worker_id: uuid.UUID, lease_s: float) -> int:
    until = timezone.now() + timedelta(seconds=lease_s)
    return BatchItem.objects.filter(lease_owner=worker_id, state=State.RUNNING).update(
        lease_until=until
    )


def item_answer(
    *, item_id: int, worker_id: uuid.UUID, answer: Answer, saved_tokens: int = 0
) -> bool:
    """Store the answer of an item this worker holds, and of its duplicates, in one transaction;
    False (and nothing written) when the lease was lost to another worker."""
    job_id = BatchItem.objects.filter(id=item_id).values_list("job_id", flat=True).first()
    if job_id is None:
        return False
    written = items_answer(job_id=job_id, worker_id=worker_id,
                           answers=[(item_id, answer, saved_tokens)])  # fmt: skip
    return bool(written)


def items_answer(
    *, job_id: int, worker_id: uuid.UUID, answers: list[tuple[int, Answer, int]],
    usage: Usage | None = None,
) -> set[int]:  # fmt: skip
    """Store answers `(item id, answer, tokens the cache saved)` of items this worker holds,
    with their duplicates' copies and the job's counters (`usage`: of the call that answered
    them), in one transaction: one commit for a whole pack. The ids written; an item whose
    lease was lost to another worker is left as it is."""
    now = timezone.now()
    written: set[int] = set()
    with transaction.atomic():
        for item_id, answer, _ in answers:
            held = BatchItem.objects.filter(
                id=item_id, job_id=job_id, state=State.RUNNING, lease_owner=worker_id
            )
            if held.update(
                state=State.DONE, answer=answer.text, model=answer.model,
                request_id=answer.request_id[:100], prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens, from_cache=answer.from_cache,
                packed=answer.packed, error="", error_code="", finished_at=now, lease_owner=None,
            ):  # fmt: skip
                written.add(item_id)
        followers = BatchItem.objects.filter(duplicate_of_id__in=written).exclude(
            state__in=[State.DONE, State.CANCELLED]
        )
        copies = Counter(followers.values_list("duplicate_of_id", flat=True))
        leader = BatchItem.objects.filter(id=OuterRef("duplicate_of_id"))
        followers.update(
            state=State.DONE, finished_at=now, error="", error_code="",
            **{name: Subquery(leader.values(name)[:1])
               for name in ("answer", "model", "from_cache", "request_id")},
        )  # fmt: skip
        saved = 0
        for item_id, answer, saved_tokens in answers:
            if item_id in written:
                per_item = answer.prompt_tokens + answer.completion_tokens
                saved += copies[item_id] * (per_item or saved_tokens)
                saved += saved_tokens if answer.from_cache else 0
        if usage is not None or saved:
            _job_counters_add(job_id=job_id, usage=usage or Usage(), saved_cache=saved)
    return written


def item_fail(*, item_id: int, worker_id: uuid.UUID, error: str, code: str, final: bool) -> bool:
    """An item that could not be answered: back to pending while attempts remain, else failed
    (its duplicates with it)."""
    held = BatchItem.objects.filter(id=item_id, state=State.RUNNING, lease_owner=worker_id)
    with transaction.atomic():
        item = held.select_for_update().first()
        if item is None:
            return False
        if not final and item.attempts < MAX_ATTEMPTS:
            held.update(state=State.PENDING, lease_owner=None, lease_until=None, error=error[:500])
            return True
        now = timezone.now()
        for rows in (held, BatchItem.objects.filter(duplicate_of_id=item_id, state=State.PENDING)):
            rows.update(state=State.FAILED, error=error[:500], error_code=code[:50],
                        finished_at=now, lease_owner=None)  # fmt: skip
    return True


def items_release(*, worker_id: uuid.UUID, state: str = State.PENDING) -> int:
    """Give back what this worker still holds: to pending (stopping), or cancelled."""
    values = {"state": state, "lease_owner": None, "lease_until": None}
    if state != State.PENDING:
        values["finished_at"] = timezone.now()
    return BatchItem.objects.filter(lease_owner=worker_id, state=State.RUNNING).update(**values)


@dataclass
class Usage:
    """What one upstream call cost, for the job's counters."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    packing_saved: int = 0
    rate_limited: int = 0


def _job_counters_add(*, job_id: int, usage: Usage, saved_cache: int = 0) -> None:
    BatchJob.objects.filter(id=job_id).update(
        upstream_requests=F("upstream_requests") + usage.requests,
        prompt_tokens=F("prompt_tokens") + usage.prompt_tokens,
        completion_tokens=F("completion_tokens") + usage.completion_tokens,
        saved_packing_tokens=F("saved_packing_tokens") + usage.packing_saved,
        rate_limited=F("rate_limited") + usage.rate_limited,
        saved_cache_tokens=F("saved_cache_tokens") + saved_cache,
    )


def job_usage_add(
    *, job_id: int, requests: int = 0, prompt_tokens: int = 0, completion_tokens: int = 0,
    packing_saved: int = 0, rate_limited: int = 0,
) -> None:  # fmt: skip
    _job_counters_add(job_id=job_id, usage=Usage(
        requests=requests, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
        packing_saved=packing_saved, rate_limited=rate_limited,
    ))  # fmt: skip


def job_state(*, job_id: int) -> tuple[str, bool, bool]:
    """(status, open items left, items held by a live lease of any worker)."""
    now = timezone.now()
    status = BatchJob.objects.filter(id=job_id).values_list("status", flat=True).first() or ""
    items = BatchItem.objects.filter(job_id=job_id)
    open_left = items.filter(state__in=[State.PENDING, State.RUNNING]).exists()
    live = items.filter(state=State.RUNNING, lease_until__gte=now).exists()
    return status, open_left, live
