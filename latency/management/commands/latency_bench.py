"""`python manage.py latency_bench SCENARIO`: measure a strategy; table, then one line of JSON."""

from __future__ import annotations

from importlib import import_module

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from latency.bench.report import result_emit

SCENARIOS = {
    "overhead": "latency.bench.overhead:overhead_run",
    "dashboard": "latency.bench.dashboard.run:dashboard_run",
    "cache": "latency.bench.cache.run:cache_run",
    "routing": "latency.bench.routing.run:routing_run",
    "compression": "latency.bench.compression:compression_run",
    "rag": "latency.bench.rag:rag_run",
    "batch": "latency.bench.batch:batch_run",
    "edge": "latency.bench.edge:edge_run",
}


class Command(BaseCommand):
    help = "Run a latency benchmark scenario: " + ", ".join(SCENARIOS)

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("scenario", choices=sorted(SCENARIOS))
        parser.add_argument("--messages", type=int, default=60, help="messages to send")
        parser.add_argument("--sizes", default="1000,10000,100000,1000000", help="cache: rows")
        parser.add_argument("--spread-sizes", default="", help="cache: rows, 1%% scope run")
        parser.add_argument("--seed-max", type=int, default=100_000, help="cache: seed rows")
        parser.add_argument("--queries", type=int, default=200, help="cache: lookups a size")
        parser.add_argument("--hits", type=int, default=120, help="cache: semantic hits")
        parser.add_argument("--rebuild", action="store_true", help="cache: reload the tables")
        parser.add_argument("--parts", default="lookup,seed,e2e,embed,quality", help="cache")
        parser.add_argument("--chunks", type=int, default=100_000, help="rag: corpus size")
        parser.add_argument("--items", type=int, default=2000, help="batch: items of the job")

    def handle(self, *args: object, scenario: str, **options: object) -> None:
        from latency.testing.processes import stop_children_on_sigterm

        stop_children_on_sigterm()  # a bench killed mid-run leaves no simulator or daphne behind
        call_command("migrate", interactive=False, verbosity=0)  # as `make run` would
        module_name, function_name = SCENARIOS[scenario].split(":")
        run = getattr(import_module(module_name), function_name)
        try:
            results, targets = run(out=self.stdout, **options)
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        result_emit(self.stdout, scenario=scenario, results=results, targets=targets)
