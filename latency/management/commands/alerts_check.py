"""`python manage.py alerts_check [--every SECONDS]`: judge the alert rules now (from cron), or
keep judging them every N seconds; active alerts are printed, logged and posted."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from latency.observability.alerts import alerts_evaluate


class Command(BaseCommand):
    help = "Check the alert rules against the latest traces."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds")

    def handle(self, *args: object, every: float = 0, **options: object) -> None:
        while True:
            active = alerts_evaluate(wait_for_webhook=True)
            for event in active:
                self.stdout.write(f"{event.rule.severity}: {event.message}")
            if not active:
                self.stdout.write("no active alerts")
            if not every:
                return
            time.sleep(every)
