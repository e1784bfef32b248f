"""Where the CPU goes: user+system seconds of the app's processes over an arm (psutil on the
`serve` process tree, the simulator left out), the bench's own PostgreSQL apart, and py-spy's
samples of one web process turned into a top list by own time."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil

from latency.testing.processes import ROOT

SIMULATOR_MARK = "latency.simulator"


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU seconds by role at one moment; two of them give an arm's cost."""

    by_role: dict[str, float]
    postmaster_pid: int | None = None

    def minus(self, earlier: CpuSnapshot) -> dict[str, float | None]:
        delta: dict[str, float | None] = {
            role: round(seconds - earlier.by_role.get(role, 0.0), 6)
            for role, seconds in self.by_role.items()
        }
        if self.postmaster_pid is None or self.postmaster_pid != earlier.postmaster_pid:
            delta["postgres"] = None  # restarted in between, or unknown: no figure at all
        return delta


def process_role(process: psutil.Process) -> str:
    command = " ".join(process.cmdline())
    if SIMULATOR_MARK in command:
        return "simulator"
    if "chatapp.serving" in command or "daphne" in command:  # serve runs daphne through it
        return "web"
    if "redis-server" in command:
        return "redis"
    return "other"  # serve itself, the documents worker, the alert checker


def _seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def cpu_snapshot(*, serve_pid: int, postmaster_pid: int | None) -> CpuSnapshot:
    """Every live process of the serve tree by role, and PostgreSQL's (postmaster and its
    backends) when its pid is known. A process gone between two snapshots loses its share."""
    by_role: dict[str, float] = {"web": 0.0, "redis": 0.0, "other": 0.0, "simulator": 0.0}
    root = psutil.Process(serve_pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            by_role[process_role(process)] += _seconds(process)
        except psutil.NoSuchProcess:
            continue
    by_role["postgres"] = 0.0
    try:
        postmaster = psutil.Process(postmaster_pid) if postmaster_pid else None
    except psutil.NoSuchProcess:
        postmaster, postmaster_pid = None, None
    if postmaster is not None:
        for process in [postmaster, *postmaster.children(recursive=True)]:
            try:
                by_role["postgres"] += _seconds(process)
            except psutil.NoSuchProcess:
                continue
    return CpuSnapshot(by_role=by_role, postmaster_pid=postmaster_pid)


def app_cpu_ms(*, delta: dict[str, float | None]) -> float:
    """The app's CPU over an arm: the serve tree (web, Redis, serve/worker/alerts), without the
    simulator; PostgreSQL is reported on its own."""
    return 1000 * sum(delta.get(role) or 0.0 for role in ("web", "redis", "other"))


def postmaster_pid_read(*, data_dir: Path) -> int | None:
    """The embedded PostgreSQL's postmaster, from the first line of its postmaster.pid."""
    try:
        return int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def web_pids(*, serve_pid: int) -> list[int]:
    return [
        process.pid
        for process in psutil.Process(serve_pid).children(recursive=True)
        if process_role(process) == "web"
    ]


def profile_start(*, pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling one web process without pausing it (`--nonblocking`), raw collapsed
    stacks, for `seconds`."""
    py_spy = Path(sys.executable).parent / "py-spy"
    command = [
        str(py_spy), "record", "--pid", str(pid), "--format", "raw", "--output", str(output),
        "--duration", str(max(1, round(seconds))), "--rate", "200", "--nonblocking",
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def profile_top(*, raw_path: Path, limit: int = 25) -> list[dict[str, object]]:
    """Functions by own time (samples where they were the innermost frame), from py-spy's raw
    output: one line a distinct stack, `frame;frame;... count`."""
    own: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.split(";")[-1]
        # "function (file.py:line)": drop the line so that one function is one entry.
        name, _, where = leaf.partition(" (")
        file = where.rsplit(":", 1)[0] if where else ""
        own[f"{name} ({_short(file)})" if file else name] += int(count)
        total += int(count)
    return [
        {"function": function, "samples": samples, "own_pct": round(100 * samples / total, 2)}
        for function, samples in own.most_common(limit)
    ]


def _short(file: str) -> str:
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file
