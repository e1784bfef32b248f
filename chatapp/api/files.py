"""OpenAI's Files API for batches: POST /v1/files (multipart, purpose=batch), the list, GET one,
its content, DELETE. Bearer keys; a user sees only their own files. The work is in
latency.batching; request ids, errors and rate-limit headers come from chatapp.api.edge."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict

from chatapp.api.auth import api_admit, api_grant
from chatapp.api.edge import api_endpoint
from chatapp.api.errors import api_error, api_invalid, api_rate_limited, api_unauthorized
from latency.batching.files import file_delete, file_owned, file_store, files_owned
from latency.batching.output import file_object
from latency.models import BatchFile

FILES_LIST_MAX = 10_000  # OpenAI's own bound on `limit`


async def api_user(request: HttpRequest):  # noqa: ANN201
    """The key's user once the request is counted against the key's limits (a user row read:
    files and batches are not on the chat's hot path), or the refusal to send instead."""
    from django.contrib.auth import get_user_model

    state = await api_admit(request=request, tokens=0)
    if not state.admitted:
        return api_rate_limited(state=state)
    user_id = api_grant(request=request).user_id
    user = await get_user_model().objects.filter(id=user_id, is_active=True).afirst()
    return api_unauthorized() if user is None else user


def not_found(kind: str, uid: str) -> JsonResponse:
    return api_error(status=404, message=f"No such {kind}: {uid!r}.", code="not_found")


def _upload(request: HttpRequest) -> tuple[str, bytes, str] | JsonResponse:
    upload = request.FILES.get("file")
    purpose = request.POST.get("purpose", "")
    if upload is None:
        return api_invalid("Send the file as the multipart field 'file'.", param="file")
    if purpose != BatchFile.Purpose.BATCH:
        return api_invalid(f"purpose must be 'batch', not {purpose!r}.", param="purpose")
    if upload.size > settings.BATCH_MAX_FILE_BYTES:
        limit_mb = settings.BATCH_MAX_FILE_BYTES / (1024 * 1024)
        return api_error(status=413, message=f"The file is larger than {limit_mb:g} MB.",
                         code="file_too_large", param="file")  # fmt: skip
    return upload.name or "input.jsonl", upload.read(), purpose


def _list(user, query: QueryDict) -> dict | JsonResponse:  # noqa: ANN001
    """GET /v1/files as OpenAI pages it: newest first unless `order=asc`, `after` an id."""
    try:
        limit = int(query.get("limit", FILES_LIST_MAX))
    except ValueError:
        limit = 0
    if not 1 <= limit <= FILES_LIST_MAX:
        return api_invalid(f"limit must be an integer from 1 to {FILES_LIST_MAX}.", param="limit")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        return api_invalid("order must be 'asc' or 'desc'.", param="order")
    files = files_owned(user=user).defer("data")
    if query.get("purpose"):
        files = files.filter(purpose=query["purpose"])
    files = files.order_by("created_at", "id") if order == "asc" else files  # Meta: newest first
    after = files.filter(uid=query.get("after")).first() if query.get("after") else None
    if after is not None:
        files = files.filter(id__gt=after.id) if order == "asc" else files.filter(id__lt=after.id)
    page = list(files[: limit + 1])
    data = [file_object(file=file) for file in page[:limit]]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": len(page) > limit}  # fmt: skip


@api_endpoint(methods=("GET", "POST"))
async def files_view(request: HttpRequest) -> HttpResponse:
    user = await api_user(request)
    if isinstance(user, HttpResponse):
        return user
    if request.method == "GET":
        listed = await sync_to_async(_list)(user, request.GET)
        return listed if isinstance(listed, HttpResponse) else JsonResponse(listed)
    upload = await sync_to_async(_upload)(request)
    if isinstance(upload, JsonResponse):
        return upload
    filename, data, purpose = upload
    file = await sync_to_async(file_store)(owner=user, filename=filename, data=data,
                                           purpose=purpose)  # fmt: skip
    return JsonResponse(file_object(file=file))


@api_endpoint(methods=("GET", "DELETE"))
async def file_view(request: HttpRequest, file_id: str) -> HttpResponse:
    user = await api_user(request)
    if isinstance(user, HttpResponse):
        return user
    if request.method == "DELETE":
        if not await sync_to_async(file_delete)(user=user, uid=file_id):
            return not_found("file", file_id)
        return JsonResponse({"id": file_id, "object": "file", "deleted": True})
    file = await sync_to_async(file_owned)(user=user, uid=file_id)
    if file is None:
        return not_found("file", file_id)
    return JsonResponse(file_object(file=file))


@api_endpoint(methods=("GET",))
async def file_content(request: HttpRequest, file_id: str) -> HttpResponse:
    user = await api_user(request)
    if isinstance(user, HttpResponse):
        return user
    file = await sync_to_async(file_owned)(user=user, uid=file_id)
    if file is None:
        return not_found("file", file_id)
    return HttpResponse(bytes(file.data), content_type="application/jsonl")
