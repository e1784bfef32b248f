"""What the app holds at one idle moment: each process's resident memory and open files, the
PostgreSQL connections of the app's processes, and each web process's event-loop tasks (from
its /healthz); two snapshots, before and after a soak, show growth and leaks."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from typing import Any

import psutil

from latency.bench.gateway.cpu import process_role
from latency.testing.serve import ServeChild

BENCH_APPLICATION = "latency_bench load"  # PGAPPNAME of the bench's own connections
NAMES = {"documents_worker": "worker", "batch_worker": "batch", "alerts_check": "alerts",
         "manage.py serve": "serve"}  # fmt: skip


def process_name(process: psutil.Process) -> str:
    command = " ".join(process.cmdline())
    for mark, name in NAMES.items():
        if mark in command:
            return name
    return process_role(process)


def processes_read(*, serve_pid: int) -> list[dict[str, Any]]:
    """Every live process of the serve tree: name, pid, RSS (MB), open file descriptors and
    what its sockets connect to (a leak shows which peer it grows towards)."""
    root = psutil.Process(serve_pid)
    rows = []
    for process in [root, *root.children(recursive=True)]:
        try:
            rows.append({"name": process_name(process), "pid": process.pid,
                         "rss_mb": round(process.memory_info().rss / 2**20, 1),
                         "fds": process.num_fds(), "peers": socket_peers(process)})  # fmt: skip
        except psutil.NoSuchProcess:
            continue
    return sorted(rows, key=lambda row: (row["name"], row["pid"]))


def socket_peers(process: psutil.Process) -> dict[str, int]:
    """The process's sockets by what is at the other end: `tcp:PORT` for a connection it made
    or accepted (the peer's port; accepted ones from clients count as `tcp:accepted`),
    `listen`, `unix`."""
    peers: dict[str, int] = {}
    listening = set()
    connections = process.net_connections(kind="all")
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN:
            listening.add(connection.laddr.port)
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN:
            key = "listen"
        elif connection.family == socket.AF_UNIX:
            key = "unix"
        elif not connection.raddr:
            key = "tcp:unconnected"
        elif connection.laddr.port in listening:
            key = "tcp:accepted"
        else:
            key = f"tcp:{connection.raddr.port}"
        peers[key] = peers.get(key, 0) + 1
    return dict(sorted(peers.items()))


def postgres_connections() -> dict[str, int]:
    """Client connections to the bench's database by state, the bench's own left out."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(state, 'none'), count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_type = 'client backend' "
            "AND application_name <> %s GROUP BY 1", [BENCH_APPLICATION],
        )  # fmt: skip
        by_state = dict(cursor.fetchall())
    return {"total": sum(by_state.values()), **by_state}


def _grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Socket counts by peer that changed between two snapshots (after - before)."""
    changed = {key: after.get(key, 0) - before.get(key, 0) for key in {*before, *after}}
    return {key: change for key, change in sorted(changed.items()) if change}


def web_tasks(*, url: str, web_pids: set[int], tries: int = 60) -> dict[str, int]:
    """Event-loop tasks of each web process, read from /healthz until every one has answered
    (the kernel hands each new connection to one of them)."""
    tasks: dict[str, int] = {}
    for _ in range(tries):
        if web_pids <= {int(pid) for pid in tasks}:
            break
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
                process = json.load(response)["process"]
            tasks[str(process["pid"])] = process["tasks"]
        except (OSError, KeyError, ValueError):
            time.sleep(0.2)
    return tasks


def holdings_snapshot(*, serve: ServeChild) -> dict[str, Any]:
    processes = processes_read(serve_pid=serve.process.pid)
    web = {row["pid"] for row in processes if row["name"] == "web"}
    return {"at": time.time(), "processes": processes, "postgres": postgres_connections(),
            "tasks": web_tasks(url=serve.url, web_pids=web)}  # fmt: skip


def holdings_compare(*, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Per process that lived through both: RSS and open files before, after and the growth;
    the app's PostgreSQL connections and each web process's tasks before and after."""
    earlier = {row["pid"]: row for row in before["processes"]}
    rows = []
    for row in after["processes"]:
        first = earlier.get(row["pid"])
        if first is None:
            continue
        rows.append({"name": row["name"], "pid": row["pid"], "rss_before_mb": first["rss_mb"],
                     "rss_after_mb": row["rss_mb"],
                     "rss_growth_mb": round(row["rss_mb"] - first["rss_mb"], 1),
                     "fds_before": first["fds"], "fds_after": row["fds"],
                     "peers_grown": _grown(first.get("peers", {}), row.get("peers", {})),
                     })  # fmt: skip
    tasks = [{"pid": int(pid), "before": count, "after": after["tasks"].get(pid)}
             for pid, count in before["tasks"].items()]  # fmt: skip
    return {
        "processes": rows,
        "replaced": sorted(set(earlier) - {row["pid"] for row in after["processes"]}),
        "postgres_before": before["postgres"], "postgres_after": after["postgres"],
        "tasks": tasks, "seconds_between": round(after["at"] - before["at"], 1),
    }  # fmt: skip
