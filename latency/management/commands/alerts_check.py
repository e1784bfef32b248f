"""`python manage.py alerts_check [--every SECONDS]`: judge the alert rules now (from cron), or
keep judging them every N seconds; active alerts are printed, logged and posted."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError

from latency.management.worker_loop import database_away_pause
from latency.observability.alerts import alerts_evaluate


class Command(BaseCommand):
    help = "Check the alert rules against the latest traces."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds")

    def handle(self, *args: object, every: float = 0, **options: object) -> None:
        while True:
            try:
                active = alerts_evaluate(wait_for_webhook=True)
            except (OperationalError, InterfaceError) as error:
                if not every:
                    raise
                # Judge again next round rather than exit and be restarted by `serve` while
                # the database is still away.
                database_away_pause(error=error, pause_s=every, doing="judging the alert rules")
                continue
            for event in active:
                self.stdout.write(f"{event.rule.severity}: {event.message}")
            if not active:
                self.stdout.write("no active alerts")
            if not every:
                return
            time.sleep(every)
