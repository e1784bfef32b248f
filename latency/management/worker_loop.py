"""What the background workers share: their place on the CPU, and django-tasks' `db_worker` run
so that a database that goes away for a while does not end the
worker: the loop raises on the first failed poll (OperationalError), and a worker that exits
then, and cannot start again until the database is back, would use up its restarts under
`serve`. Here it waits, with a growing pause, runs the worker's recovery (the work it held when
the database went away is queued again, as at a start) and polls again; any other error still
ends it."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from django.core.management import call_command
from django.db import InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)

PAUSES_S = (0.5, 1.0, 2.0, 4.0, 5.0)  # then 5 s a try, for as long as the database is away


def worker_prepare(*, nice: int, threads: int, idle: bool) -> None:
    """Give this worker's CPU to chat first and torch `threads` threads. With `idle` (Linux),
    every thread of the process runs under SCHED_IDLE: it gets only the CPU time that no other
    process wants, and a chat process that wakes takes the core at once (under `nice` 10 a
    busy worker still held ~10% of a contested core and woke chat late); elsewhere, or when
    the kernel refuses, `nice` lowers its priority instead."""
    import torch

    if not (idle and _threads_idle()) and nice:
        os.nice(nice)
    torch.set_num_threads(threads)


def _threads_idle() -> bool:
    """SCHED_IDLE for each thread this process has now (the policy is a thread's own; threads
    started later inherit it from the thread that starts them). False where it cannot be set."""
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is None:
        return False
    try:
        for thread in os.listdir("/proc/self/task"):
            os.sched_setscheduler(int(thread), policy, os.sched_param(0))
    except (OSError, ValueError) as error:
        logger.warning("could not run at idle CPU priority (%s); using nice instead", error)
        return False
    return True


def database_away_pause(*, error: Exception, pause_s: float, doing: str) -> None:
    """The database is unreachable (a restart, a network cut): say so, drop the broken
    connections so the next try opens fresh ones, and wait `pause_s`."""
    first_line = (str(error).splitlines() or [type(error).__name__])[0]
    logger.warning("the database is unreachable (%s); %s again in %g s",
                   first_line[:200], doing, pause_s)  # fmt: skip
    connections.close_all()
    time.sleep(pause_s)


def db_worker_run(*arguments: str, recover: Callable[[], object]) -> None:
    failures = 0
    while True:
        try:
            if failures:
                recover()
            call_command("db_worker", *arguments)
            return
        except (OperationalError, InterfaceError) as error:
            pause = PAUSES_S[min(failures, len(PAUSES_S) - 1)]
            failures += 1
            database_away_pause(error=error, pause_s=pause, doing="polling")
