"""The gateway bench's app and its joins: `manage.py serve` started as `make run` starts it (N
daphne processes on one port, embedded Redis, the simulator, worker, alerts), one arm of load,
and what the client saw joined to the app's traces and the simulator's log."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latency.bench.gateway.load import (
    ArmLoad,
    Endpoint,
    client_make,
    load_closed,
    load_open,
    question_unique,
    questions_repeated,
    request_stream,
)
from latency.testing.processes import ROOT, Child, _die_with_parent, port_free

DATABASE = "subsecond_bench_gateway"
BARE = {"prefill": False, "capacity": 0, "rpm": 0, "tpm": 0}  # the simulator as benches use it
READY_TIMEOUT_S = 420.0  # every web process loads the embedding model; slow on a busy machine


@dataclass
class ServeChild(Child):
    """`manage.py serve` and what it started; `stop()` sends SIGTERM and serve stops the rest."""

    simulator_url: str = ""
    web_processes: int = 1

    def sim(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.simulator_url}{path}", data=data, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def planned(self, *, after_ts: float) -> dict[str, dict[str, Any]]:
        """Completion id -> the simulator's record: `planned_ttft_ms` is its own cost to the
        first token, `planned_total_ms` to the last."""
        records = self.sim(f"/sim/log?after_ts={after_ts}")["data"]
        return {r["id"]: r for r in records if r["planned_ttft_ms"] is not None}


def serve_start(
    *, data_dir: Path, web_processes: int, log_path: Path, database: str = DATABASE
) -> ServeChild:
    """`python manage.py serve` on free ports, in `data_dir` and `database` (the bench child's
    own), ready once every web process has answered /healthz with its embedding model loaded."""
    port, simulator_port = port_free(), port_free()
    child_env = {
        **os.environ, "PYTHONUNBUFFERED": "1", "DATA_DIR": str(data_dir),
        "EMBEDDED_DB_NAME": database, "HOST": "127.0.0.1", "PORT": str(port),
        "SIMULATOR_URL": f"http://127.0.0.1:{simulator_port}", "WEB_PROCESSES": str(web_processes),
        "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "metrics" / database),
        # "auto" times a bfloat16 batch as each web process loads the model (seconds on a busy
        # machine); say "on" or "auto" in the environment to measure with it.
        "EMBEDDING_BATCH_BF16": os.environ.get("EMBEDDING_BATCH_BF16", "off"),
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
                if health["embedding_model"]["loaded"]:
                    ready.add(health["process"]["pid"])
        except OSError:
            time.sleep(0.3)
        if process.poll() is not None or time.monotonic() > deadline:
            child.stop()
            raise RuntimeError(f"serve did not start; see {log_path}")
    child.sim("/sim/config", BARE)
    return child


def traces_by_latency(*, user_id: int, since_ts: float, expected: int) -> dict[tuple, Any]:
    """The app's traces of this arm, keyed by (ttft_ms, total_ms) as x_latency reports them:
    the API tells the client no trace id, and those two floats are the trace's own."""
    from datetime import UTC, datetime

    from latency.models import RequestTrace

    since = datetime.fromtimestamp(since_ts - 1, tz=UTC)
    query = RequestTrace.objects.filter(user_id=user_id, source="api", created_at__gte=since)
    deadline = time.monotonic() + 10
    while query.count() < expected and time.monotonic() < deadline:
        time.sleep(0.2)  # traces are written as each request ends
    return {(t.ttft_ms, t.total_ms): t for t in query.exclude(ttft_ms=None)}


def arm_rows(*, load: ArmLoad, serve: ServeChild, user_id: int, cache: str) -> dict[str, Any]:
    """Per request: client TTFT, the trace's TTFT, and (misses) the simulator's planned TTFT
    found through the trace's upstream id; the app's own cost is TTFT minus planned. A hit has
    no upstream: all of its TTFT is the app's."""
    ok = [s for s in load.samples if not s.error]
    since = min((s.sent_at for s in load.samples), default=time.time())
    traces = traces_by_latency(user_id=user_id, since_ts=since, expected=len(ok))
    planned = serve.planned(after_ts=since - 1)
    rows, left_out = [], {"unmatched": 0, "hedged": 0, "cache_other": 0, "no_plan": 0}
    for sample in ok:
        if (sample.x_cache == "miss") != (cache == "miss"):
            left_out["cache_other"] += 1  # a miss that hit, or a repeat that missed
            continue
        trace = traces.get((sample.server_ttft_ms, sample.server_total_ms))
        if trace is None:
            left_out["unmatched"] += 1
            continue
        upstream, upstream_total = 0.0, None
        if cache == "miss":
            if trace.hedged:
                left_out["hedged"] += 1  # the winner started later: its plan is no reference
                continue
            if trace.upstream_id not in planned:
                left_out["no_plan"] += 1
                continue
            upstream = planned[trace.upstream_id]["planned_ttft_ms"]
            upstream_total = planned[trace.upstream_id]["planned_total_ms"]
        rows.append({
            "client_ttft_ms": sample.ttft_ms, "server_ttft_ms": trace.ttft_ms,
            "planned_ttft_ms": upstream, "own_ms": trace.ttft_ms - upstream,
            "client_own_ms": sample.ttft_ms - upstream, "planned_total_ms": upstream_total,
            "completion_tokens": trace.tokens_completion,
        })  # fmt: skip
    return {"rows": rows, "left_out": left_out}


def seeds_cache(*, endpoint: Endpoint, count: int) -> list[str]:
    """Questions asked once, untimed, so that the hit arms' repeats find them cached."""
    seeds = [question_unique(index=index) for index in range(count)]

    async def ask_all() -> None:
        client = client_make(endpoint=endpoint, connections=8)
        semaphore = asyncio.Semaphore(8)

        async def ask(question: str) -> None:
            async with semaphore:
                await request_stream(client=client, model=endpoint.model, question=question)

        await asyncio.gather(*(ask(q) for q in seeds))
        await client.close()

    asyncio.run(ask_all())
    return seeds


def load_run(
    *, endpoint: Endpoint, streams: int, loop: str, seconds: float, rate: float | None = None,
    seeds: list[str] | None = None,
) -> ArmLoad:  # fmt: skip
    questions = questions_repeated(seeds=seeds) if seeds else lambda i: question_unique(index=i)

    async def go() -> ArmLoad:
        client = client_make(endpoint=endpoint, connections=max(8, 4 * streams))
        try:
            if loop == "closed":
                return await load_closed(client=client, model=endpoint.model,
                                         questions=questions, streams=streams, seconds=seconds)
            return await load_open(client=client, model=endpoint.model, questions=questions,
                                   rate=rate or float(streams), seconds=seconds)  # fmt: skip
        finally:
            await client.close()

    return asyncio.run(go())
