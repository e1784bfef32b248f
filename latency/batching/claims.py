"""Claiming items with a lease, and committing what became of them: an answer commits in the
same transaction that ends the claim's lease, and only while this worker still holds it, so an
item is answered once however many workers run or die."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
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
    now = timezone.now()
    with transaction.atomic():
        held = BatchItem.objects.filter(id=item_id, state=State.RUNNING, lease_owner=worker_id)
        updated = held.update(
            state=State.DONE, answer=answer.text, model=answer.model,
            request_id=answer.request_id[:100], prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens, from_cache=answer.from_cache,
            packed=answer.packed, error="", error_code="", finished_at=now, lease_owner=None,
        )  # fmt: skip
        if not updated:
            return False
        followers = BatchItem.objects.filter(duplicate_of_id=item_id).exclude(
            state__in=[State.DONE, State.CANCELLED]
        )
        copies = followers.update(
            state=State.DONE, answer=answer.text, model=answer.model, from_cache=answer.from_cache,
            request_id=answer.request_id[:100], finished_at=now, error="", error_code="",
        )  # fmt: skip
        per_item = answer.prompt_tokens + answer.completion_tokens
        job_id = BatchItem.objects.filter(id=item_id).values_list("job_id", flat=True).get()
        BatchJob.objects.filter(id=job_id).update(
            saved_cache_tokens=F("saved_cache_tokens") + copies * (per_item or saved_tokens)
            + (saved_tokens if answer.from_cache else 0),
        )  # fmt: skip
    return True


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


def job_usage_add(
    *, job_id: int, requests: int = 0, prompt_tokens: int = 0, completion_tokens: int = 0,
    packing_saved: int = 0, rate_limited: int = 0,
) -> None:  # fmt: skip
    BatchJob.objects.filter(id=job_id).update(
        upstream_requests=F("upstream_requests") + requests,
        prompt_tokens=F("prompt_tokens") + prompt_tokens,
        completion_tokens=F("completion_tokens") + completion_tokens,
        saved_packing_tokens=F("saved_packing_tokens") + packing_saved,
        rate_limited=F("rate_limited") + rate_limited,
    )


def job_state(*, job_id: int) -> tuple[str, bool, bool]:
    """(status, open items left, items held by a live lease of any worker)."""
    now = timezone.now()
    status = BatchJob.objects.filter(id=job_id).values_list("status", flat=True).first() or ""
    items = BatchItem.objects.filter(job_id=job_id)
    open_left = items.filter(state__in=[State.PENDING, State.RUNNING]).exists()
    live = items.filter(state=State.RUNNING, lease_until__gte=now).exists()
    return status, open_left, live
