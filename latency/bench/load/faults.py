"""Faults under load: each breaks one part of the running app while chat arrivals go on, then
mends it. The documents and batch workers killed with kill -9 mid-work (serve starts them
again); the embedded Redis stopped and started again on its socket; the embedded PostgreSQL
restarted (`pg_ctl restart -m fast`: every connection cut, the server back in a second or two),
and unreachable (its socket gone, the app's connections cut); and every model endpoint failing
one way at once, for a while, through the simulator's fault rates: 429 storms, 500s, timeouts
(silent holds), stalls after the first pieces, malformed streams and connections dropped.
Nothing else's Redis or PostgreSQL is touched: both are the bench's own, under its data
folder."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from latency.bench.load.arrivals import Phase, error_kind
from latency.bench.load.background import batch_run, document_run
from latency.bench.load.holdings import BENCH_APPLICATION, process_name
from latency.bench.report import percentiles
from latency.testing.processes import Child, _die_with_parent
from latency.testing.serve import ServeChild

WORKERS = ("worker", "batch")


def serve_processes(*, serve: ServeChild, names: tuple[str, ...]) -> list[psutil.Process]:
    found = []
    for process in psutil.Process(serve.process.pid).children(recursive=True):
        try:
            if process.status() != psutil.STATUS_ZOMBIE and process_name(process) in names:
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


def workers_kill(*, serve: ServeChild) -> dict[str, int]:
    killed = {process_name(p): p.pid for p in serve_processes(serve=serve, names=WORKERS)}
    for pid in killed.values():
        os.kill(pid, signal.SIGKILL)
    return killed


def workers_back_wait(*, serve: ServeChild, killed: dict[str, int], timeout_s: float) -> float:
    """Seconds until serve has started every killed worker again (-1: not within timeout_s)."""
    started, killed_pids = time.monotonic(), set(killed.values())
    while time.monotonic() - started < timeout_s:
        back = {process_name(p) for p in serve_processes(serve=serve, names=WORKERS)
                if p.pid not in killed_pids}  # fmt: skip
        if set(killed) <= back:
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    return -1.0


async def workers_fault(
    *, serve: ServeChild, target: Any, pre_s: float, kilobytes: int, items: int,
    timeout_s: float,
) -> tuple[float, float, dict[str, Any]]:  # fmt: skip
    """A document and a batch job under way, then both workers killed with SIGKILL: how long
    until serve has them back, and until the document is ready and the job complete (the
    job's items the dead worker held return when their lease runs out)."""
    from openai import AsyncOpenAI

    api = AsyncOpenAI(base_url=f"{target.url}/v1", api_key=target.api_key, max_retries=0)
    document = asyncio.create_task(document_run(target=target, kilobytes=kilobytes,
                                                timeout_s=timeout_s))  # fmt: skip
    batch = asyncio.create_task(batch_run(api=api, items=items, timeout_s=timeout_s))
    await asyncio.sleep(pre_s)
    began = time.time()
    killed = await asyncio.to_thread(workers_kill, serve=serve)
    back_s = await asyncio.to_thread(workers_back_wait, serve=serve, killed=killed,
                                     timeout_s=60)  # fmt: skip
    works = await asyncio.gather(document, batch)
    await api.close()
    notes = {"killed": killed, "workers_back_after_s": back_s}
    for work in works:
        notes[work.kind] = {
            "outcome": work.outcome, **(work.detail or {}),
            "ended_after_kill_s": round(work.ended_at - began, 2) if work.ended_at else None,
            "ended_before_kill": bool(work.ended_at and work.ended_at < began),
        }  # fmt: skip
    return began, began, notes


def redis_stop(*, serve: ServeChild) -> bool:
    """Stop the embedded Redis serve started (SIGTERM, as a shutdown); False if there is none."""
    found = serve_processes(serve=serve, names=("redis",))
    if not found:
        return False
    found[0].terminate()
    deadline = time.monotonic() + 10
    # serve never waits for it: gone means a zombie here, its socket already removed
    while time.monotonic() < deadline:
        try:
            if found[0].status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    return True


def redis_launch() -> Child:
    """serve's embedded Redis again, the same command on the same unix socket (no TCP port):
    a child of this bench, stopped when the bench ends. Call it from the main thread, which
    outlives it (the parent-death signal fires when the starting thread ends)."""
    from django.conf import settings

    from chatapp.embedded_redis import embedded_redis_command

    command, socket_path = embedded_redis_command(data_dir=Path(settings.DATA_DIR))
    socket_path.unlink(missing_ok=True)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=_die_with_parent)  # fmt: skip
    return Child(url=str(socket_path), process=process)


def redis_ready_wait(*, socket_path: str, timeout_s: float = 10.0) -> None:
    import redis

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if redis.Redis(unix_socket_path=socket_path, socket_timeout=1).ping():
                return
        except (redis.ConnectionError, FileNotFoundError):
            time.sleep(0.05)
    raise RuntimeError("the embedded Redis did not come back")


async def redis_fault(
    *, serve: ServeChild, pre_s: float, down_s: float, restarted: list[Child]
) -> tuple[float, float, dict[str, Any]]:
    await asyncio.sleep(pre_s)
    began = time.time()
    if not await asyncio.to_thread(redis_stop, serve=serve):
        return began, began, {"skipped": "no embedded Redis: one web process needs none"}
    await asyncio.sleep(down_s)
    restarted.append(redis_launch())  # a fork and exec: the loop barely waits
    await asyncio.to_thread(redis_ready_wait, socket_path=restarted[-1].url)
    ended = time.time()
    return began, ended, {"down_s": round(ended - began, 2)}


def postgres_unreachable(*, down_s: float) -> dict[str, Any]:
    """Take the server's unix socket away (new connections fail), cut the app's connections,
    wait, then put the socket back. The server itself runs on: no process can start another
    in the meantime, and nothing else's database is touched."""
    import psycopg
    from django.conf import settings

    database = settings.DATABASES["default"]
    socket_dir = Path(database["HOST"])
    sockets = [p for p in socket_dir.glob(".s.PGSQL.*") if not p.name.endswith(".lock")]
    with psycopg.connect(host=str(socket_dir), dbname=database["NAME"], user=database["USER"],
                         application_name=BENCH_APPLICATION, autocommit=True) as connection:
        for path in sockets:
            path.rename(path.with_name(path.name + ".away"))
        began = time.time()
        try:
            cut = connection.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                "datname = current_database() AND backend_type = 'client backend' AND "
                "pid <> pg_backend_pid() AND application_name <> %s", [BENCH_APPLICATION],
            ).fetchone()[0]  # fmt: skip
            time.sleep(max(0.0, down_s - (time.time() - began)))
        finally:
            for path in sockets:
                path.with_name(path.name + ".away").rename(path)
    return {"connections_cut": cut, "down_s": round(time.time() - began, 2)}


async def postgres_fault(*, pre_s: float, down_s: float) -> tuple[float, float, dict[str, Any]]:
    await asyncio.sleep(pre_s)
    began = time.time()
    notes = await asyncio.to_thread(postgres_unreachable, down_s=down_s)
    return began, time.time(), notes


def postgres_restart() -> dict[str, Any]:
    """`pg_ctl restart -m fast` on the bench's own embedded server (every connection cut)."""
    from django.conf import settings

    from chatapp.embedded_db import embedded_database_restart

    began = time.time()
    embedded_database_restart(data_dir=Path(settings.DATA_DIR))
    return {"restart_s": round(time.time() - began, 2)}


async def postgres_restart_fault(*, pre_s: float) -> tuple[float, float, dict[str, Any]]:
    await asyncio.sleep(pre_s)
    began = time.time()
    notes = await asyncio.to_thread(postgres_restart)
    return began, time.time(), notes


# Each endpoint fault: the simulator's rate that makes every request to every endpoint fail so.
ENDPOINT_FAULTS = {
    "endpoints_429": "error_429", "endpoints_500": "error_500",
    "endpoints_timeout": "timeout_rate", "endpoints_stall": "stall_rate",
    "endpoints_malformed": "malformed_rate", "endpoints_reset": "reset_rate",
}  # fmt: skip


async def endpoint_fault(
    *, serve: ServeChild, rate_name: str, pre_s: float, down_s: float
) -> tuple[float, float, dict[str, Any]]:  # fmt: skip
    """Every endpoint answers every request with the fault for `down_s`, then none."""
    await asyncio.sleep(pre_s)
    began = time.time()
    await asyncio.to_thread(serve.sim, "/sim/config", {rate_name: 1.0})
    try:
        await asyncio.sleep(max(0.0, down_s - (time.time() - began)))
    finally:
        await asyncio.to_thread(serve.sim, "/sim/config", {rate_name: 0.0})
    return began, time.time(), {"down_s": round(time.time() - began, 2), "rate": rate_name}


def fault_outcome(
    *, phase: Phase, began: float, ended: float, hedged: set[str]
) -> dict[str, Any]:
    """What clients saw from the fault's start on, how long after its end requests succeeded
    again (arrival of the first request after which every one succeeded), and what came
    before it (the same load, no fault: it must be clean)."""
    ordered = sorted(phase.arrived, key=lambda a: a.at)
    before = [a for a in ordered if a.at < began]
    since = [a for a in ordered if a.at >= began]
    failures = [a for a in since if a.sample.state != "done"]
    recovery_s: float | None = 0.0
    if failures:
        later = [a for a in since if a.at > failures[-1].at]
        recovery_s = round(max(0.0, later[0].at - ended), 2) if later else None
    own_after = [a.sample.own_ms for a in since if a.at > ended and a.sample.own_ms is not None
                 and a.sample.upstream_id not in hedged]  # fmt: skip
    return {
        "requests_before": len(before),
        "errors_before": sum(a.sample.state != "done" for a in before),
        "requests_since": len(since), "errors_since": len(failures),
        "saw": dict(Counter(error_kind(a.sample) for a in failures)),
        "examples": sorted({a.sample.error[:160] for a in failures if a.sample.error})[:4],
        "hung": sum(a.sample.state == "hung" for a in since),
        # When each failure arrived, in s from the fault's end (negative: while it was on).
        "failures": [[round(a.at - ended, 2), error_kind(a.sample)] for a in failures][:40],
        "recovery_s": recovery_s,
        "own_ttft_after_ms": percentiles(own_after),
    }  # fmt: skip
