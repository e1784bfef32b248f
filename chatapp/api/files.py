"""OpenAI's Files API for batches: POST /v1/files (multipart, purpose=batch), GET one, its
content, DELETE. Bearer keys; a user sees only their own files. The work is in latency.batching."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from chatapp.api import errors
from latency.batching.files import file_delete, file_owned, file_store
from latency.batching.output import file_object
from latency.gateway.verify import api_key_verify
from latency.models import BatchFile


def api_error(status: int, message: str, *, kind: str = "invalid_request_error",
              code: str | None = None, param: str | None = None) -> JsonResponse:  # fmt: skip
    return errors.api_error(status=status, message=message, kind=kind, code=code, param=param)


async def api_user(request: HttpRequest):  # noqa: ANN201
    """The key's user (the check is cached, the user row read: files and batches are not on
    the chat's hot path)."""
    from django.contrib.auth import get_user_model

    grant = await api_key_verify(authorization=request.headers.get("Authorization", ""))
    if grant is None:
        return None
    return await get_user_model().objects.filter(id=grant.user_id, is_active=True).afirst()


def unauthorized() -> JsonResponse:
    return api_error(401, "Missing or invalid API key.", code="invalid_api_key")


def not_found(kind: str, uid: str) -> JsonResponse:
    return api_error(404, f"No such {kind}: {uid!r}.", code="not_found")


def _upload(request: HttpRequest) -> tuple[str, bytes, str] | JsonResponse:
    upload = request.FILES.get("file")
    purpose = request.POST.get("purpose", "")
    if upload is None:
        return api_error(400, "Send the file as the multipart field 'file'.", param="file")
    if purpose != BatchFile.Purpose.BATCH:
        return api_error(400, f"purpose must be 'batch', not {purpose!r}.", param="purpose")
    if upload.size > settings.BATCH_MAX_FILE_BYTES:
        limit_mb = settings.BATCH_MAX_FILE_BYTES / (1024 * 1024)
        return api_error(413, f"The file is larger than {limit_mb:g} MB.", code="file_too_large")
    return upload.name or "input.jsonl", upload.read(), purpose


@csrf_exempt
async def files_view(request: HttpRequest) -> HttpResponse:
    user = await api_user(request)
    if user is None:
        return unauthorized()
    if request.method != "POST":
        return api_error(405, "Use POST to upload a file.")
    upload = await sync_to_async(_upload)(request)
    if isinstance(upload, JsonResponse):
        return upload
    filename, data, purpose = upload
    file = await sync_to_async(file_store)(owner=user, filename=filename, data=data,
                                           purpose=purpose)  # fmt: skip
    return JsonResponse(file_object(file=file))


@csrf_exempt
async def file_view(request: HttpRequest, file_id: str) -> HttpResponse:
    user = await api_user(request)
    if user is None:
        return unauthorized()
    if request.method == "DELETE":
        if not await sync_to_async(file_delete)(user=user, uid=file_id):
            return not_found("file", file_id)
        return JsonResponse({"id": file_id, "object": "file", "deleted": True})
    file = await sync_to_async(file_owned)(user=user, uid=file_id)
    if file is None:
        return not_found("file", file_id)
    return JsonResponse(file_object(file=file))


async def file_content(request: HttpRequest, file_id: str) -> HttpResponse:
    user = await api_user(request)
    if user is None:
        return unauthorized()
    file = await sync_to_async(file_owned)(user=user, uid=file_id)
    if file is None:
        return not_found("file", file_id)
    return HttpResponse(bytes(file.data), content_type="application/jsonl")
