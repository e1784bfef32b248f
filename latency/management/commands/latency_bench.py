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
    "batch": "latency.bench.batch.run:batch_run",
    "gateway": "latency.bench.gateway.report:gateway_run",
    "ablation": "latency.bench.ablation.run:ablation_run",
    "edge": "latency.bench.edge:edge_run",
    "load": "latency.bench.load.run:load_run",
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
        parser.add_argument("--sequential-sample", type=int, default=200,
                            help="batch: items asked one at a time (a sample of --items)")
        parser.add_argument("--chat-users", type=int, default=10, help="batch: chatting people")
        parser.add_argument("--chat-messages", type=int, default=200,
                            help="batch: chat answers with the job running (and as many without)")
        parser.add_argument("--concurrency", type=int, default=1,
                            help="overhead: concurrent websocket conversations (1: the browser)")
        parser.add_argument("--streams", default="1,20,100", help="gateway: concurrent streams")
        parser.add_argument("--seconds", type=float, default=None, help="gateway: s an arm")
        parser.add_argument("--profile", action="store_true",
                            help="gateway: py-spy on one web process in the 20-stream arm")
        parser.add_argument("--versus", default="",
                            help="gateway: 'litellm' (started here) or another gateway's URL")
        parser.add_argument("--versus-seconds", type=float, default=None,
                            help="gateway: s of versus load a level, all gateways together")
        parser.add_argument("--versus-rounds", type=int, default=4, help="gateway: interleaving")
        parser.add_argument("--web-processes", type=int, default=0,
                            help="gateway, batch: serve's WEB_PROCESSES (default one per core)")
        parser.add_argument("--model", default="gpt-4o-mini", help="gateway: the model asked")
        parser.add_argument("--quick", action="store_true", help="a minute or two, few samples")
        parser.add_argument("--users", type=int, default=20, help="ablation: concurrent users")
        parser.add_argument("--seed", type=int, default=1, help="ablation: repeatable workload")
        parser.add_argument("--out-dir", default="",
                            help="ablation, batch: where BENCHMARKS.md (and charts) go")
        parser.add_argument("--rounds", type=int, default=None, help="ablation: ABAB rounds")
        parser.add_argument("--arm-seconds", type=float, default=None, help="ablation")
        parser.add_argument("--rate", type=float, default=0.1, help="ablation: per user, /s")
        parser.add_argument("--sweep", default="1,5,20", help="ablation: users, default arm")
        parser.add_argument("--sweep-seconds", type=float, default=None, help="ablation")
        parser.add_argument("--soak-seconds", type=float, default=None,
                            help="load: the soak at 80%% of capacity (default 600)")
        parser.add_argument("--step-seconds", type=float, default=None, help="load: a ramp step")
        parser.add_argument("--rate-start", type=float, default=None,
                            help="load: the ramp's first rate, requests/s (default 1)")
        parser.add_argument("--web-process-counts", default="",
                            help="load: serve's WEB_PROCESSES to ramp (default 1,2; the soak "
                            "and faults run against the last)")
        parser.add_argument("--load-parts", default="ramp,soak,faults",
                            help="load: which parts (without the ramp, the soak and faults run "
                            "at 80%% of --rate-start)")

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
