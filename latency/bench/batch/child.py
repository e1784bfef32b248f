"""The batch bench's measurements, in a data folder and database of their own (`python -m
latency.bench.batch.child`): `manage.py serve` stops the embedded PostgreSQL of its data folder
when it exits, so the bench's own is the one it stops. A worker is killed halfway through a job
first; then serve starts (its batch worker resumes that job) and its arms run; every read of
the database ends before serve is stopped."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from latency.bench.child import child_main

DATABASE = "subsecond_bench_batch"


def _leftovers_cancel() -> int:
    """Jobs an interrupted run left unfinished: cancelled, so that no worker of this run spends
    its time on them."""
    from latency.batching.jobs import job_cancel, jobs_unfinished

    left = list(jobs_unfinished())
    for job in left:
        job_cancel(job=job)
    return len(left)


def batch_measure(*, options: dict[str, Any], out: Any) -> dict[str, Any]:
    from django.conf import settings

    from latency.bench.batch.arms import (
        CONCURRENCY,
        INSTRUCTION,
        arm_direct,
        arm_job,
        reviews_make,
    )
    from latency.bench.batch.chat import chat_arms
    from latency.bench.batch.kill import kill_half, kill_resumed
    from latency.testing.serve import serve_start

    items, work = options["items"], Path(options["work_dir"])
    out.write(f"database {DATABASE} in {settings.DATA_DIR}, logs in {work}; cancelled "
              f"{_leftovers_cancel()} unfinished jobs of an earlier run\n")  # fmt: skip
    out.write("\nkill arm: a batch worker killed with SIGKILL at half a job\n")
    phases, mark = {}, time.perf_counter()

    def phase(name: str) -> None:
        nonlocal mark
        phases[name] = round(time.perf_counter() - mark, 1)
        mark = time.perf_counter()

    killed = kill_half(items=items, work=work, out=out)
    phase("kill_half")
    web_processes = options.get("web_processes") or os.cpu_count() or 1
    out.write(f"\nstarting serve as `make run` does ({web_processes} web processes)\n")
    serve = serve_start(
        data_dir=Path(settings.DATA_DIR), web_processes=web_processes,
        log_path=work / "serve.log", database=DATABASE, realism=None,
    )  # fmt: skip
    phase("serve_start")
    try:
        kill = kill_resumed(killed=killed, out=out)  # serve's batch worker is the new one
        phase("kill_resumed")
        realism = {k: v for k, v in serve.sim("/sim/config").items()
                   if k in ("prefill", "capacity", "rpm", "tpm")}  # fmt: skip
        reviews = reviews_make(count=items)
        prompts = [INSTRUCTION.format(text=review) for review in reviews]
        base_url = f"{serve.simulator_url}/edge-eu/v1"
        sample = min(options["sequential_sample"], items)
        arms = {
            "sequential": asyncio.run(arm_direct(base_url=base_url, prompts=prompts[:sample],
                                                 concurrency=1, out=out, label="sequential")),
            "concurrent": asyncio.run(arm_direct(base_url=base_url, prompts=prompts,
                                                 concurrency=CONCURRENCY, out=out,
                                                 label="concurrent")),
            "default": arm_job(reviews=reviews, out=out),
        }  # fmt: skip
        phase("throughput_arms")
        chat = chat_arms(serve=serve, items=items, users=options["chat_users"],
                         messages=options["chat_messages"], out=out)  # fmt: skip
        phase("chat_arms")
    finally:
        serve.stop()
    return {"arms": arms, "reviews_unique": len(set(reviews)), "items": items,
            "sequential_sample": sample, "chat": chat, "kill": kill, "realism": realism,
            "web_processes": web_processes, "phases_s": phases,
            "database": DATABASE, "worker_nice": settings.BATCH_WORKER_NICE,
            "worker_cpu_idle": settings.BACKGROUND_CPU_IDLE,
            "lease_s": settings.BATCH_LEASE_SECONDS}  # fmt: skip


def _measure(options: dict[str, Any]) -> dict[str, Any]:
    from latency.testing.processes import stop_children_on_sigterm

    stop_children_on_sigterm()
    started = time.perf_counter()
    result = batch_measure(options=options, out=sys.stdout)
    result["measure_s"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str]) -> int:
    return child_main(argv, measure=_measure)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
