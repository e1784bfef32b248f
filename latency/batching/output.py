"""What a job gives back, in OpenAI's shapes: the batch and file objects, output and error lines
(`body` a chat.completion), and the page's CSV and JSONL downloads."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Q

from latency.models import BatchFile, BatchItem, BatchJob

State = BatchItem.State


def _ts(value) -> int | None:  # noqa: ANN001
    return int(value.timestamp()) if value else None


def file_object(*, file: BatchFile) -> dict[str, Any]:
    return {
        "id": file.uid, "object": "file", "bytes": file.size, "created_at": _ts(file.created_at),
        "filename": file.filename, "purpose": file.purpose, "status": "processed",
        "expires_at": None, "status_details": None,
    }  # fmt: skip


def job_counts(*, job: BatchJob) -> dict[str, int]:
    counts = job.items.aggregate(
        done=Count("id", filter=Q(state=State.DONE)),
        failed=Count("id", filter=Q(state__in=[State.FAILED, State.EXPIRED])),
        cancelled=Count("id", filter=Q(state=State.CANCELLED)),
        cached=Count("id", filter=Q(state=State.DONE, from_cache=True)),
        duplicates=Count("id", filter=Q(state=State.DONE, duplicate_of__isnull=False)),
        packed=Count("id", filter=Q(state=State.DONE, packed=True)),
    )
    return {"total": job.total, **counts}


def batch_object(*, job: BatchJob, counts: dict[str, int] | None = None) -> dict[str, Any]:
    counts = counts or job_counts(job=job)
    return {
        "id": job.uid, "object": "batch", "endpoint": job.endpoint,
        "errors": job.errors, "input_file_id": job.input_file.uid if job.input_file else None,
        "completion_window": job.completion_window, "status": job.status,
        "output_file_id": job.output_file.uid if job.output_file else None,
        "error_file_id": job.error_file.uid if job.error_file else None,
        "created_at": _ts(job.created_at), "in_progress_at": _ts(job.in_progress_at),
        "expires_at": _ts(job.expires_at), "finalizing_at": _ts(job.finalizing_at),
        "completed_at": _ts(job.completed_at), "failed_at": _ts(job.failed_at),
        "expired_at": _ts(job.expired_at), "cancelling_at": _ts(job.cancelling_at),
        "cancelled_at": _ts(job.cancelled_at), "model": job.model or None,
        "request_counts": {"total": counts["total"], "completed": counts["done"],
                           "failed": counts["failed"]},
        "metadata": job.metadata,
        "usage": {
            "input_tokens": job.prompt_tokens, "output_tokens": job.completion_tokens,
            "total_tokens": job.prompt_tokens + job.completion_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }  # fmt: skip


def output_line(*, item: BatchItem, created: int) -> dict[str, Any]:
    body = {
        "id": f"chatcmpl-{item.request_id or item.id}", "object": "chat.completion",
        "created": created, "model": item.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": item.answer,
                                             "refusal": None},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": item.prompt_tokens,
                  "completion_tokens": item.completion_tokens,
                  "total_tokens": item.prompt_tokens + item.completion_tokens},
        "system_fingerprint": None,
    }  # fmt: skip
    return {
        "id": f"batch_req_{item.id}", "custom_id": item.custom_id,
        "response": {"status_code": 200, "request_id": item.request_id or f"req_{item.id}",
                     "body": body},
        "error": None,
    }  # fmt: skip


def error_line(*, item: BatchItem) -> dict[str, Any]:
    return {
        "id": f"batch_req_{item.id}", "custom_id": item.custom_id, "response": None,
        "error": {"code": item.error_code or "upstream_error", "message": item.error},
    }  # fmt: skip


def _jsonl(lines: Iterator[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def job_files_write(*, job: BatchJob) -> tuple[BatchFile | None, BatchFile | None]:
    """The output file (answered items) and the error file (failed or expired), None if empty."""
    from latency.batching.ids import batch_uid

    items = job.items.order_by("index")
    created = _ts(job.created_at) or 0
    done = _jsonl(output_line(item=i, created=created) for i in items.filter(state=State.DONE))
    failed = _jsonl(
        error_line(item=i) for i in items.filter(state__in=[State.FAILED, State.EXPIRED])
    )
    files = []
    for data, purpose, suffix in ((done, BatchFile.Purpose.OUTPUT, "output"),
                                  (failed, BatchFile.Purpose.ERRORS, "errors")):  # fmt: skip
        files.append(
            BatchFile.objects.create(
                uid=batch_uid("file-"),
                owner_id=job.owner_id,
                purpose=purpose,
                filename=f"{job.uid}_{suffix}.jsonl",
                size=len(data),
                data=data,
            )  # fmt: skip
            if data
            else None
        )
    return files[0], files[1]


RESULT_FIELDS = ("index", "custom_id", "state", "prompt", "answer", "from_cache", "duplicate",
                 "packed", "attempts", "prompt_tokens", "completion_tokens", "error")  # fmt: skip


def _rows(job: BatchJob) -> Iterator[dict[str, Any]]:
    for item in job.items.order_by("index").iterator(chunk_size=2000):
        messages = item.body.get("messages") or [{}]
        yield {
            "index": item.index, "custom_id": item.custom_id, "state": item.state,
            "prompt": messages[-1].get("content", ""), "answer": item.answer,
            "from_cache": item.from_cache, "duplicate": item.duplicate_of_id is not None,
            "packed": item.packed, "attempts": item.attempts,
            "prompt_tokens": item.prompt_tokens, "completion_tokens": item.completion_tokens,
            "error": item.error,
        }  # fmt: skip


def results_csv(*, job: BatchJob) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_FIELDS)
    writer.writeheader()
    writer.writerows(_rows(job))
    return buffer.getvalue()


def results_jsonl(*, job: BatchJob) -> str:
    return "".join(json.dumps(row) + "\n" for row in _rows(job))
