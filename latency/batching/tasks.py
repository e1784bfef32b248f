"""Jobs on django-tasks' database backend, queue "batch", run by `manage.py batch_worker`.

Each job gets BATCH_TASKS_PER_JOB tasks: with two workers both share the job (items are claimed
with SKIP LOCKED); with one, the later task finds nothing left and returns at once."""

from __future__ import annotations

import asyncio
import uuid

from django.conf import settings
from django_tasks import task

TASK_PATH = "latency.batching.tasks.batch_job_process"


@task(queue_name="batch")
def batch_job_process(*, job_id: int) -> str:
    from latency.batching.runner import job_run
    from latency.core.db_async import async_connections_close
    from latency.core.memory import memory_return

    try:
        return asyncio.run(job_run(job_id=job_id, worker_id=uuid.uuid4()))
    finally:
        # A loop a job: the connections it kept for the cache's reads close with it (left
        # open, each job added eight until PostgreSQL refused connections).
        async_connections_close()
        memory_return()  # the job's freed heap goes back to the OS (latency.core.memory)


def batch_job_enqueue(*, job_id: int, tasks: int | None = None) -> None:
    """Enqueue in the caller's transaction: the task rows commit, or not, with the job."""
    for _ in range(tasks or settings.BATCH_TASKS_PER_JOB):
        batch_job_process.enqueue(job_id=job_id)
