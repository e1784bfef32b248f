"""The background workers take only the CPU that chat leaves: `documents_worker` and
`batch_worker`, started as `make run` starts them, run every thread under SCHED_IDLE by default,
and at their `nice` value when that is switched off."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from latency.testing.processes import ROOT

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling")


def _polling_worker(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The worker, once django-tasks' loop has started polling its queue."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", command, "--interval", "0.2"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while "Starting worker" not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, "the worker did not start polling in 120 s"
        time.sleep(0.2)
    return process


def _threads(pid: int) -> list[int]:
    return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]


@pytest.mark.parametrize("command", ["documents_worker", "batch_worker"])
def test_every_thread_of_a_worker_runs_at_idle_priority(command, test_database_env, tmp_path):  # noqa: ANN001
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **test_database_env}
    env.pop("BACKGROUND_CPU_IDLE", None)
    process = _polling_worker(command, env, tmp_path / "worker.log")
    try:
        policies = {tid: os.sched_getscheduler(tid) for tid in _threads(process.pid)}
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert policies and set(policies.values()) == {os.SCHED_IDLE}, policies


def test_with_idle_priority_off_a_worker_runs_at_its_nice_value(test_database_env, tmp_path):  # noqa: ANN001
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **test_database_env,
           "BACKGROUND_CPU_IDLE": "0", "DOCUMENTS_WORKER_NICE": "7"}  # fmt: skip
    process = _polling_worker("documents_worker", env, tmp_path / "worker.log")
    try:
        main = os.getpriority(os.PRIO_PROCESS, process.pid)
        policy = os.sched_getscheduler(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert (policy, main - os.getpriority(os.PRIO_PROCESS, 0)) == (os.SCHED_OTHER, 7)
