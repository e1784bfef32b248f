"""Ingestion on django-tasks' database backend: a durable row a task, run by `db_worker`
(`manage.py documents_worker` recovers orphaned documents first, then runs it)."""

from __future__ import annotations

from django_tasks import task

from latency.core.memory import memory_return
from latency.models import Document
from latency.rag.ingest import document_ingest_run


@task()
def document_ingest(*, document_id: int, revision: int) -> str:
    try:
        return document_ingest_run(document_id=document_id, revision=revision)
    finally:
        memory_return()  # what the document's parsing and embedding freed goes back to the OS


def document_ingest_enqueue(*, document_id: int, revision: int) -> str:
    """Enqueue in the caller's transaction: the task row commits, or not, with the document."""
    result = document_ingest.enqueue(document_id=document_id, revision=revision)
    Document.objects.filter(id=document_id).update(task_id=str(result.id))
    return str(result.id)
