"""`python manage.py documents_recover`: queue again (or fail) documents whose worker died.

`documents_worker` runs it at start; on several hosts, run it from cron as well.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from latency.rag.recovery import MAX_ATTEMPTS, documents_recover


class Command(BaseCommand):
    help = "Re-enqueue documents left queued or processing by a worker that died."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--max-attempts", type=int, default=MAX_ATTEMPTS)

    def handle(self, *args: object, max_attempts: int, **options: object) -> None:
        report = documents_recover(max_attempts=max_attempts)
        self.stdout.write(
            f"documents: {len(report.requeued)} queued again {report.requeued}, "
            f"{len(report.failed)} failed {report.failed}, "
            f"{len(report.running)} still running {report.running}"
        )
