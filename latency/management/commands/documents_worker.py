"""`python manage.py documents_worker`: recover orphaned documents, then run django-tasks'
database worker (`db_worker`) on the default queue. `make run` starts one."""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand

from latency.management.worker_loop import db_worker_run, worker_prepare
from latency.rag.recovery import documents_recover


class Command(BaseCommand):
    help = "Run the background task worker, after re-enqueueing work a dead worker left behind."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
        parser.add_argument("--batch", action="store_true", help="exit when the queue is empty")
        parser.add_argument(
            "--threads", type=int, default=1, help="torch threads; leave the web process a core"
        )

    def handle(self, *args: object, interval: float, batch: bool, threads: int, **options) -> None:
        from django.conf import settings

        worker_prepare(nice=settings.DOCUMENTS_WORKER_NICE, threads=threads,
                       idle=settings.BACKGROUND_CPU_IDLE)
        report = documents_recover()
        if report.requeued or report.failed:
            self.stdout.write(
                f"recovered documents: queued again {report.requeued}, failed {report.failed}"
            )
        # The default queue: batch jobs have their own worker (`batch_worker`).
        arguments = ["--queue-name", "default", "--interval", str(interval), "--no-reload"]
        try:
            db_worker_run(*arguments, *(["--batch"] if batch else []), recover=documents_recover)
        finally:
            # Ctrl-C reaches every process of `make run`, then `serve` sends SIGTERM: once the
            # worker is on its way out, a second signal must not interrupt its exit.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
