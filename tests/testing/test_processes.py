"""A bench or test that starts the simulator never leaves it running, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from latency.testing.processes import ROOT

STARTER = """
import sys, time
from latency.testing.processes import simulator_start, stop_children_on_sigterm
stop_children_on_sigterm()
child = simulator_start(time_scale=0.1)
print(child.process.pid, flush=True)
time.sleep(60)
"""


def _gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A child that exited but is not reaped yet is gone for our purpose.
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().split(") ", 1)[1].startswith("Z"):
                return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_the_simulator_goes_when_its_starter_is_killed(how: signal.Signals) -> None:
    starter = subprocess.Popen([sys.executable, "-c", STARTER], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        simulator_pid = int(starter.stdout.readline())
        starter.send_signal(how)
        starter.wait(timeout=15)
        assert _gone(simulator_pid), f"the simulator outlived a {how.name} of its starter"
    finally:
        if starter.poll() is None:
            starter.kill()
