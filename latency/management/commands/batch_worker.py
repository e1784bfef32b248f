"""`python manage.py batch_worker`: re-enqueue jobs a dead worker left, then run django-tasks'
database worker on the "batch" queue. `make run` starts one; start more to share jobs."""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand

from latency.batching.recovery import batch_jobs_recover
from latency.management.worker_loop import db_worker_run, worker_prepare


class Command(BaseCommand):
    help = "Run batch jobs, after re-enqueueing those a dead worker left behind."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
        parser.add_argument("--batch", action="store_true", help="exit when the queue is empty")
        parser.add_argument("--threads", type=int, default=1, help="torch threads")

    def handle(self, *args: object, interval: float, batch: bool, threads: int, **options) -> None:
        from django.conf import settings

        from latency.embeddings.service import embeddings_warm_in_background

        worker_prepare(nice=settings.BATCH_WORKER_NICE, threads=threads,
                       idle=settings.BACKGROUND_CPU_IDLE)
        embeddings_warm_in_background()  # the cache's semantic tier is skipped until it is ready
        requeued = batch_jobs_recover()
        if requeued:
            self.stdout.write(f"recovered batch jobs: queued again {requeued}")
        self.stdout.write("batch worker ready", ending="\n")
        self.stdout.flush()
        arguments = ["--queue-name", "batch", "--interval", str(interval), "--no-reload"]
        try:
            db_worker_run(*arguments, *(["--batch"] if batch else []), recover=batch_jobs_recover)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
