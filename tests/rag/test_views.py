"""The documents pages through Django's test client: upload, limits, duplicates, permissions,
and that a change takes chunks out of the index and cited answers out of the cache at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from latency.models import CacheEntry, Chunk, Document
from latency.rag.tasks import document_ingest
from tests.rag import samples

pytestmark = pytest.mark.django_db

Status = Document.Status
HTMX = {"HTTP_HX_REQUEST": "true"}
NOTES = b"# Notes\n\nLatency is the time a user waits. Streaming hides most of it."


@pytest.fixture
def owner(django_user_model):  # noqa: ANN001, ANN201
    return django_user_model.objects.create_user("owner", password="x")


@pytest.fixture
def client_of():  # noqa: ANN201
    def make(user) -> Client:  # noqa: ANN001
        client = Client()
        client.force_login(user)
        return client

    return make


def _upload(client: Client, *files: tuple[str, bytes]):  # noqa: ANN202
    uploads = [SimpleUploadedFile(name, data) for name, data in files]
    return client.post("/documents/upload/", {"files": uploads}, **HTMX)


def _ingest(document: Document) -> None:
    document.refresh_from_db()
    document_ingest.call(document_id=document.id, revision=document.revision)


def _cache_entry(document_ids: list[int]) -> CacheEntry:
    return CacheEntry.objects.create(
        scope_key="s", query="q", query_normalized="q", embedding=[0.1] * 384,
        response="an answer", model="m", source_documents=document_ids,
        expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip


def test_anonymous_users_are_sent_to_log_in(client):  # noqa: ANN001
    assert client.get("/documents/").status_code == 302
    assert client.post("/documents/upload/").status_code == 302


def test_upload_several_files_at_once_with_a_clear_error_each(owner, client_of):  # noqa: ANN001
    response = _upload(
        client_of(owner),
        ("notes.md", NOTES),
        ("report.docx", samples.docx_bytes(title="R", sections={"S": ["Text."]})),
        ("latin1.txt", b"caf\xe9"),
        ("empty.txt", b""),
        ("bomb.docx", samples.docx_bomb_bytes(megabytes=20)),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('data-outcome="queued"') == 2
    assert "not UTF-8" in page and "The file is empty." in page and "zip bomb" in page
    assert 'id="document-table" hx-swap-oob="true"' in page
    documents = Document.objects.filter(owner=owner)
    assert sorted(documents.values_list("content_type", flat=True)) == ["docx", "markdown"]
    assert DBTaskResult.objects.count() == 2
    listing = client_of(owner).get("/documents/").content.decode()
    assert listing.count('hx-trigger="every 1s"') == 2, "unfinished rows poll"


def test_the_size_limit_refuses_a_file_while_it_streams(owner, client_of, settings):  # noqa: ANN001
    settings.DOCUMENT_MAX_BYTES = 1000
    response = _upload(client_of(owner), ("big.txt", b"a" * 5000), ("small.txt", b"small"))
    page = response.content.decode()
    assert 'big.txt</strong>: <span class="message">Larger than the' in page
    assert list(Document.objects.values_list("filename", flat=True)) == ["small.txt"]


def test_the_same_file_twice_is_recognised(owner, client_of, django_user_model):  # noqa: ANN001
    client = client_of(owner)
    _upload(client, ("notes.md", NOTES))
    page = _upload(client, ("renamed.md", NOTES)).content.decode()
    assert 'data-outcome="duplicate"' in page and "Already uploaded as “notes”" in page
    assert Document.objects.count() == 1
    someone_else = django_user_model.objects.create_user("other")
    _upload(client_of(someone_else), ("notes.md", NOTES))
    assert Document.objects.count() == 2, "duplicates are per owner"


def test_the_status_fragment_shows_progress_then_stops_polling(owner, client_of):  # noqa: ANN001
    client = client_of(owner)
    _upload(client, ("notes.md", NOTES))
    document = Document.objects.get()
    Document.objects.filter(id=document.id).update(status=Status.PROCESSING, progress=42)
    row = client.get(f"/documents/{document.id}/", **HTMX).content.decode()
    assert 'data-status="processing"' in row and 'value="42"' in row and "every 1s" in row
    _ingest(document)
    row = client.get(f"/documents/{document.id}/", **HTMX).content.decode()
    assert 'data-status="ready"' in row and "every 1s" not in row
    assert '<td class="doc-chunks">1</td>' in row


def test_failed_documents_show_their_reason(owner, client_of):  # noqa: ANN001
    client = client_of(owner)
    _upload(client, ("locked.pdf", samples.pdf_encrypted_bytes(text="secret")))
    _ingest(Document.objects.get())
    page = client.get("/documents/").content.decode()
    assert 'data-status="failed"' in page and "encrypted" in page


def test_others_cannot_see_or_touch_my_documents(owner, client_of, django_user_model):  # noqa: ANN001
    _upload(client_of(owner), ("notes.md", NOTES))
    document = Document.objects.get()
    intruder = client_of(django_user_model.objects.create_user("intruder"))
    assert "notes.md" not in intruder.get("/documents/").content.decode()
    assert intruder.get(f"/documents/{document.id}/").status_code == 404
    assert intruder.get(f"/documents/{document.id}/", **HTMX).content == b"", "no row for them"
    assert intruder.post(f"/documents/{document.id}/delete/").status_code == 404
    reupload = {"file": SimpleUploadedFile("x.md", b"# x\n\ny")}
    assert intruder.post(f"/documents/{document.id}/reupload/", reupload).status_code == 404
    assert intruder.post(f"/documents/{document.id}/share/", {"shared": "1"}).status_code == 403
    assert Document.objects.filter(id=document.id, shared=False).exists()


def test_staff_share_a_document_read_only_for_everyone(owner, client_of, django_user_model):  # noqa: ANN001
    owner.is_staff = True
    owner.save()
    client = client_of(owner)
    _upload(client, ("notes.md", NOTES))
    document = Document.objects.get()
    _ingest(document)
    cited = _cache_entry([document.id])
    row = client.post(f"/documents/{document.id}/share/", {"shared": "1"}, **HTMX).content.decode()
    assert "Stop sharing" in row
    assert Chunk.objects.filter(document=document, shared=True).count() == 1
    assert not CacheEntry.objects.filter(id=cited.id).exists()

    reader = client_of(django_user_model.objects.create_user("reader"))
    page = reader.get("/documents/").content.decode()
    assert "notes.md" in page and "by owner" in page
    assert "Delete</button>" not in page and "Re-upload" not in page
    assert reader.get(f"/documents/{document.id}/").status_code == 200
    assert reader.post(f"/documents/{document.id}/delete/").status_code == 404


def test_delete_takes_chunks_and_cited_answers_away_at_once(owner, client_of):  # noqa: ANN001
    client = client_of(owner)
    _upload(client, ("notes.md", NOTES))
    document = Document.objects.get()
    _ingest(document)
    cited, unrelated = _cache_entry([document.id, 999]), _cache_entry([999])
    response = client.post(f"/documents/{document.id}/delete/", **HTMX)
    assert response.status_code == 200 and response.content == b""
    assert not Document.objects.exists() and not Chunk.objects.exists()
    assert not CacheEntry.objects.filter(id=cited.id).exists()
    assert CacheEntry.objects.filter(id=unrelated.id).exists()


def test_reupload_replaces_content_and_invalidates(owner, client_of):  # noqa: ANN001
    client = client_of(owner)
    _upload(client, ("notes.md", NOTES), ("other.md", b"# Other\n\nSomething else."))
    document = Document.objects.get(filename="notes.md")
    _ingest(document)
    cited = _cache_entry([document.id])

    same = {"file": SimpleUploadedFile("notes.md", NOTES)}
    row = client.post(f"/documents/{document.id}/reupload/", same, **HTMX).content.decode()
    assert "Unchanged" in row and CacheEntry.objects.filter(id=cited.id).exists()
    clash = {"file": SimpleUploadedFile("x.md", b"# Other\n\nSomething else.")}
    row = client.post(f"/documents/{document.id}/reupload/", clash, **HTMX).content.decode()
    assert "Same content as your “other”" in row

    new = {"file": SimpleUploadedFile("notes-v2.md", b"# Notes\n\nVersion two. Shorter.")}
    row = client.post(f"/documents/{document.id}/reupload/", new, **HTMX).content.decode()
    assert 'data-status="queued"' in row and "Re-uploaded" in row
    document.refresh_from_db()
    assert (document.revision, document.filename, document.chunk_count) == (2, "notes-v2.md", 0)
    assert not Chunk.objects.filter(document=document).exists()
    assert not CacheEntry.objects.filter(id=cited.id).exists()
    _ingest(document)
    assert list(Chunk.objects.filter(document=document).values_list("text", flat=True)) == [
        "Version two. Shorter."
    ]


def test_posts_need_the_csrf_token(owner):  # noqa: ANN001
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert _upload(client, ("notes.md", NOTES)).status_code == 403
    assert not Document.objects.exists()
