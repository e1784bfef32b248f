"""What the documents pages do: upload (with duplicate detection), re-upload, delete and share.
A change takes the document's chunks out of the index and its cached answers away at once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from latency.cache.service import cache_invalidate_documents
from latency.models import Chunk, Document
from latency.rag.detect import document_kind_detect
from latency.rag.errors import DocumentRejected
from latency.rag.tasks import document_ingest_enqueue

Status = Document.Status
NAME_MAX = 120  # characters of a file name kept: enough to recognise it, short enough to show


@dataclass(frozen=True)
class UploadOutcome:
    filename: str
    outcome: str  # "queued", "duplicate", "unchanged" or "rejected"
    message: str
    document: Document | None = None

    @property
    def ok(self) -> bool:
        return self.outcome != "rejected"


def documents_visible(*, user: object) -> QuerySet[Document]:
    """A user's own documents and everyone's shared ones, without their bytes."""
    return (
        Document.objects.filter(Q(owner_id=user.pk) | Q(shared=True))
        .select_related("owner")
        .defer("data")
    )


def documents_owned(*, user: object) -> QuerySet[Document]:
    return Document.objects.filter(owner_id=user.pk).defer("data")


def document_too_large(*, filename: str) -> UploadOutcome:
    limit = settings.DOCUMENT_MAX_BYTES / (1024 * 1024)
    return UploadOutcome(_clean_name(filename), "rejected", f"Larger than the {limit:g} MB limit.")


def document_upload(*, owner: object, filename: str, data: bytes) -> UploadOutcome:
    """A new document, queued for ingestion; or the existing one if the owner already has it."""
    name = _clean_name(filename)
    try:
        kind = _checked_kind(data=data, filename=name)
    except DocumentRejected as error:
        return UploadOutcome(name, "rejected", str(error))
    sha256 = hashlib.sha256(data).hexdigest()
    existing = Document.objects.filter(owner_id=owner.pk, sha256=sha256).defer("data").first()
    if existing is not None and existing.status == Status.FAILED:
        return document_reupload(document=existing, filename=filename, data=data)  # a retry
    if existing is not None:
        return _duplicate(name, existing)
    try:
        with transaction.atomic():
            document = Document.objects.create(
                owner_id=owner.pk, title=PurePath(name).stem[:255] or name, filename=name,
                content_type=kind, size=len(data), sha256=sha256, data=data,
            )  # fmt: skip
            document.task_id = document_ingest_enqueue(
                document_id=document.id, revision=document.revision
            )
    except IntegrityError:  # the same file in a concurrent request
        existing = Document.objects.filter(owner_id=owner.pk, sha256=sha256).defer("data").first()
        if existing is None:
            raise
        return _duplicate(name, existing)
    message = "Uploaded: queued for ingestion." + _shortened(filename)
    return UploadOutcome(name, "queued", message, document)


def document_reupload(*, document: Document, filename: str, data: bytes) -> UploadOutcome:
    """New content for a document: old chunks and the answers that cited them go now."""
    name = _clean_name(filename)
    try:
        kind = _checked_kind(data=data, filename=name)
    except DocumentRejected as error:
        return UploadOutcome(name, "rejected", str(error), document)
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 == document.sha256 and document.status != Status.FAILED:
        return UploadOutcome(name, "unchanged", "Unchanged: it already has this content.", document)
    other = documents_owned(user=document.owner).filter(sha256=sha256).exclude(id=document.id)
    if (duplicate := other.first()) is not None:
        message = f"Same content as your “{duplicate.title}”: not re-uploaded."
        return UploadOutcome(name, "rejected", message, document)
    with transaction.atomic():
        _row_lock(document)
        Chunk.objects.filter(document_id=document.id).delete()
        cache_invalidate_documents(document_ids=[document.id])
        Document.objects.filter(id=document.id).update(
            filename=name, content_type=kind, size=len(data), sha256=sha256, data=data,
            status=Status.QUEUED, progress=0, error="", chunk_count=0, attempts=0,
            revision=document.revision + 1, updated_at=timezone.now(),
        )  # fmt: skip
        document_ingest_enqueue(document_id=document.id, revision=document.revision + 1)
    document = documents_owned(user=document.owner).get(id=document.id)
    message = "Re-uploaded: queued for ingestion." + _shortened(filename)
    return UploadOutcome(name, "queued", message, document)


def document_delete(*, document: Document) -> None:
    """Gone from the index in this request; a run still working on it stops at its next step."""
    with transaction.atomic():
        _row_lock(document)
        Chunk.objects.filter(document_id=document.id).delete()
        cache_invalidate_documents(document_ids=[document.id])
        Document.objects.filter(id=document.id).delete()


def document_share_set(*, document: Document, shared: bool) -> Document:
    """Staff only (the caller checks): shared documents are readable, not writable, by all."""
    with transaction.atomic():
        _row_lock(document)
        Document.objects.filter(id=document.id).update(shared=shared, updated_at=timezone.now())
        Chunk.objects.filter(document_id=document.id).update(shared=shared)
        cache_invalidate_documents(document_ids=[document.id])
    document.shared = shared
    return document


def _row_lock(document: Document) -> None:
    """Wait for an ingestion batch being written to commit, so that this change sees it."""
    Document.objects.select_for_update().filter(id=document.id).values_list("id").first()


def _checked_kind(*, data: bytes, filename: str) -> str:
    if len(data) > settings.DOCUMENT_MAX_BYTES:
        limit = settings.DOCUMENT_MAX_BYTES / (1024 * 1024)
        raise DocumentRejected(f"Larger than the {limit:g} MB limit.")
    return document_kind_detect(data=data, filename=filename)


def _duplicate(name: str, existing: Document) -> UploadOutcome:
    return UploadOutcome(
        name,
        "duplicate",
        f"Already uploaded as “{existing.title}” ({existing.status}): not added again.",
        existing,
    )


def _clean_name(filename: str) -> str:
    """The last path part, printable (no control or bidi characters), at most NAME_MAX
    characters with its suffix kept."""
    name = PurePath(filename.replace("\\", "/")).name
    name = "".join(character for character in name if character.isprintable()).strip()
    if len(name) > NAME_MAX:
        suffix = PurePath(name).suffix[:16]
        name = name[: NAME_MAX - len(suffix)].rstrip() + suffix
    return name or "untitled"


def _shortened(filename: str) -> str:
    long = len(PurePath(filename.replace("\\", "/")).name) > NAME_MAX
    return f" (its name was shortened to {NAME_MAX} characters)" if long else ""
