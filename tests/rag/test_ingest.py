"""Ingestion on real PostgreSQL + pgvector: the task run directly (`Task.call`), then the real
database worker (`documents_worker --batch`) in one test; interruptions and recovery."""

from __future__ import annotations

import signal

import numpy as np
import psycopg
import pytest
from django.contrib.postgres.search import SearchQuery
from django.core.management import call_command
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from pgvector.django import CosineDistance

from latency.core.db_async import connection_params
from latency.embeddings.local import embeddings_encode
from latency.models import Chunk, Document
from latency.rag import ingest
from latency.rag.documents import document_delete, document_reupload, document_upload
from latency.rag.ingest import LOCK_NAMESPACE
from latency.rag.recovery import documents_recover
from latency.rag.tasks import document_ingest
from tests.rag import samples

pytestmark = pytest.mark.django_db

Status = Document.Status
TOPICS = """# Field notes

## Volcanoes

Magma rises through the crust and erupts as lava. Basalt flows cool into dark rock.

## Cats

A cat purrs when content and hunts mice at night. Kittens sleep most of the day.
"""


def _run(document: Document) -> str:
    document.refresh_from_db()
    return document_ingest.call(document_id=document.id, revision=document.revision)


def _upload(owner, name: str, text: str) -> Document:  # noqa: ANN001
    outcome = document_upload(owner=owner, filename=name, data=text.encode())
    assert outcome.outcome == "queued", outcome.message
    return outcome.document


def test_ingestion_end_to_end(django_user_model):
    owner = django_user_model.objects.create_user("ingest-owner")
    document = _upload(owner, "notes.md", TOPICS)
    task_row = DBTaskResult.objects.get(id=document.task_id)
    assert task_row.status == TaskResultStatus.READY and document.status == Status.QUEUED

    assert _run(document) == "ready: 2 chunks"
    document.refresh_from_db()
    assert (document.status, document.progress, document.chunk_count) == (Status.READY, 100, 2)
    chunks = list(Chunk.objects.filter(document=document))
    assert [chunk.heading for chunk in chunks] == ["Field notes > Volcanoes", "Field notes > Cats"]
    assert all(
        chunk.searchable and chunk.owner_id == owner.id and not chunk.shared for chunk in chunks
    )
    assert all(abs(np.linalg.norm(chunk.embedding) - 1) < 1e-4 for chunk in chunks)

    query = embeddings_encode(texts=["where does lava come from?"])[0]
    nearest = (
        Chunk.objects.filter(owner_id=owner.id, searchable=True)
        .alias(distance=CosineDistance("embedding", query))
        .order_by("distance")
        .first()
    )
    assert nearest.heading.endswith("Volcanoes")
    assert list(
        Chunk.objects.filter(search=SearchQuery("kittens")).values_list("ordinal", flat=True)
    ) == [1]


def test_a_broken_file_fails_with_its_reason_and_leaves_nothing(django_user_model):
    owner = django_user_model.objects.create_user("ingest-broken")
    outcome = document_upload(owner=owner, filename="c.pdf", data=b"%PDF-1.7\n1 0 obj garbage")
    assert outcome.outcome == "queued"
    assert _run(outcome.document).startswith("failed")
    document = Document.objects.get(id=outcome.document.id)
    assert document.status == Status.FAILED and "damaged" in document.error
    assert not Chunk.objects.filter(document=document).exists()


def test_an_unexpected_error_fails_the_document_and_removes_partial_chunks(
    django_user_model, monkeypatch
):
    owner = django_user_model.objects.create_user("ingest-crash")
    document = _upload(owner, "long.md", samples.markdown_long(sections=2, paragraphs=6))
    calls = []

    def embed_then_crash(*, texts):  # noqa: ANN001
        calls.append(len(texts))
        if len(calls) == 2:
            raise RuntimeError("embedding server fell over")
        return embeddings_encode(texts=texts)

    monkeypatch.setattr(ingest, "EMBED_BATCH", 4)
    monkeypatch.setattr(ingest, "passages_embed", embed_then_crash)
    assert _run(document) == "failed: RuntimeError"
    document.refresh_from_db()
    assert document.status == Status.FAILED and "RuntimeError" in document.error
    assert not Chunk.objects.filter(document=document).exists()


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing in the run may catch it."""


def test_a_killed_worker_leaves_the_document_resumable(django_user_model, monkeypatch):
    owner = django_user_model.objects.create_user("ingest-killed")
    document = _upload(owner, "long.md", samples.markdown_long(sections=2, paragraphs=6))
    monkeypatch.setattr(ingest, "EMBED_BATCH", 4)
    embedded: list[str] = []

    def embed_then_die(*, texts):  # noqa: ANN001
        if embedded:
            raise WorkerKilled
        embedded.extend(texts)
        return embeddings_encode(texts=texts)

    monkeypatch.setattr(ingest, "passages_embed", embed_then_die)
    with pytest.raises(WorkerKilled):
        _run(document)
    document.refresh_from_db()
    assert document.status == Status.PROCESSING and document.attempts == 1
    partial = Chunk.objects.filter(document=document)
    assert partial.count() == 4 and not partial.filter(searchable=True).exists()
    old_task = document.task_id
    DBTaskResult.objects.filter(id=old_task).update(status=TaskResultStatus.RUNNING)

    report = documents_recover()
    assert report.requeued == [document.id]
    document.refresh_from_db()
    assert document.status == Status.QUEUED and document.task_id != old_task
    assert DBTaskResult.objects.get(id=old_task).status == TaskResultStatus.FAILED
    assert DBTaskResult.objects.get(id=document.task_id).status == TaskResultStatus.READY

    second_run: list[str] = []

    def embed_counting(*, texts):  # noqa: ANN001
        second_run.extend(texts)
        return embeddings_encode(texts=texts)

    monkeypatch.setattr(ingest, "passages_embed", embed_counting)
    assert _run(document).startswith("ready")
    document.refresh_from_db()
    assert document.status == Status.READY and document.attempts == 2
    assert len(second_run) == document.chunk_count - 4, "the 4 chunks already embedded are kept"
    assert Chunk.objects.filter(document=document, searchable=True).count() == document.chunk_count


def test_recovery_leaves_a_live_run_alone_and_gives_up_after_three_runs(django_user_model):
    owner = django_user_model.objects.create_user("ingest-recover")
    document = _upload(owner, "a.md", TOPICS)
    Document.objects.filter(id=document.id).update(status=Status.PROCESSING, attempts=1)
    with psycopg.connect(**connection_params(), autocommit=True) as other:  # another worker, alive
        other.execute("SELECT pg_advisory_lock(%s)", [LOCK_NAMESPACE + document.id])
        report = documents_recover()
        # That worker ends. Unlocked here: a closed connection's backend lets go a moment later.
        other.execute("SELECT pg_advisory_unlock(%s)", [LOCK_NAMESPACE + document.id])
    assert report.running == [document.id] and not report.requeued

    Document.objects.filter(id=document.id).update(attempts=3)
    report = documents_recover()
    assert report.failed == [document.id]
    document.refresh_from_db()
    assert document.status == Status.FAILED and "interrupted 3 times" in document.error


def test_a_reupload_midway_supersedes_the_run(django_user_model, monkeypatch):
    owner = django_user_model.objects.create_user("ingest-reupload")
    document = _upload(owner, "long.md", samples.markdown_long(sections=2, paragraphs=8))
    monkeypatch.setattr(ingest, "EMBED_BATCH", 2)
    state = {"calls": 0}

    def embed_and_reupload(*, texts):  # noqa: ANN001
        state["calls"] += 1
        if state["calls"] == 2:
            current = Document.objects.get(id=document.id)
            document_reupload(document=current, filename="new.md", data=TOPICS.encode())
        return embeddings_encode(texts=texts)

    monkeypatch.setattr(ingest, "passages_embed", embed_and_reupload)
    assert _run(document) == "superseded"
    document.refresh_from_db()
    assert document.revision == 2 and document.status == Status.QUEUED
    assert not Chunk.objects.filter(document=document, searchable=True).exists()

    monkeypatch.setattr(ingest, "passages_embed", lambda *, texts: embeddings_encode(texts=texts))
    assert _run(document) == "ready: 2 chunks"
    headings = list(Chunk.objects.filter(document=document).values_list("heading", flat=True))
    assert headings == ["Field notes > Volcanoes", "Field notes > Cats"], "no stale chunks left"


def test_a_delete_midway_stops_the_run(django_user_model, monkeypatch):
    owner = django_user_model.objects.create_user("ingest-delete")
    document = _upload(owner, "long.md", samples.markdown_long(sections=2, paragraphs=8))
    monkeypatch.setattr(ingest, "EMBED_BATCH", 2)

    def embed_and_delete(*, texts):  # noqa: ANN001
        if Document.objects.filter(id=document.id).exists():
            document_delete(document=document)
        return embeddings_encode(texts=texts)

    monkeypatch.setattr(ingest, "passages_embed", embed_and_delete)
    assert _run(document) == "superseded"
    assert not Chunk.objects.filter(document_id=document.id).exists()


@pytest.mark.django_db(transaction=True)
def test_the_database_worker_runs_the_queue(django_user_model, settings):  # noqa: ANN001
    import torch

    # In this process, the worker must leave pytest's CPU priority as it is.
    settings.BACKGROUND_CPU_IDLE, settings.DOCUMENTS_WORKER_NICE = False, 0

    owner = django_user_model.objects.create_user("ingest-worker")
    first = _upload(owner, "notes.md", TOPICS)
    second = document_upload(owner=owner, filename="r.docx", data=samples.docx_bytes(
        title="Report", sections={"Findings": ["Latency fell by half."]}
    )).document  # fmt: skip
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command(
            "documents_worker",
            "--batch",
            "--interval",
            "0",
            "--threads",
            str(torch.get_num_threads()),
        )
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    statuses = dict(Document.objects.values_list("id", "status"))
    assert statuses == {first.id: Status.READY, second.id: Status.READY}
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {
        TaskResultStatus.SUCCESSFUL
    }
    assert Chunk.objects.filter(document=second, searchable=True).exists()
