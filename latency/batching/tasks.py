"""Jobs on django-tasks' database backend, queue "batch", run by `manage.py batch_worker`.

Each job gets BATCH_TASKS_PER_JOB tasks: with two workers both share the job (items are claimed
with SKIP LOCKED); with one, the later task finds nothing left and returns at once."""

from __future__ import annotations

import asyncio
import uuid

from django.conf import settings
from django_tasks import task
from django_tasks_db.models import DBTaskResult

TASK_PATH = "latency.batching.tasks.batch_job_process"


@task(queue_name="batch")
def batch_job_process(*, job_id: int) -> str:
    from latency.batching.runner import job_run

    return asyncio.run(job_run(job_id=job_id, worker_id=uuid.uuid4()))


def batch_job_enqueue(*, job_id: int, tasks: int | None = None) -> None:
    """Enqueue in the caller's transaction: the task rows commit, or not, with the job."""
    for _ in range(tasks or settings.BATCH_TASKS_PER_JOB):
        batch_job_process.enqueue(job_id=job_id)


def batch_jobs_recover() -> list[int]:
    """Unfinished jobs with no task waiting to run (their worker died, `kill -9`): enqueue one.
    Items the dead worker held come back when their lease runs out; a spare task is harmless."""
    from latency.batching.jobs import job_finalize, jobs_unfinished

    waiting = {
        row["args_kwargs"]["kwargs"].get("job_id")
        for row in DBTaskResult.objects.filter(task_path=TASK_PATH).ready().values("args_kwargs")
    }
    requeued = []
    for job_id in jobs_unfinished().values_list("id", flat=True):
        if job_finalize(job_id=job_id) or job_id in waiting:
            continue
        batch_job_enqueue(job_id=job_id, tasks=1)
        requeued.append(job_id)
    return requeued
