"""How a job ends: once no item is open it is finalized (output and error files written) as
completed, cancelled or expired; a job past its completion window expires its open items."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from latency.batching.output import job_files_write
from latency.models import BatchItem, BatchJob

Status, State = BatchJob.Status, BatchItem.State
OPEN_STATES = (State.PENDING, State.RUNNING)


def job_finalize(*, job_id: int) -> bool:
    """Finish a job whose items are all settled (or that is cancelled or past its window):
    `finalizing` while its output and error files are written, then its final status."""

    now = timezone.now()
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().filter(id=job_id).first()
        if job is None or job.finished:
            return False
        items = job.items.all()
        live = items.filter(state=State.RUNNING, lease_until__gt=now)
        if job.status == Status.CANCELLING or job.cancelling_at:
            if live.exists():
                return False  # its worker cancels those within a second, then calls this
            items.filter(state__in=OPEN_STATES).update(state=State.CANCELLED, finished_at=now)
            final = Status.CANCELLED
        elif job.expires_at and now >= job.expires_at:
            items.filter(state__in=OPEN_STATES).update(
                state=State.EXPIRED, finished_at=now, error_code="batch_expired",
                error="This request could not be executed before the completion window expired.",
            )  # fmt: skip
            final = Status.EXPIRED
        elif items.filter(state__in=OPEN_STATES).exists():
            return False
        else:
            final = Status.COMPLETED
        if job.status != Status.FINALIZING:
            job.status, job.finalizing_at = Status.FINALIZING, now
            job.save(update_fields=["status", "finalizing_at"])
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().filter(id=job_id).first()
        if job is None or job.status != Status.FINALIZING:
            return False
        output, errors = job_files_write(job=job)
        job.output_file, job.error_file, job.status = output, errors, final
        stamp = {Status.CANCELLED: "cancelled_at", Status.EXPIRED: "expired_at"}.get(
            final, "completed_at"
        )
        setattr(job, stamp, timezone.now())
        job.save(update_fields=["output_file", "error_file", "status", stamp])
    return True
