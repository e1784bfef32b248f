"""`python manage.py latency_bench SCENARIO`: measure a strategy; table, then one line of JSON."""

from __future__ import annotations

from importlib import import_module

from django.core.management.base import BaseCommand, CommandError

from latency.bench.report import result_emit

SCENARIOS = {
    "overhead": "latency.bench.overhead:overhead_run",
}


class Command(BaseCommand):
    help = "Run a latency benchmark scenario: " + ", ".join(SCENARIOS)

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("scenario", choices=sorted(SCENARIOS))
        parser.add_argument("--messages", type=int, default=60, help="messages to send")

    def handle(self, *args: object, scenario: str, **options: object) -> None:
        module_name, function_name = SCENARIOS[scenario].split(":")
        run = getattr(import_module(module_name), function_name)
        try:
            results, targets = run(out=self.stdout, **options)
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        result_emit(self.stdout, scenario=scenario, results=results, targets=targets)
