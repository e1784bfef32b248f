"""Jobs from either front door (the /batch/ page, the Batch API): create, cancel, retry the failed
items, finish (output and error files), and the user's own jobs."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from latency.batching.finalize import job_finalize
from latency.batching.ids import batch_uid
from latency.batching.inputs import LineError, ParsedInput
from latency.batching.tasks import batch_job_enqueue
from latency.models import BatchFile, BatchItem, BatchJob

Status, State = BatchJob.Status, BatchItem.State
WINDOWS = {"24h": timedelta(hours=24)}


def item_dedupe_key(*, body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def jobs_owned(*, user: AbstractBaseUser) -> QuerySet[BatchJob]:
    return BatchJob.objects.filter(owner=user)


def job_existing(*, user: AbstractBaseUser, idempotency_key: str | None) -> BatchJob | None:
    if not idempotency_key:
        return None
    return BatchJob.objects.filter(owner=user, idempotency_key=idempotency_key).first()


def job_create(
    *,
    owner: AbstractBaseUser,
    parsed: ParsedInput,
    source: str,
    name: str = "",
    instruction: str = "",
    input_file: BatchFile | None = None,
    metadata: dict | None = None,
    idempotency_key: str | None = None,
    completion_window: str = "24h",
) -> BatchJob:
    """The job and its items in one transaction with their tasks: all of it or nothing."""
    existing = job_existing(user=owner, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    now = timezone.now()
    try:
        with transaction.atomic():
            job = BatchJob.objects.create(
                uid=batch_uid("batch_"), owner=owner, source=source, name=name[:200],
                instruction=instruction, model=parsed.model, input_file=input_file,
                metadata=metadata, idempotency_key=idempotency_key or None,
                completion_window=completion_window, total=len(parsed.items),
                expires_at=now + WINDOWS[completion_window],
            )  # fmt: skip
            BatchItem.objects.bulk_create(
                (
                    BatchItem(
                        job=job,
                        index=n,
                        custom_id=spec.custom_id,
                        body=spec.body,
                        dedupe_key=item_dedupe_key(body=spec.body),
                    )  # fmt: skip
                    for n, spec in enumerate(parsed.items, 1)
                ),
                batch_size=2000,
            )
            _duplicates_link(job_id=job.id)
            batch_job_enqueue(job_id=job.id)
    except IntegrityError:
        existing = job_existing(user=owner, idempotency_key=idempotency_key)
        if existing is None:
            raise
        return existing
    return job


def _duplicates_link(*, job_id: int) -> None:
    """Identical items point at the first of them, which alone is ever sent."""
    table = BatchItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table} AS item SET duplicate_of_id = first.leader
            FROM (SELECT id, first_value(id) OVER (PARTITION BY dedupe_key ORDER BY index) AS leader
                  FROM {table} WHERE job_id = %s) AS first
            WHERE item.id = first.id AND first.leader <> first.id""",
            [job_id],
        )


def job_create_failed(
    *, owner: AbstractBaseUser, errors: list[LineError], input_file: BatchFile | None,
    metadata: dict | None = None, idempotency_key: str | None = None, model: str = "",
) -> BatchJob:  # fmt: skip
    """A batch whose input failed validation: `failed`, with the errors, and no items."""
    existing = job_existing(user=owner, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    now = timezone.now()
    return BatchJob.objects.create(
        uid=batch_uid("batch_"), owner=owner, source=BatchJob.Source.API, model=model,
        input_file=input_file, metadata=metadata, idempotency_key=idempotency_key or None,
        status=Status.FAILED, failed_at=now, expires_at=now + WINDOWS["24h"],
        errors={"object": "list", "data": [error.as_dict() for error in errors]},
    )  # fmt: skip


def job_cancel(*, job: BatchJob) -> BatchJob:
    """Pending items are cancelled at once; a worker cancels its calls in flight within a
    second of seeing `cancelling`, and makes no new ones."""
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(id=job.id)
        if job.finished or job.status == Status.CANCELLING:
            return job
        now = timezone.now()
        job.status, job.cancelling_at = Status.CANCELLING, now
        job.save(update_fields=["status", "cancelling_at"])
        job.items.filter(state=State.PENDING).update(state=State.CANCELLED, finished_at=now)
    job_finalize(job_id=job.id)
    return BatchJob.objects.get(id=job.id)


def job_retry_failed(*, job: BatchJob) -> int:
    """The failed items (and their duplicates) go back to pending; the job runs again."""
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(id=job.id)
        if not job.finished or job.status == Status.FAILED and not job.total:
            return 0
        failed = job.items.filter(state__in=[State.FAILED, State.EXPIRED])
        count = failed.update(state=State.PENDING, attempts=0, error="", error_code="",
                              finished_at=None, lease_owner=None)  # fmt: skip
        if not count:
            return 0
        now = timezone.now()
        BatchFile.objects.filter(id__in=[job.output_file_id, job.error_file_id]).delete()
        BatchJob.objects.filter(id=job.id).update(
            status=Status.IN_PROGRESS, completed_at=None, failed_at=None, finalizing_at=None,
            expired_at=None, cancelled_at=None, cancelling_at=None, output_file=None,
            error_file=None, expires_at=now + WINDOWS[job.completion_window],
        )  # fmt: skip
        batch_job_enqueue(job_id=job.id)
    return count


def jobs_unfinished() -> QuerySet[BatchJob]:
    return BatchJob.objects.exclude(
        status__in=[Status.FAILED, Status.COMPLETED, Status.EXPIRED, Status.CANCELLED]
    )


def job_visible(*, user: AbstractBaseUser, uid: str) -> BatchJob | None:
    return BatchJob.objects.filter(Q(owner=user) & Q(uid=uid)).first()
