"""The /batch/ page: create a job from a CSV, JSONL or pasted lines and an instruction, watch
each job's progress (htmx polling, as the documents page), cancel, retry failed items, download
the results. Users see only their own jobs. The work is in latency.batching."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from latency.batching.inputs import BatchInputError, rows_parse
from latency.batching.jobs import job_cancel, job_create, job_retry_failed, job_visible, jobs_owned
from latency.batching.output import results_csv, results_jsonl
from latency.batching.progress import job_progress
from latency.models import BatchJob
from latency.providers.catalog import catalog_load

TEMPLATE = "batch/list.html"


def _job(request: HttpRequest, uid: str) -> BatchJob:
    job = job_visible(user=request.user, uid=uid)
    if job is None:
        raise Http404("No such job.")
    return job


def _page(request: HttpRequest, *, error: str = "", form: dict | None = None,
          status: int = 200) -> HttpResponse:  # fmt: skip
    catalog = catalog_load()
    context = {
        "progresses": [job_progress(job=job) for job in jobs_owned(user=request.user)[:50]],
        "models": sorted(catalog.models), "default_model": catalog.model_default("background").name,
        "error": error, "form": form or {},
    }  # fmt: skip
    if request.htmx and request.method == "POST":
        return render(request, f"{TEMPLATE}#batch_main", context, status=status)
    return render(request, TEMPLATE, context, status=status)


@login_required
@require_GET
def batch_list(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def batch_create(request: HttpRequest) -> HttpResponse:
    instruction = request.POST.get("instruction", "").strip()
    model = request.POST.get("model") or catalog_load().model_default("background").name
    upload = request.FILES.get("file")
    pasted = request.POST.get("lines", "")
    form = {"instruction": instruction, "lines": pasted, "model": model}
    if model not in catalog_load().models:
        return _page(request, error=f"Unknown model {model!r}.", form=form, status=400)
    data, filename = (upload.read(), upload.name) if upload else (pasted.encode(), "pasted")
    try:
        parsed = rows_parse(data=data, filename=filename, instruction=instruction, model=model)
    except BatchInputError as error:
        return _page(request, error=str(error), form=form, status=400)
    job_create(owner=request.user, parsed=parsed, source=BatchJob.Source.PAGE,
               name=filename, instruction=instruction)  # fmt: skip
    if request.htmx:
        return _page(request)
    return redirect("batch_list")


@login_required
@require_GET
def batch_status(request: HttpRequest, uid: str) -> HttpResponse:
    progress = job_progress(job=_job(request, uid))
    return render(request, f"{TEMPLATE}#batch_row", {"progress": progress})


@login_required
@require_POST
def batch_cancel_view(request: HttpRequest, uid: str) -> HttpResponse:
    job = job_cancel(job=_job(request, uid))
    return render(request, f"{TEMPLATE}#batch_row", {"progress": job_progress(job=job)})


@login_required
@require_POST
def batch_retry_view(request: HttpRequest, uid: str) -> HttpResponse:
    job = _job(request, uid)
    job_retry_failed(job=job)
    job.refresh_from_db()
    return render(request, f"{TEMPLATE}#batch_row", {"progress": job_progress(job=job)})


@login_required
@require_GET
def batch_download(request: HttpRequest, uid: str, fmt: str) -> HttpResponse:
    job = _job(request, uid)
    if fmt == "csv":
        body, content_type = results_csv(job=job), "text/csv"
    elif fmt == "jsonl":
        body, content_type = results_jsonl(job=job), "application/jsonl"
    else:
        raise Http404("Unknown format.")
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{job.uid}.{fmt}"'
    return response
