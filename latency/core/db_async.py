"""Asyncio connections to PostgreSQL for the reads on the hot path that are measured in
milliseconds, the cache's semantic lookup and retrieval's search: no thread hop and no Django
connection set-up around a query of a few ms (about a fifth of the lookup at 1M entries).

Per process and per event loop by nature: a connection belongs to the loop that opened it.
daphne has one loop for its life; tests and management commands start and close many, so idle
connections are kept per loop and `async_connections_close()` closes them all. psycopg_pool's
AsyncConnectionPool would keep background tasks on one loop that those short-lived loops leave
pending. Everything else goes through Django's ORM.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

APPLICATION_NAME = "subsecond-async-reads"  # how pg_stat_activity names these connections
IDLE_MAX = 8  # connections a loop keeps open between requests
OPEN_MAX = 16  # connections a loop has at once; a burst beyond it waits rather than opens more
# The reads on these connections (the cache's nearest entries, retrieval's nearest chunks) order
# by distance with a LIMIT, and their graph branch is meant for the HNSW index. pgvector's cost
# estimate for an HNSW scan grows with ef_search: at our 100, PostgreSQL rated a sequential scan
# and a sort cheaper for a scope of a few thousand entries (at 40-80 it took the index), and paid
# 44 ms a lookup at 8,000 cache entries against 1.8 ms through the index, with the same
# neighbours (20 of 20). Sorts the plan cannot avoid (the exact branch, ranking by text
# relevance) still run; the rate limits' and key usage's statements here have none.
ORDER_BY_INDEX = "-c enable_sort=off"


class _LoopConnections:
    def __init__(self) -> None:
        self.idle: list[psycopg.AsyncConnection[Any]] = []
        self.slots = asyncio.Semaphore(OPEN_MAX)


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConnections] = (
    weakref.WeakKeyDictionary()
)


def connection_params() -> dict[str, Any]:
    """Django's own connection parameters for a plain psycopg connection (database, socket,
    startup options such as hnsw.iterative_scan, never-prepared statements), without its sync
    cursor and adapters."""
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return params


@asynccontextmanager
async def async_connection() -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """An autocommit connection of this loop's, given back when the block ends. One that fails
    is closed rather than kept, so a restarted server costs one error, not a poisoned set."""
    loop = asyncio.get_running_loop()
    connections = _loops.get(loop)
    if connections is None:
        connections = _loops[loop] = _LoopConnections()
    async with connections.slots:
        conn = connections.idle.pop() if connections.idle else None
        if conn is None or conn.closed:
            params = connection_params()
            params["options"] = f"{params.get('options', '')} {ORDER_BY_INDEX}".strip()
            conn = await psycopg.AsyncConnection.connect(
                **params, autocommit=True, application_name=APPLICATION_NAME
            )
        try:
            yield conn
        except BaseException:
            await conn.close()
            raise
        if len(connections.idle) < IDLE_MAX and not conn.closed:
            connections.idle.append(conn)
        else:
            await conn.close()


async def async_fetchall(
    sql: str, params: dict[str, Any], *, settings: dict[str, str] | None = None
) -> list[tuple[Any, ...]]:
    """Run one read and return its rows; `settings` (e.g. hnsw.ef_search) hold for this read
    only. A connection that went stale while idle (a database restart) is replaced once."""
    for attempt in (1, 2):
        try:
            async with async_connection() as conn:
                if not settings:
                    return await (await conn.execute(sql, params)).fetchall()
                async with conn.transaction():
                    for name, value in settings.items():
                        await conn.execute("SELECT set_config(%s, %s, true)", [name, value])
                    return await (await conn.execute(sql, params)).fetchall()
        except psycopg.OperationalError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def async_connections_close() -> int:
    """Close every idle connection of every loop (tests, after each one); returns how many.
    Synchronous on purpose: the loops that opened them may be closed already, and closing a
    connection does no I/O the loop would have to run."""
    closed = 0
    for connections in list(_loops.values()):
        while connections.idle:
            connections.idle.pop().pgconn.finish()
            closed += 1
    return closed
