"""Hostile uploads get a clear answer: NUL bytes, too many files on the plain form, long, latin-1
and path-like names; a failed document can be uploaded again."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from latency.models import Document
from latency.rag.tasks import document_ingest
from tests.rag import samples

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
TEXT = b"Latency is the time a user waits. Streaming hides most of it.\n\n" * 200  # > 8 KB


@pytest.fixture
def owner(django_user_model):  # noqa: ANN001, ANN201
    return django_user_model.objects.create_user("uploader", password="x")


@pytest.fixture
def client(owner):  # noqa: ANN001, ANN201
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    client.get("/documents/")  # sets the CSRF cookie, as the page does for a browser
    return client


def _token(client: Client) -> str:
    return client.cookies["csrftoken"].value


def _raw_upload(client: Client, filename: bytes, data: bytes, *, htmx: bool = True):  # noqa: ANN202
    """A multipart body written by hand: browsers send names the test client cannot."""
    boundary = b"----subsecondboundary"
    body = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
        + _token(client).encode() + b"\r\n--" + boundary
        + b'\r\nContent-Disposition: form-data; name="files"; filename="' + filename + b'"\r\n'
        + b"Content-Type: text/plain\r\n\r\n" + data + b"\r\n--" + boundary + b"--\r\n"
    )  # fmt: skip
    return client.generic(
        "POST", "/documents/upload/", body,
        content_type=f"multipart/form-data; boundary={boundary.decode()}",
        **(HTMX if htmx else {}),
    )  # fmt: skip


def _upload(client: Client, name: str, data: bytes):  # noqa: ANN202
    files = [SimpleUploadedFile(name, data)]
    return client.post(
        "/documents/upload/", {"files": files, "csrfmiddlewaretoken": _token(client)}, **HTMX
    )


def test_a_nul_byte_after_the_first_8_kb_is_refused_up_front(client):  # noqa: ANN001
    response = _upload(client, "notes.txt", TEXT + b"\x00 and more")
    assert b"NUL" in response.content
    assert not Document.objects.exists()


def test_a_failed_document_can_be_uploaded_again(client, owner):  # noqa: ANN001
    _upload(client, "notes.txt", TEXT)
    document = Document.objects.get()
    Document.objects.filter(id=document.id).update(status=Document.Status.FAILED, error="boom")
    response = _upload(client, "notes.txt", TEXT)
    assert b"already uploaded" not in response.content.lower()
    document.refresh_from_db()
    assert document.status == Document.Status.QUEUED and document.error == ""
    document_ingest.call(document_id=document.id, revision=document.revision)
    document.refresh_from_db()
    assert document.status == Document.Status.READY


def test_too_many_files_on_the_plain_form_shows_the_page_with_the_reason(client, settings):  # noqa: ANN001
    files = [SimpleUploadedFile(f"n{i}.txt", b"text %d" % i) for i in range(25)]
    response = client.post(
        "/documents/upload/", {"csrfmiddlewaretoken": _token(client), "files": files}
    )
    assert response.status_code == 200, response.status_code
    assert b"At most 20 files at once" in response.content
    assert b"<h1>Documents</h1>" in response.content  # the whole page, not a fragment
    assert not Document.objects.exists()


def test_too_large_a_form_on_the_plain_form_shows_the_page_with_the_reason(client, settings):  # noqa: ANN001
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post(
        "/documents/upload/", {"csrfmiddlewaretoken": _token(client), "note": "x" * 5000,
                               "files": [SimpleUploadedFile("a.txt", b"some text")]},
    )  # fmt: skip
    assert response.status_code == 200
    assert b"too large" in response.content
    assert not Document.objects.exists()


def test_a_long_name_is_stored_cut_with_a_message(client):  # noqa: ANN001
    response = _raw_upload(client, b"a" * 300 + b".txt", TEXT)
    assert response.status_code == 200, response.content[:300]
    document = Document.objects.get()
    assert len(document.filename) <= 120 and document.filename.endswith(".txt")
    assert b"name was shortened" in response.content


def test_a_latin1_name_is_kept_decoded(client):  # noqa: ANN001
    response = _raw_upload(client, "résumé.txt".encode("latin-1"), TEXT)
    assert response.status_code == 200
    assert Document.objects.get().filename == "résumé.txt"


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (b"../../etc/passwd.txt", "passwd.txt"),
        (b"C:\\Users\\me\\notes.txt", "notes.txt"),
        (b"no\x07tes\x1b[31m.txt", "notes[31m.txt"),
        (b"\xe2\x80\xaetxt.exe", "txt.exe"),  # right-to-left override
    ],
)
def test_path_separators_and_control_characters_are_cleaned(client, sent, stored):  # noqa: ANN001
    _raw_upload(client, sent, TEXT)
    assert Document.objects.get().filename == stored


def test_an_executable_named_txt_is_refused(client):  # noqa: ANN001
    response = _upload(client, "notes.txt", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64)
    assert b"binary file" in response.content and not Document.objects.exists()


def test_a_pdf_with_javascript_is_read_for_its_text_only():
    from latency.rag.extract import document_blocks_extract

    data = samples.pdf_javascript_bytes(text="Quarterly latency report")
    blocks = document_blocks_extract(data=data, kind="pdf")
    text = " ".join(block.text for block in blocks)
    assert "Quarterly latency report" in text and "app.alert" not in text


def test_a_name_too_long_to_read_gets_a_clear_message(client):  # noqa: ANN001
    response = _raw_upload(client, b"a" * 1000 + b".txt", TEXT, htmx=False)
    assert response.status_code == 200
    assert b"a file name may be too long" in response.content
    assert not Document.objects.exists()
