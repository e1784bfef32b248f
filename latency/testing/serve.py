"""`manage.py serve` started as `make run` starts it (N daphne processes on one port, embedded
Redis, the simulator, the documents and batch workers, alerts), on free ports, for benches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latency.testing.processes import ROOT, Child, _die_with_parent, port_free, simulator_control

BARE = {"prefill": False, "capacity": 0, "rpm": 0, "tpm": 0}  # the simulator as benches use it
READY_TIMEOUT_S = 420.0  # every web process loads the embedding model; slow on a busy machine


@dataclass
class ServeChild(Child):
    """`manage.py serve` and what it started; `stop()` sends SIGTERM and serve stops the rest."""

    simulator_url: str = ""
    web_processes: int = 1

    def sim(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return simulator_control(url=self.simulator_url, path=path, body=body, timeout_s=30)

    def planned(self, *, after_ts: float) -> dict[str, dict[str, Any]]:
        """Completion id -> the simulator's record: `planned_ttft_ms` is its own cost to the
        first token, `planned_total_ms` to the last."""
        records = self.sim(f"/sim/log?after_ts={after_ts}")["data"]
        return {r["id"]: r for r in records if r["planned_ttft_ms"] is not None}


def serve_start(
    *, data_dir: Path, web_processes: int, log_path: Path, database: str,
    realism: dict[str, Any] | None = BARE, env: dict[str, str] | None = None,
) -> ServeChild:  # fmt: skip
    """`python manage.py serve` on free ports, in `data_dir` and `database`, ready once every
    web process has answered /healthz with its embedding model loaded and its start-up frozen
    out of the garbage collector (chatapp.asgi). `realism`: the simulator's config then (BARE
    by default, as benches have measured it; None keeps the capacity, rate limits and prefill
    that `make run` starts with)."""
    port, simulator_port = port_free(), port_free()
    child_env = {
        **os.environ, "PYTHONUNBUFFERED": "1", "DATA_DIR": str(data_dir),
        "EMBEDDED_DB_NAME": database, "HOST": "127.0.0.1", "PORT": str(port),
        "SIMULATOR_URL": f"http://127.0.0.1:{simulator_port}", "WEB_PROCESSES": str(web_processes),
        "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "metrics" / database),
        # "auto" times a bfloat16 batch as each web process loads the model (seconds on a busy
        # machine); say "on" or "auto" in the environment to measure with it.
        "EMBEDDING_BATCH_BF16": os.environ.get("EMBEDDING_BATCH_BF16", "off"),
        **(env or {}),
    }  # fmt: skip
    # The embedded defaults; and a bench's name for its own connections stays the bench's.
    for name in ("REDIS_URL", "OPENAI_API_KEY", "DATABASE_URL", "PGAPPNAME"):
        child_env.pop(name, None)
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve"], cwd=ROOT, env=child_env, stdout=log,
        stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
    )  # fmt: skip
    child = ServeChild(
        url=f"http://127.0.0.1:{port}", process=process, log_path=log_path, files=[log],
        simulator_url=f"http://127.0.0.1:{simulator_port}", web_processes=web_processes,
    )  # fmt: skip
    ready: set[int] = set()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while len(ready) < web_processes:
        try:
            with urllib.request.urlopen(f"{child.url}/healthz", timeout=2) as response:
                health = json.load(response)
                # Loaded, and start-up frozen out of the collector (its last full pass of
                # ~150 ms comes just before): a bench's first step would otherwise take it.
                if health["embedding_model"]["loaded"] and health["process"]["gc_frozen"]:
                    ready.add(health["process"]["pid"])
        except OSError:
            time.sleep(0.3)
        if process.poll() is not None or time.monotonic() > deadline:
            child.stop()
            raise RuntimeError(f"serve did not start; see {log_path}")
    if realism is not None:
        child.sim("/sim/config", realism)
    return child
