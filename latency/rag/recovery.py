"""Documents whose worker died midway: found by their free advisory lock, then queued again
(the run resumes and keeps the chunks already embedded) or failed after MAX_ATTEMPTS runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from latency.models import Document
from latency.rag.ingest import document_fail, document_lock
from latency.rag.tasks import document_ingest_enqueue

Status = Document.Status
MAX_ATTEMPTS = 3
# A worker claims a task row a moment before its run takes the document's lock.
CLAIM_GRACE = timedelta(seconds=30)


class WorkerLost(Exception):
    """Recorded on a task row left RUNNING by a worker that died."""


@dataclass
class RecoveryReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    running: list[int] = field(default_factory=list)


def documents_recover(*, max_attempts: int = MAX_ATTEMPTS) -> RecoveryReport:
    """Look at every queued or processing document once; safe beside live workers."""
    report = RecoveryReport()
    pending = Document.objects.filter(status__in=[Status.QUEUED, Status.PROCESSING])
    for document_id in pending.values_list("id", flat=True):
        with document_lock(document_id=document_id, wait=False) as free:
            if not free:
                report.running.append(document_id)
                continue
            document = pending.filter(id=document_id).defer("data").first()
            if document is None:
                continue
            task_row = _task_row(document.task_id)
            if not _orphaned(document, task_row):
                continue
            with transaction.atomic():
                if task_row is not None and task_row.status == TaskResultStatus.RUNNING:
                    task_row.set_failed(WorkerLost("the worker stopped during this task"))
                if document.attempts >= max_attempts:
                    document_fail(
                        document=document,
                        reason=f"Ingestion was interrupted {document.attempts} times (its worker "
                        "stopped midway): upload the file again to retry.",
                    )
                    report.failed.append(document_id)
                else:
                    Document.objects.filter(id=document_id, revision=document.revision).update(
                        status=Status.QUEUED, updated_at=timezone.now()
                    )
                    document_ingest_enqueue(document_id=document_id, revision=document.revision)
                    report.requeued.append(document_id)
    return report


def _task_row(task_id: str) -> DBTaskResult | None:
    try:
        return DBTaskResult.objects.filter(id=uuid.UUID(task_id)).first()
    except ValueError:
        return None


def _orphaned(document: Document, task_row: DBTaskResult | None) -> bool:
    """A run marks a document processing only while it holds the lock, so processing with a
    free lock means its worker died; a queued one is orphaned when no live task will run it."""
    if document.status == Status.PROCESSING:
        return True
    if task_row is None:
        return True
    if task_row.status == TaskResultStatus.READY:
        return False
    if task_row.status == TaskResultStatus.RUNNING:
        started = task_row.started_at or task_row.enqueued_at
        return started < timezone.now() - CLAIM_GRACE
    return True  # finished without ingesting this revision
