"""Jobs a dead worker left: enqueued again once, from the worker's start (or from cron)."""

from __future__ import annotations

from django_tasks_db.models import DBTaskResult

from latency.batching.finalize import job_finalize
from latency.batching.jobs import jobs_unfinished
from latency.batching.tasks import TASK_PATH, batch_job_enqueue


def batch_jobs_recover() -> list[int]:
    """Unfinished jobs with no task waiting to run (their worker died, `kill -9`): enqueue one.
    Items the dead worker held come back when their lease runs out; a spare task is harmless."""
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
