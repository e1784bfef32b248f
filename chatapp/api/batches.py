"""OpenAI's Batch API: POST /v1/batches (Idempotency-Key honoured), GET one, the list (`after`,
`limit`), cancel. The same jobs as the /batch/ page; the work is in latency.batching; request
ids, errors and rate-limit headers come from chatapp.api.edge."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from chatapp.api.edge import api_body_json, api_endpoint
from chatapp.api.errors import api_error, api_invalid
from chatapp.api.files import api_user, not_found
from latency.batching.files import file_owned
from latency.batching.inputs import CHAT_URL, BatchInputError, openai_lines_parse
from latency.batching.jobs import (
    WINDOWS,
    job_cancel,
    job_create,
    job_create_failed,
    job_existing,
    job_finalize,
    job_visible,
    jobs_owned,
)
from latency.batching.output import batch_object
from latency.models import BatchJob
from latency.providers.catalog import catalog_load


def _create(user, payload: dict, idempotency_key: str | None) -> BatchJob | JsonResponse:  # noqa: ANN001
    existing = job_existing(user=user, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    if payload.get("endpoint") != CHAT_URL:
        return api_error(status=400, message=f"endpoint must be {CHAT_URL}.", param="endpoint",
                         code="invalid_endpoint")  # fmt: skip
    if payload.get("completion_window") not in WINDOWS:
        return api_invalid("completion_window must be '24h'.", param="completion_window")
    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return api_invalid("metadata must be an object.", param="metadata")
    file = file_owned(user=user, uid=str(payload.get("input_file_id") or ""))
    if file is None:
        return not_found("file", str(payload.get("input_file_id")))
    try:
        parsed = openai_lines_parse(data=bytes(file.data), known_models=set(catalog_load().models))
    except BatchInputError as error:
        return job_create_failed(owner=user, errors=error.errors, input_file=file,
                                 metadata=metadata, idempotency_key=idempotency_key)  # fmt: skip
    return job_create(owner=user, parsed=parsed, source=BatchJob.Source.API, input_file=file,
                      metadata=metadata, idempotency_key=idempotency_key,
                      name=file.filename)  # fmt: skip


def _shown(job: BatchJob) -> dict:
    """The batch object; a job past its window is finished first (its unfinished items expire),
    and so is a cancelled one whose worker died (once the items it held are free)."""
    past = job.expires_at and timezone.now() >= job.expires_at
    if not job.finished and (past or job.status == BatchJob.Status.CANCELLING):
        job_finalize(job_id=job.id)
    job = BatchJob.objects.select_related("input_file", "output_file", "error_file").get(id=job.id)
    return batch_object(job=job)


@api_endpoint(methods=("GET", "POST"))
async def batches_view(request: HttpRequest) -> HttpResponse:
    user = await api_user(request)
    if isinstance(user, HttpResponse):
        return user
    if request.method == "POST":
        payload = api_body_json(request=request)
        key = request.headers.get("Idempotency-Key") or None
        job = await sync_to_async(_create)(user, payload, key)
        if isinstance(job, JsonResponse):
            return job
        return JsonResponse(await sync_to_async(_shown)(job))
    return JsonResponse(await sync_to_async(_list)(user, request.GET))


def _list(user, query) -> dict:  # noqa: ANN001
    try:
        limit = max(1, min(100, int(query.get("limit", 20))))
    except ValueError:
        limit = 20
    jobs = jobs_owned(user=user).order_by("-created_at", "-id")
    after = query.get("after")
    if after:
        anchor = jobs.filter(uid=after).first()
        if anchor is not None:
            jobs = jobs.filter(id__lt=anchor.id)
    page = list(jobs[: limit + 1])
    data = [_shown(job) for job in page[:limit]]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": len(page) > limit}  # fmt: skip


@api_endpoint(methods=("GET",))
async def batch_view(request: HttpRequest, batch_id: str) -> HttpResponse:
    user = await api_user(request)
    if isinstance(user, HttpResponse):
        return user
    job = await sync_to_async(job_visible)(user=user, uid=batch_id)
    if job is None:
        return not_found("batch", batch_id)
    return JsonResponse(await sync_to_async(_shown)(job))


@api_endpoint(methods=("POST",))
async def batch_cancel(request: HttpRequest, batch_id: str) -> HttpResponse:
    user = await api_user(request)
    if isinstance(user, HttpResponse):
        return user
    job = await sync_to_async(job_visible)(user=user, uid=batch_id)
    if job is None:
        return not_found("batch", batch_id)
    job = await sync_to_async(job_cancel)(job=job)
    return JsonResponse(await sync_to_async(_shown)(job))
