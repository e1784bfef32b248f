"""Start the simulator and a daphne server as child processes, for benchmarks and tests.

Every child goes when its starter goes, however that ends: `Child.stop()` when asked, at exit
(atexit, and SIGTERM turned into a normal exit by `stop_children_on_sigterm`), and, if the
starter is killed outright, the kernel's parent-death signal (Linux `PR_SET_PDEATHSIG`).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "simulator listening on "
_PR_SET_PDEATHSIG = 1
_children: list[Child] = []


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGTERM when the starting thread ends."""
    with contextlib.suppress(OSError):  # not Linux: atexit still stops them on a normal exit
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def children_stop() -> None:
    """Stop every child this process started and has not stopped yet."""
    while _children:
        _children.pop().stop()


def stop_children_on_sigterm() -> None:
    """SIGTERM (a bench killed by `kill` or a CI timeout) exits normally, so that `finally`
    blocks and atexit stop the children."""

    def exit_now(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_now)


atexit.register(children_stop)


def port_free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Child:
    url: str
    process: subprocess.Popen[Any]
    log_path: Path | None = None
    files: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        _children.append(self)

    def stop(self) -> None:
        if self in _children:
            _children.remove(self)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for handle in self.files:
            handle.close()


def simulator_control(
    *, url: str, path: str, body: dict[str, Any] | None = None, timeout_s: float = 10
) -> Any:
    """GET (or, with `body`, POST) one of the simulator's control paths (`/sim/config`,
    `/sim/log`); its JSON."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{url}{path}", data=data, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.load(response)


@dataclass
class SimulatorChild(Child):
    """The simulator process, with its control (`/sim/config`) and log (`/sim/log`) endpoints."""

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"

    def _request(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return simulator_control(url=self.url, path=path, body=body)

    def config(self) -> dict[str, Any]:
        """The current fault rates, time scale and realism switches."""
        return self._request("/sim/config")

    def configure(self, **changes: float | bool | None) -> dict[str, Any]:
        """Change the config, e.g. `configure(error_500=1.0)` or `configure(capacity=2)`."""
        return self._request("/sim/config", changes)

    def log(
        self, *, after_ts: float | None = None, completion_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Records of served chat requests, oldest first (by the time each ended)."""
        query = {"after_ts": after_ts, "id": completion_id}
        query_text = urllib.parse.urlencode({k: v for k, v in query.items() if v})
        return self._request(f"/sim/log{'?' + query_text if query_text else ''}")["data"]

    def log_record(self, *, completion_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The record of one completion, waiting a little for a request still ending."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.log(completion_id=completion_id)
            if records:
                return records[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no simulator log record for {completion_id}")
            time.sleep(0.05)


def simulator_start(
    *,
    time_scale: float = 1.0,
    seed: int | None = None,
    log_path: Path | None = None,
    stderr_path: Path | None = None,
    timeout_s: float = 30.0,
    bare: bool = True,
) -> SimulatorChild:
    """Start the simulator; `bare` (the default, as benches have measured it) turns prefill,
    capacity and rate limits off, `bare=False` keeps the realistic defaults of `make run`."""
    command = [
        sys.executable,
        "-m",
        "latency.simulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--time-scale",
        str(time_scale),
    ]
    if bare:
        command.append("--bare")
    if seed is not None:
        command += ["--seed", str(seed)]
    if log_path is not None:
        command += ["--log", str(log_path)]
    stderr = stderr_path.open("w") if stderr_path else subprocess.DEVNULL
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
        preexec_fn=_die_with_parent,
    )  # fmt: skip
    files = [stderr] if stderr_path else []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        readable, _, _ = select.select([process.stdout], [], [], 0.2)
        line = process.stdout.readline() if readable else ""  # type: ignore[union-attr]
        if line.startswith(READY_PREFIX):
            return SimulatorChild(
                url=line.removeprefix(READY_PREFIX).strip(),
                process=process,
                log_path=log_path,
                files=[process.stdout, *files],
            )
    Child(url="", process=process, files=files).stop()
    raise RuntimeError("the simulator did not start")


def daphne_start(*, env: dict[str, str], log_path: Path, timeout_s: float = 180.0) -> Child:
    """daphne on a free port with `env` added to this process's environment."""
    return daphne_ready_wait(child=daphne_launch(env=env, log_path=log_path), timeout_s=timeout_s)


def daphne_launch(*, env: dict[str, str], log_path: Path) -> Child:
    """Start daphne without waiting: several can load their models at once. Call it from the
    thread that stays (the parent-death signal fires when the starting thread ends)."""
    port = port_free()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chatapp.serving",  # daphne with bounded request reads (chatapp/serving.py)
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "--websocket_connect_timeout",
            "10",
            "chatapp.asgi:application",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    return Child(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path, files=[log])


def daphne_ready_wait(*, child: Child, timeout_s: float = 60.0) -> Child:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{child.url}/healthz", timeout=2) as response:
                # Ready once the embedding model is loaded: until then the semantic tier is off.
                if response.status == 200 and json.load(response)["embedding_model"]["loaded"]:
                    return child
        except OSError:
            pass
        if child.process.poll() is not None or time.monotonic() > deadline:
            child.stop()
            raise RuntimeError(f"daphne did not start; see {child.log_path}")
        time.sleep(0.2)


def documents_worker_start(*, log_path: Path, batch: bool = True) -> Child:
    """`manage.py documents_worker` with this process's environment (its database); `batch`:
    it exits once the queue is empty."""
    log = log_path.open("wb")
    command = [sys.executable, str(ROOT / "manage.py"), "documents_worker"]
    process = subprocess.Popen(
        command + ["--batch"] * batch, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )  # fmt: skip
    return Child(url="", process=process, log_path=log_path, files=[log])


def batch_worker_start(
    *, env: dict[str, str], log_path: Path, interval_s: float = 0.1, timeout_s: float = 90.0
) -> Child:
    """`manage.py batch_worker` with this process's environment and `env` added (its database,
    SIMULATOR_URL), ready once it has said so."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "batch_worker", "--interval", str(interval_s)],
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
    )  # fmt: skip
    child = Child(url="", process=process, log_path=log_path, files=[log])
    deadline = time.monotonic() + timeout_s
    while b"batch worker ready" not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            child.stop()
            raise RuntimeError(f"the batch worker did not start; see {log_path}")
        time.sleep(0.1)
    return child


def edge_server_start(*, threads: int = 1, timeout_s: float = 60.0) -> Child:
    """llama.cpp's server (llama-cpp-python) over SmolLM2-135M on a free port, started with the
    command `make run-edge` uses; ready once /v1/models lists the model."""
    from chatapp.edge_model import edge_model_command

    port = port_free()
    process = subprocess.Popen(
        edge_model_command(name="smollm2", port=port, threads=threads),
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )  # fmt: skip
    child = Child(url=f"http://127.0.0.1:{port}", process=process)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{child.url}/v1/models", timeout=2) as response:
                if json.load(response).get("data"):
                    return child
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            child.stop()
            raise RuntimeError("llama.cpp's server did not start")
        time.sleep(0.2)


def process_cpu_ns(*, pid: int) -> int:
    """CPU time a process's threads have run, in ns, from the scheduler's own accounting
    (/proc/PID/task/*/schedstat), not the 10 ms ticks of cpu_times: exact enough to tell a
    token's forward pass (milliseconds of CPU) from the event loop's housekeeping (microseconds)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):  # a thread that ended meanwhile
            continue
    return total


def cpu_silence_ms(
    *, pid: int, window_s: float = 0.6, poll_s: float = 0.02, busy_share: float = 0.5
) -> float:
    """From now, when the process last computed within the window, in ms: how long it kept
    generating after a stream was closed. "Computed" is a poll interval in which its threads
    ran for at least `busy_share` of it. Generating, llama.cpp's server used 19-24 ms of every
    20 ms; idle after a stop, 0-3 ms of every 20 (its housekeeping, about every 100 ms), which
    polls of 2 ms had counted as busy (a 1 ms burst is half of one): 2.2-2.8 s of "work" after a
    stop that had halted generation. The 10 ms tick accounting of cpu_times would round such
    bursts up to a whole tick at random moments."""
    start = time.monotonic()
    used, last_busy, polled = process_cpu_ns(pid=pid), 0.0, start
    while time.monotonic() - start < window_s:
        time.sleep(poll_s)
        now, now_used = time.monotonic(), process_cpu_ns(pid=pid)
        if now_used - used >= busy_share * (now - polled) * 1e9:
            last_busy = now - start
        used, polled = now_used, now
    return last_busy * 1000
