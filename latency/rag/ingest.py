"""One ingestion run: extract, chunk, embed in batches, write the chunks, then make them
searchable in the same transaction that marks the document ready.

A run holds the document's PostgreSQL advisory lock, which dies with the worker's connection:
recovery knows a document is orphaned when its lock is free. A run is idempotent and resumes:
chunks already written with the same heading and text keep their embeddings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from latency.embeddings.local import embeddings_encode
from latency.embeddings.remote import remote_embed_blocking, remote_embeddings_configured
from latency.models import Chunk, Document
from latency.rag.chunking import ChunkDraft, chunks_build
from latency.rag.errors import DocumentRejected
from latency.rag.extract import document_blocks_extract

logger = logging.getLogger(__name__)

Status = Document.Status
EMBED_BATCH = 32
LOCK_NAMESPACE = 0x5D0C << 40  # keeps document locks apart from other advisory locks
PROGRESS_EXTRACTED = 10
PROGRESS_CHUNKED = 15


class Superseded(Exception):
    """The document was deleted or re-uploaded while this run worked on it."""


@contextmanager
def document_lock(*, document_id: int, wait: bool = True) -> Iterator[bool]:
    """The document's session-level advisory lock; yields whether it was taken."""
    key = LOCK_NAMESPACE + document_id
    with connection.cursor() as cursor:
        function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
        cursor.execute(f"SELECT {function}(%s)", [key])
        acquired = wait or bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def document_ingest_run(*, document_id: int, revision: int) -> str:
    """Ingest one revision of a document; what happened, for the task's result."""
    with document_lock(document_id=document_id):
        current = Document.objects.filter(id=document_id, revision=revision)
        document = current.filter(status__in=[Status.QUEUED, Status.PROCESSING]).first()
        if document is None:
            return "skipped: deleted, re-uploaded or already done"
        current.update(
            status=Status.PROCESSING, progress=1, error="", attempts=F("attempts") + 1,
            updated_at=timezone.now(),
        )  # fmt: skip
        try:
            count = _ingest(document)
        except Superseded:
            return "superseded"
        except DocumentRejected as error:
            document_fail(document=document, reason=str(error))
            return f"failed: {error}"
        except Exception as error:
            logger.exception("ingestion of document %s failed", document_id)
            document_fail(
                document=document,
                reason=f"Ingestion failed unexpectedly ({type(error).__name__}): upload it again.",
            )
            return f"failed: {type(error).__name__}"
    return f"ready: {count} chunks"


def document_fail(*, document: Document, reason: str) -> None:
    """Failed, and nothing of it left in the index."""
    with transaction.atomic():
        Chunk.objects.filter(document_id=document.id).delete()
        Document.objects.filter(id=document.id, revision=document.revision).update(
            status=Status.FAILED, error=reason[:2000], progress=0, chunk_count=0,
            updated_at=timezone.now(),
        )  # fmt: skip


class _Progress:
    def __init__(self, document: Document) -> None:
        self.rows = Document.objects.filter(id=document.id, revision=document.revision)
        self.percent = 1

    def set(self, percent: float) -> None:
        if int(percent) == self.percent:
            return
        self.percent = int(percent)
        if not self.rows.update(progress=self.percent, updated_at=timezone.now()):
            raise Superseded


def _ingest(document: Document) -> int:
    progress = _Progress(document)
    blocks = document_blocks_extract(
        data=bytes(document.data),
        kind=document.content_type,
        on_progress=lambda done: progress.set(1 + done * (PROGRESS_EXTRACTED - 1)),
    )
    drafts = chunks_build(blocks=blocks)
    progress.set(PROGRESS_CHUNKED)
    existing = {
        ordinal: (heading, text)
        for ordinal, heading, text in Chunk.objects.filter(document_id=document.id).values_list(
            "ordinal", "heading", "text"
        )
    }
    kept = {draft.ordinal for draft in drafts if existing.get(draft.ordinal) == _key(draft)}
    Chunk.objects.filter(document_id=document.id).exclude(ordinal__in=kept).delete()
    todo = [draft for draft in drafts if draft.ordinal not in kept]
    for start in range(0, len(todo), EMBED_BATCH):
        batch = todo[start : start + EMBED_BATCH]
        vectors = passages_embed(texts=[draft.embedding_input for draft in batch])
        _chunks_write(document, batch, vectors)
        done = len(kept) + start + len(batch)
        progress.set(PROGRESS_CHUNKED + (99 - PROGRESS_CHUNKED) * done / len(drafts))
    with transaction.atomic():
        locked = progress.rows.select_for_update().first()
        if locked is None:
            raise Superseded
        Chunk.objects.filter(document_id=document.id).update(
            searchable=True, shared=locked.shared, owner_id=locked.owner_id
        )
        progress.rows.update(
            status=Status.READY, progress=100, chunk_count=len(drafts), error="",
            updated_at=timezone.now(),
        )  # fmt: skip
    return len(drafts)


def _key(draft: ChunkDraft) -> tuple[str, str]:
    return (draft.heading, draft.text)


def _chunks_write(document: Document, batch: list[ChunkDraft], vectors: np.ndarray) -> None:
    chunks = [
        Chunk(
            document_id=document.id,
            ordinal=draft.ordinal,
            heading=draft.heading,
            text=draft.text,
            token_count=draft.token_count,
            embedding=vector,
            owner_id=document.owner_id,
            shared=document.shared,
            searchable=False,
        )
        for draft, vector in zip(batch, vectors, strict=True)
    ]
    with transaction.atomic():
        # The row lock orders this batch against a delete or re-upload in a request: either
        # the batch commits first and the request removes it, or the batch sees the change.
        rows = Document.objects.filter(id=document.id, revision=document.revision)
        if rows.select_for_update().values_list("id", flat=True).first() is None:
            raise Superseded
        Chunk.objects.bulk_create(chunks)


def passages_embed(*, texts: list[str]) -> np.ndarray:
    """Passage vectors from the same model that embeds queries: the OpenAI-compatible endpoint
    when EMBEDDINGS_URL is set, else the local all-MiniLM-L6-v2. Blocking: workers only."""
    if remote_embeddings_configured():
        return remote_embed_blocking(texts=texts)
    return embeddings_encode(texts=texts)
