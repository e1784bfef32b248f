"""`latency_bench load`: runs the bench's child (drive.py) in its own data folder and database
(its own PostgreSQL server and Redis, which the faults stop), then prints its tables and
computes the targets of issue #15 from what it measured."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings

from latency.bench.benchmarks_md import (
    bench_command,
    benchmarks_section_write,
    charts_markdown,
    targets_markdown,
)
from latency.bench.child import child_run
from latency.bench.load.charts import faults_chart_write, memory_chart_write, soak_chart_write
from latency.bench.load.drive import DATABASE
from latency.bench.load.report import load_targets, tables_print
from latency.bench.report import Target, cpu_model, targets_print
from latency.testing.processes import ROOT

METHOD = """\
### Method

`serve` starts the app as `make run` does (the web processes, the documents and batch workers,
alerts, the simulator with its realism on, embedded PostgreSQL and Redis) in the bench's own data
folder and database. Streamed one-question conversations arrive open loop at a constant rate
(Poisson), half over the chat websocket as the browser speaks, half as streamed API calls through
the openai SDK; each is joined to its trace and to the simulator's plan, so that the app's own
cost = client TTFT minus the TTFT the simulator planned. After an untimed warm-up (20 s at 2
req/s: what a process loads once is loaded), the ramp raises the rate by half each
step until the own TTFT p95 passes 50 ms or a request fails: the last step that held is the
capacity. The soak runs at 80% of it, after a warm-up at the capacity, with 50 KB documents
uploaded through the form and 200-item batch jobs through the Batch API in its second and fourth
quarters ("busy"); what the app holds is read at an idle moment before and after, and every
10 s for the memory chart. The faults run at the soak's rate: the workers killed with `kill -9`
mid-work, the embedded Redis stopped and started, the embedded PostgreSQL restarted (`pg_ctl
restart -m fast`) and unreachable (its socket gone, connections cut), and every model endpoint
answering 429, 500, nothing, a stall, a malformed stream or a dropped connection for 5 s."""

FULL = {
    "web_processes": [1, 2], "rate_start": 1.0, "rate_factor": 1.5, "max_steps": 12,
    "warm_s": 20.0,  # before the ramp, at 2 req/s
    "step_seconds": 20.0, "step_min_requests": 60, "soak_seconds": 600.0, "soak_warm_s": 60.0,
    "document_kb": 50, "batch_items": 200, "fault_pre_s": 5.0, "fault_down_s": 5.0,
    "fault_post_s": 30.0, "work_timeout_s": 240.0, "batch_lease_s": None,
    "settle_s": 5.0,  # after a phase, before reading what the app holds: its last work ends
    "sample_every_s": 10.0,  # the soak's memory and open files, for the chart
}  # fmt: skip
# About a minute of load after the start: one serve (two web processes, so that Redis is there
# to stop), two short steps, a short soak, short faults; a killed worker's items return sooner.
QUICK = {
    **FULL, "web_processes": [2], "warm_s": 3.0, "max_steps": 2, "step_seconds": 3.0,
    "step_min_requests": 0,
    "soak_seconds": 12.0, "soak_warm_s": 4.0, "document_kb": 8, "batch_items": 16,
    "fault_pre_s": 1.5, "fault_down_s": 2.0, "fault_post_s": 4.0, "work_timeout_s": 120.0,
    "batch_lease_s": 2.0, "settle_s": 1.5, "sample_every_s": 2.0,
}  # fmt: skip


def load_run(
    *, out: TextIO, quick: bool = False, soak_seconds: float | None = None,
    step_seconds: float | None = None, rate_start: float | None = None,
    web_process_counts: str = "", load_parts: str = "ramp,soak,faults", out_dir: str = "",
    **_: Any,
) -> tuple[dict[str, Any], dict[str, Target]]:  # fmt: skip
    started = time.perf_counter()
    options = {**(QUICK if quick else FULL)}
    given = {"soak_seconds": soak_seconds, "step_seconds": step_seconds, "rate_start": rate_start}
    options.update({name: value for name, value in given.items() if value})
    options["parts"] = [part.strip() for part in load_parts.split(",") if part.strip()]
    if web_process_counts:
        options["web_processes"] = [int(n) for n in web_process_counts.split(",") if n.strip()]
    measured = child_run(module="latency.bench.load.drive",
                         arguments=["--options", json.dumps(options)], database=DATABASE,
                         data_dir=Path(settings.DATA_DIR) / "bench" / "load")  # fmt: skip
    results = {"options": options, **measured, "cpus": os.cpu_count()}
    tables = io.StringIO()
    tables_print(tables, results)
    out.write(tables.getvalue())
    targets = load_targets(results=results)
    targets_print(out, targets)
    root = Path(out_dir) if out_dir else ROOT
    charts = _charts_write(root=root, results=results)
    results["charts"] = [str(path) for path in charts]
    results["benchmarks_md"] = str(benchmarks_section_write(name="load", markdown=_markdown(
        results=results, tables=tables.getvalue(), targets=targets, charts=charts, root=root,
        quick=quick, elapsed_s=time.perf_counter() - started,
    ), path=root / "BENCHMARKS.md"))  # fmt: skip
    out.write(f"BENCHMARKS.md: {results['benchmarks_md']}\n")
    return results, targets


def _charts_write(*, root: Path, results: dict[str, Any]) -> list[Path]:
    folder, charts = root / "docs" / "bench", []
    for run in results["runs"]:
        processes = run["web_processes"]
        if "soak" in run:
            soak = run["soak"]
            charts.append(soak_chart_write(
                path=folder / "load_soak_ttft.png", soak=soak,
                title=f"Chat TTFT through the soak, {soak['rate']} req/s against {processes} web "
                      "process(es), uploads and batch jobs shaded"))  # fmt: skip
            charts.append(memory_chart_write(
                path=folder / "load_soak_memory.png", soak=soak,
                title="What each process holds through the soak"))  # fmt: skip
        if "faults" in run:
            charts.append(faults_chart_write(
                path=folder / "load_faults.png", faults=run["faults"],
                title="Faults under load: requests by arrival second, the fault shaded"))
    return charts


def _markdown(*, results: dict[str, Any], tables: str, targets: dict[str, Target],
              charts: list[Path], root: Path, quick: bool, elapsed_s: float) -> str:  # fmt: skip
    command = bench_command(scenario="load")
    kind = "Quick run (`--quick`): seconds, not minutes; no stable tails" if quick else "Full run"
    return "\n\n".join([
        "## Load: capacity, a soak beside uploads and batch jobs, faults under load",
        f"**{kind}.** Machine: {results['cpus']} cores, {cpu_model()}, load average "
        f"{[round(v, 2) for v in results['load_average_start']]} at the start and "
        f"{[round(v, 2) for v in results['load_average_end']]} at the end. Command: "
        f"`{command}`. Took {elapsed_s:.0f} s.",
        METHOD,
        "### Tables", f"```\n{tables.strip()}\n```",
        "### Targets", targets_markdown(targets=targets),
        "### Charts", charts_markdown(charts=charts, root=root),
    ])  # fmt: skip
