"""What the app holds at one idle moment: each process's resident memory and open files, the
PostgreSQL connections of the app's processes, and each web process's event-loop tasks (from
its /healthz); two snapshots, before and after a soak, show growth and leaks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
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


# Sockets to the servers the app reaches through connection pools, by peer name: a pool grows to
# the most its process needed at once and keeps what it opened (redis-py never closes an idle
# connection; psycopg_pool closes one a 10 minutes' idle; httpx closes an expired one when it is
# next used), so an idle moment after a soak may find one more or one fewer than before. The
# servers' own ends of those connections (`accepted` in the redis and simulator processes) count
# with them. Everything else a process holds (files, pipes, its accepted client connections, its
# event loops' socket pairs) comes back to where it was, or leaks.
POOLED_PEERS = {"unix:postgres", "unix:redis", "tcp:postgres", "tcp:redis", "tcp:upstream"}
POOL_SERVERS = {"redis", "simulator"}


def processes_read(*, serve_pid: int, ports: dict[int, str] | None = None) -> list[dict[str, Any]]:
    """Every live process of the serve tree: name, pid, RSS (MB), open file descriptors and
    what its sockets connect to (a leak shows which peer it grows towards); `ports` names the
    TCP ports of known servers (the upstream's)."""
    root = psutil.Process(serve_pid)
    unix = unix_sockets()
    rows = []
    for process in [root, *root.children(recursive=True)]:
        try:
            rows.append({"name": process_name(process), "pid": process.pid,
                         "rss_mb": round(process.memory_info().rss / 2**20, 1),
                         "fds": process.num_fds(),
                         "peers": socket_peers(process, unix=unix, ports=ports or {})})  # fmt: skip
        except psutil.NoSuchProcess:
            continue
    return sorted(rows, key=lambda row: (row["name"], row["pid"]))


def unix_sockets() -> dict[int, tuple[str, str, int]]:
    """Every unix socket on the machine, by inode: its state, the path it is bound to ("" for
    none) and its peer's inode, from `ss` (the kernel's sock_diag; /proc/net/unix has no
    peers). Empty where `ss` is missing: the sockets are then counted as plain `unix`."""
    try:
        listing = subprocess.run(["ss", "-xanH"], capture_output=True, text=True, timeout=10,
                                 check=True).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {}
    table = {}
    for line in listing.splitlines():
        fields = line.split()  # netid state recv-q send-q local inode peer peer-inode
        if len(fields) < 8:
            continue
        try:
            table[int(fields[5])] = (fields[1], "" if fields[4] == "*" else fields[4],
                                     int(fields[7]))  # fmt: skip
        except ValueError:
            continue
    return table


def _unix_peer(inode: int, unix: dict[int, tuple[str, str, int]]) -> str:
    """`listen`; `unix:accepted` for a server's end of a connection; `unix:postgres`,
    `unix:redis` (or the socket file's name) for a connection to a server; `unix:pair` for a
    socket pair (an event loop's wake-up pair, a pipe to a child)."""
    state, path, peer = unix[inode]
    if state == "LISTEN":
        return "listen"
    if path:
        return "unix:accepted"
    peer_path = unix.get(peer, ("", "", 0))[1]
    if not peer_path:
        return "unix:pair"
    name = Path(peer_path).name
    if name.startswith(".s.PGSQL."):
        return "unix:postgres"
    return "unix:redis" if "redis" in name else f"unix:{name}"


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def socket_peers(
    process: psutil.Process, *, unix: dict[int, tuple[str, str, int]] | None = None,
    ports: dict[int, str] | None = None,
) -> dict[str, int]:  # fmt: skip
    """The process's sockets by what is at the other end: `tcp:PORT` (or the port's name in
    `ports`) for a connection it made, `tcp:accepted` for one it accepted, `listen`, and unix
    sockets by their server (`_unix_peer`) when `unix` is given, else plain `unix`."""
    peers: dict[str, int] = {}
    ports = ports or {}
    listening = set()
    connections = process.net_connections(kind="all")
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN:
            listening.add(connection.laddr.port)
    for connection in connections:
        if connection.family == socket.AF_UNIX:
            if unix:
                continue  # counted by inode below
            key = "unix"
        elif connection.status == psutil.CONN_LISTEN:
            key = "listen"
        elif not connection.raddr:
            key = "tcp:unconnected"
        elif connection.laddr.port in listening:
            key = "tcp:accepted"
        else:
            key = f"tcp:{ports.get(connection.raddr.port, connection.raddr.port)}"
        peers[key] = peers.get(key, 0) + 1
    if unix:
        for inode in _socket_inodes(process.pid) & unix.keys():
            key = _unix_peer(inode, unix)
            peers[key] = peers.get(key, 0) + 1
    return dict(sorted(peers.items()))


def pooled_growth(name: str, grown: dict[str, int]) -> int:
    """Of a process's socket changes, those to pooled servers (or, in a server, from them)."""
    pooled = POOLED_PEERS | ({"unix:accepted", "tcp:accepted"} if name in POOL_SERVERS else set())
    return sum(change for peer, change in grown.items() if peer in pooled)


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
    port = serve.simulator_url.rsplit(":", 1)[-1]
    upstream = {int(port): "upstream"} if port.isdigit() else {}
    processes = processes_read(serve_pid=serve.process.pid, ports=upstream)
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
                     "peers_after": row.get("peers", {}),
                     "peers_grown": _grown(first.get("peers", {}), row.get("peers", {})),
                     })  # fmt: skip
        pooled = pooled_growth(row["name"], rows[-1]["peers_grown"])
        rows[-1]["fds_growth_pooled"] = pooled
        rows[-1]["fds_growth_outside_pools"] = row["fds"] - first["fds"] - pooled
    tasks = [{"pid": int(pid), "before": count, "after": after["tasks"].get(pid)}
             for pid, count in before["tasks"].items()]  # fmt: skip
    return {
        "processes": rows,
        "replaced": sorted(set(earlier) - {row["pid"] for row in after["processes"]}),
        "postgres_before": before["postgres"], "postgres_after": after["postgres"],
        "tasks": tasks, "seconds_between": round(after["at"] - before["at"], 1),
    }  # fmt: skip


class HoldingsSampler:
    """Each app process's RSS (MB) and open files every `every_s` while a phase runs, from a
    thread of the bench's: the points of the memory chart, where a leak climbs all the way and
    a pool steps up to its working size and stays."""

    def __init__(self, *, serve: ServeChild, every_s: float = 10.0) -> None:
        self.serve, self.every_s = serve, every_s
        self.rows: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="holdings-sampler", daemon=True)

    def __enter__(self) -> HoldingsSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.rows.append({"at": time.time(), "processes": self._read()})
            if self._stop.wait(self.every_s):
                return

    def _read(self) -> dict[str, list[float]]:
        root = psutil.Process(self.serve.process.pid)
        read = {}
        for process in [root, *root.children(recursive=True)]:
            try:
                read[f"{process_name(process)}:{process.pid}"] = [
                    round(process.memory_info().rss / 2**20, 1), process.num_fds()]
            except psutil.NoSuchProcess:
                continue
        return read
