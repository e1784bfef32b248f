"""The documents pages: list and upload (htmx, several files at once), a row's status for
polling, re-upload, delete and the staff-only share toggle. The work is in latency.rag."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFilesSent
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from chatapp.upload_names import Latin1HeaderNames
from latency.rag.documents import (
    UploadOutcome,
    document_delete,
    document_reupload,
    document_share_set,
    document_too_large,
    document_upload,
    documents_owned,
    documents_visible,
)

TEMPLATE = "documents/list.html"


class SizeLimitHandler(FileUploadHandler):
    """Stops reading a file as soon as it passes DOCUMENT_MAX_BYTES, and remembers its name."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.too_large: list[str] = []

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > settings.DOCUMENT_MAX_BYTES:
            self.too_large.append(self.file_name or "file")
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _page(request: HttpRequest, outcomes: list[UploadOutcome] | None = None) -> HttpResponse:
    context = {
        "documents": documents_visible(user=request.user),
        "outcomes": outcomes,
        "max_mb": settings.DOCUMENT_MAX_BYTES / (1024 * 1024),
        "max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
    }
    if request.htmx:
        return render(request, f"{TEMPLATE}#upload_response", context)
    return render(request, TEMPLATE, context)


class Unreadable(Exception):
    """The request's body could not be read: nothing in it, not even the CSRF token, is known."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.outcome = UploadOutcome("", "rejected", message)


def _files(request: HttpRequest, field: str) -> tuple[list, list[UploadOutcome]]:
    """The uploaded files, plus an outcome for each file the handler refused; Unreadable when
    the form as a whole cannot be read."""
    handler = SizeLimitHandler(request)
    request.upload_handlers.insert(0, handler)
    request._stream = Latin1HeaderNames(request._stream)  # noqa: SLF001 (before Django reads it)
    try:
        files = request.FILES.getlist(field)
    except TooManyFilesSent as error:
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        raise Unreadable(f"At most {limit} files at once.") from error
    except RequestDataTooBig as error:
        raise Unreadable("The request is too large: send fewer or smaller files.") from error
    except MultiPartParserError as error:
        raise Unreadable(
            "The upload could not be read: a file name may be too long (keep names under 200 "
            "characters), or the form was damaged on the way."
        ) from error
    return files, [document_too_large(filename=name) for name in handler.too_large]


def _unreadable(request: HttpRequest, error: Unreadable) -> HttpResponse:
    """The page with the reason. Its CSRF token was in the body that could not be read, so no
    check can pass: none is needed, as this response changes nothing."""
    return _page(request, [error.outcome])


@login_required
@require_GET
def document_list(request: HttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, {
        "documents": documents_visible(user=request.user),
        "max_mb": settings.DOCUMENT_MAX_BYTES / (1024 * 1024),
        "max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
    })  # fmt: skip


# The size-limit handler must be in place before anything reads the body, and the CSRF
# middleware reads it: so CSRF is checked in the view instead (Django's documented pattern).
@csrf_exempt
@login_required
@require_POST
def document_upload_view(request: HttpRequest) -> HttpResponse:
    try:
        files, outcomes = _files(request, "files")
    except Unreadable as error:
        return _unreadable(request, error)
    return _document_upload(request, files, outcomes)


@csrf_protect
def _document_upload(request: HttpRequest, files: list, outcomes: list) -> HttpResponse:
    for upload in files:
        outcomes.append(
            document_upload(owner=request.user, filename=upload.name, data=upload.read())
        )
    if not outcomes:
        outcomes.append(UploadOutcome("", "rejected", "Choose one or more files to upload."))
    return _page(request, outcomes)


@login_required
@require_GET
def document_status(request: HttpRequest, document_id: int) -> HttpResponse:
    document = documents_visible(user=request.user).filter(id=document_id).first()
    if document is None and request.htmx:
        return HttpResponse("")  # deleted meanwhile (another tab): the polled row goes away
    if document is None:
        raise Http404("No such document.")
    return render(request, f"{TEMPLATE}#document_row", {"document": document})


@login_required
@require_POST
def document_delete_view(request: HttpRequest, document_id: int) -> HttpResponse:
    document = get_object_or_404(documents_owned(user=request.user), id=document_id)
    document_delete(document=document)
    return HttpResponse("") if request.htmx else redirect("document_list")


@csrf_exempt
@login_required
@require_POST
def document_reupload_view(request: HttpRequest, document_id: int) -> HttpResponse:
    try:
        files, refused = _files(request, "file")
    except Unreadable as error:
        if not request.htmx:
            return _unreadable(request, error)
        document = get_object_or_404(documents_owned(user=request.user), id=document_id)
        context = {"document": document, "note": error.outcome}
        return render(request, f"{TEMPLATE}#document_row", context)
    return _document_reupload(request, document_id, files, refused)


@csrf_protect
def _document_reupload(
    request: HttpRequest, document_id: int, files: list, refused: list
) -> HttpResponse:
    document = get_object_or_404(documents_owned(user=request.user), id=document_id)
    if refused or len(files) != 1:
        outcome = refused[0] if refused else UploadOutcome("", "rejected", "Choose one file.")
    else:
        outcome = document_reupload(document=document, filename=files[0].name, data=files[0].read())
    if not request.htmx:
        return redirect("document_list")
    context = {"document": outcome.document or document, "note": outcome}
    return render(request, f"{TEMPLATE}#document_row", context)


@login_required
@require_POST
def document_share_view(request: HttpRequest, document_id: int) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can share documents.")
    document = get_object_or_404(documents_visible(user=request.user), id=document_id)
    document = document_share_set(document=document, shared=request.POST.get("shared") == "1")
    if not request.htmx:
        return redirect("document_list")
    return render(request, f"{TEMPLATE}#document_row", {"document": document})
