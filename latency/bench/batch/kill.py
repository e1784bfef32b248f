"""A worker killed with SIGKILL halfway through a job: a `manage.py batch_worker` (as `make run`
starts one) with a simulator of its own answers half the job and is killed; then `make run`
starts again (`manage.py serve`, whose batch worker is the new one) and the job must finish
with every item accounted for and none answered twice (an answer committed before the kill
that changed after it, or a custom_id twice in the output)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings

from latency.bench.batch.arms import items_done, job_make, job_outcome, job_wait, reviews_make
from latency.bench.report import progress
from latency.testing.processes import batch_worker_start, simulator_start

FIELDS = ("id", "answer", "finished_at", "request_id")


@dataclass
class Killed:
    job_id: int
    items: int
    before: dict[int, tuple]  # what was answered when the worker died
    held: int  # items the dead worker held under its lease
    killed_at: float


def _answered(*, job_id: int, ids: Any = None) -> dict[int, tuple]:
    from latency.models import BatchItem

    rows = BatchItem.objects.filter(job_id=job_id, state="done")
    rows = rows.filter(id__in=ids) if ids is not None else rows
    return {row[0]: row[1:] for row in rows.values_list(*FIELDS)}


def kill_half(*, items: int, work: Path, out: TextIO) -> Killed:
    """Half the job answered by a worker, which is then killed with SIGKILL."""
    from latency.models import BatchItem

    simulator = simulator_start(time_scale=1.0, seed=17, bare=False,
                                stderr_path=work / "kill-simulator.err")  # fmt: skip
    env = {"SIMULATOR_URL": simulator.url, "DATA_DIR": str(settings.DATA_DIR),
           "EMBEDDED_DB_NAME": settings.DATABASES["default"]["NAME"],
           "EMBEDDING_BATCH_BF16": "off"}  # fmt: skip
    try:
        worker = batch_worker_start(env=env, log_path=work / "kill-worker.log", interval_s=0.5)
        job = job_make(reviews=reviews_make(count=items, seed=31), name="latency_bench: kill")
        half, deadline = items // 2, time.monotonic() + 600
        while (done := items_done(job_id=job.id)) < half:
            progress(sys.stderr, done, half, "until the kill")
            if time.monotonic() > deadline:
                raise RuntimeError("the first worker did not answer half the job in 600 s")
            time.sleep(0.05)
        worker.process.kill()  # SIGKILL: no cleanup, its leases are left to run out
        worker.process.wait()
        killed_at = time.monotonic()
        worker.stop()
        progress(sys.stderr, half, half, "until the kill")
    finally:
        simulator.stop()
    held = BatchItem.objects.filter(job_id=job.id, state="running").count()
    out.write(f"killed the worker with {items_done(job_id=job.id)} of {items} answered and "
              f"{held} held; the next worker is serve's\n")  # fmt: skip
    return Killed(job_id=job.id, items=items, before=_answered(job_id=job.id), held=held,
                  killed_at=killed_at)  # fmt: skip


def kill_resumed(*, killed: Killed, out: TextIO) -> dict[str, Any]:
    """Once a new worker runs: the job to its end, and what became of it."""
    from latency.models import BatchItem

    job = job_wait(job_id=killed.job_id, out=out, label="resumed", timeout_s=900)
    after = _answered(job_id=killed.job_id, ids=list(killed.before))
    outcome = job_outcome(job=job)
    outcome.pop("answers")
    return {
        **outcome, "items": killed.items, "done_at_kill": len(killed.before),
        "held_by_the_dead_worker": killed.held,
        "asked_again": BatchItem.objects.filter(job_id=killed.job_id, attempts__gt=1).count(),
        "changed_after_kill": sum(after.get(k) != v for k, v in killed.before.items()),
        "kill_to_finished_s": round(time.monotonic() - killed.killed_at, 2),
        "lease_s": settings.BATCH_LEASE_SECONDS,
    }  # fmt: skip
