"""`python manage.py alerts_check [--every SECONDS]`: judge the alert rules now (from cron), or
keep judging them every N seconds; active alerts are printed, logged and posted."""

from __future__ import annotations

import logging
import time

from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, connections

from latency.observability.alerts import alerts_evaluate

logger = logging.getLogger(__name__)


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
                # The database is away (a restart, a network cut): judge again next round
                # rather than exit and be restarted by `serve` while it is still away.
                logger.warning("alert rules not judged: the database is unreachable (%s)",
                               (str(error).splitlines() or [type(error).__name__])[0][:200])
                connections.close_all()
                time.sleep(every)
                continue
            for event in active:
                self.stdout.write(f"{event.rule.severity}: {event.message}")
            if not active:
                self.stdout.write("no active alerts")
            if not every:
                return
            time.sleep(every)
