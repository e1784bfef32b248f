"""`make run`'s command on a fresh data folder: every core serves one port, the processes share
an embedded Redis, a worker killed with kill -9 is started again, and Ctrl-C stops everything
it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from latency.testing.processes import ROOT, port_free

pytestmark = pytest.mark.timeout(600)


def _health(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            return json.load(response)
    except OSError:
        return None


def _worker(serve_pid: int) -> psutil.Process | None:
    """The documents worker among serve's children (None while there is none)."""
    for child in psutil.Process(serve_pid).children(recursive=True):
        try:
            if "documents_worker" in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def test_web_processes_share_the_port_a_killed_worker_restarts_ctrl_c_stops(tmp_path: Path) -> None:
    port, simulator_port = port_free(), port_free()
    env = {
        **os.environ, "DATA_DIR": str(tmp_path), "PORT": str(port), "WEB_PROCESSES": "2",
        "SIMULATOR_URL": f"http://127.0.0.1:{simulator_port}", "EMBEDDED_DB_SHARED_BUFFERS":
        "128MB", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }  # fmt: skip
    env.pop("REDIS_URL", None)
    env.pop("EMBEDDED_DB_NAME", None)
    serve = subprocess.Popen([sys.executable, "manage.py", "serve"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        pids, deadline, body = set(), time.monotonic() + 400, None
        while time.monotonic() < deadline and len(pids) < 2:
            assert serve.poll() is None, "serve exited early"
            body = _health(url)
            if body and body["embedding_model"]["loaded"]:
                pids.add(body["process"]["pid"])
            else:
                time.sleep(1)
        assert len(pids) == 2, f"answers came from {pids}: one process served everything"
        assert body["channel_layer"]["backend"] == "redis (embedded)"
        children = psutil.Process(serve.pid).children(recursive=True)
        assert len(children) >= 5  # redis, simulator, two web processes, worker, alerts
        # A worker killed outright is started again, and the app keeps serving.
        killed = _worker(serve.pid)
        killed.kill()
        killed.wait(10)
        deadline = time.monotonic() + 30
        while (_worker(serve.pid) is None) and time.monotonic() < deadline:
            time.sleep(0.2)
        again = _worker(serve.pid)
        assert again is not None and again.pid != killed.pid, "the worker was not started again"
        assert serve.poll() is None and _health(url) is not None, "serve stopped with the worker"
        children = psutil.Process(serve.pid).children(recursive=True)
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
    time.sleep(1)
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"still running after Ctrl-C: {[c.name() for c in alive]}"
    assert _health(url) is None, "the port is closed"
