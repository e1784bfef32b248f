"""`latency_bench load`: runs the bench's child (drive.py) in its own data folder and database
(its own PostgreSQL server and Redis, which the faults stop), then prints its tables and
computes the targets of issue #15 from what it measured."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings

from latency.bench.child import child_run
from latency.bench.load.drive import DATABASE
from latency.bench.load.report import load_targets, tables_print
from latency.bench.report import Target, targets_print

FULL = {
    "web_processes": [1, 2], "rate_start": 1.0, "rate_factor": 1.5, "max_steps": 12,
    "step_seconds": 20.0, "step_min_requests": 60, "soak_seconds": 600.0, "soak_warm_s": 60.0,
    "document_kb": 50, "batch_items": 200, "fault_pre_s": 5.0, "fault_down_s": 5.0,
    "fault_post_s": 30.0, "work_timeout_s": 240.0, "batch_lease_s": None,
    "settle_s": 5.0,  # after a phase, before reading what the app holds: its last work ends
}  # fmt: skip
# About a minute of load after the start: one serve (two web processes, so that Redis is there
# to stop), two short steps, a short soak, short faults; a killed worker's items return sooner.
QUICK = {
    **FULL, "web_processes": [2], "max_steps": 2, "step_seconds": 3.0, "step_min_requests": 0,
    "soak_seconds": 12.0, "soak_warm_s": 4.0, "document_kb": 8, "batch_items": 16,
    "fault_pre_s": 1.5, "fault_down_s": 2.0, "fault_post_s": 4.0, "work_timeout_s": 120.0,
    "batch_lease_s": 2.0, "settle_s": 1.5,
}  # fmt: skip


def load_run(
    *, out: TextIO, quick: bool = False, soak_seconds: float | None = None,
    step_seconds: float | None = None, rate_start: float | None = None,
    web_process_counts: str = "", load_parts: str = "ramp,soak,faults", **_: Any,
) -> tuple[dict[str, Any], dict[str, Target]]:  # fmt: skip
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
    tables_print(out, results)
    targets = load_targets(results=results)
    targets_print(out, targets)
    return results, targets
