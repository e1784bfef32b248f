"""Fill a benchmark database's CacheEntry table with synthetic rows (binary COPY), then build
its HNSW index in one pass, printing progress; a table already filled the same way is reused."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import psycopg
from django.db import connection

from latency.bench.cache.vectors import CHUNK_ROWS, CLUSTERS, SEED, vectors_rows
from latency.bench.report import progress

TABLE = "latency_cacheentry"
INDEX = "cache_embedding_hnsw"
SPREAD_SCOPES = 100  # the "spread" layout: each scope holds 1% of the rows
COPY_COLUMNS = (
    "scope_key", "query", "query_normalized", "embedding", "response", "model",
    "source_documents", "created_at", "expires_at", "hits",
)  # fmt: skip
COPY_TYPES = (
    "varchar", "text", "text", "vector", "text", "varchar", "int8[]", "timestamptz",
    "timestamptz", "int4",
)  # fmt: skip


@dataclass(frozen=True)
class LoadReport:
    rows: int
    reused: bool
    copy_s: float = 0.0
    index_s: float = 0.0
    index_mb: float = 0.0
    table_mb: float = 0.0


def model_index_sql(*, model: Any, name: str) -> str:
    """The CREATE INDEX statement of one of the model's indexes, as its migration makes it, so
    that a bench table is indexed exactly like the app's (rendered here, not executed)."""
    index = next(index for index in model._meta.indexes if index.name == name)
    return str(index.create_sql(model, connection.schema_editor()))


def scope_of_row(*, layout: str, row: int) -> str:
    return "bench-all" if layout == "one" else f"bench-{row % SPREAD_SCOPES}"


def table_fill(*, layout: str, size: int, rebuild: bool, err: TextIO) -> LoadReport:
    """Make the table hold exactly `size` rows of `layout`, indexed; reuse it if it does."""
    from latency.models import CacheEntry

    index_sql = model_index_sql(model=CacheEntry, name=INDEX)
    index = index_sql.split("WITH ")[1]  # a table built with other index settings is rebuilt
    marker = f"bench layout={layout} rows={size} seed={SEED} clusters={CLUSTERS} index={index}"
    with connection_open() as conn:
        current = conn.execute(
            f"SELECT obj_description('{TABLE}'::regclass, 'pg_class')"
        ).fetchone()[0]
        indexed = conn.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [INDEX]).fetchone()
        if (current or "").split(";")[0] == marker and indexed and not rebuild:
            err.write(f"reusing {size:,} rows ({layout}) in {connection.settings_dict['NAME']}\n")
            took = dict(item.split("=") for item in current.split(";")[1:])  # the original load
            copy_s, index_s = float(took.get("copy_s", 0)), float(took.get("index_s", 0))
            return LoadReport(size, True, copy_s=copy_s, index_s=index_s, **_sizes(conn))
        conn.execute(f"COMMENT ON TABLE {TABLE} IS NULL")
        conn.execute(f"DROP INDEX IF EXISTS {INDEX}")
        conn.execute(f"TRUNCATE {TABLE} RESTART IDENTITY CASCADE")
        started = time.perf_counter()
        _rows_copy(conn=conn, layout=layout, size=size, err=err)
        copy_s = time.perf_counter() - started
        started = time.perf_counter()
        _index_build(conn=conn, sql=index_sql, size=size, err=err)
        index_s = time.perf_counter() - started
        conn.execute(f"VACUUM ANALYZE {TABLE}")
        comment = f"{marker};copy_s={copy_s:.1f};index_s={index_s:.1f}"
        conn.execute(f"COMMENT ON TABLE {TABLE} IS '{comment}'")
        return LoadReport(rows=size, reused=False, copy_s=copy_s, index_s=index_s, **_sizes(conn))


def connection_open() -> psycopg.Connection[Any]:
    """A plain psycopg connection made as the app's are (same startup options)."""
    from pgvector.psycopg import register_vector

    from latency.core.db_async import connection_params

    conn = psycopg.connect(**connection_params(), autocommit=True)
    register_vector(conn)
    return conn


def table_prewarm(*, table: str = TABLE) -> None:
    """Bring a table and its HNSW index into shared_buffers, as on a server that has been
    answering for a while. This build has no pg_prewarm, and reading the files only fills the
    OS page cache (a lookup then still copies every page it touches from there, ~5 µs each),
    so one iterative index scan walks the whole graph and fetches every row (~25 s at 1M)."""
    with connection_open() as conn:
        size = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        with conn.transaction():
            for setting in ("enable_seqscan = off", "max_parallel_workers_per_gather = 0",
                            "work_mem = '2GB'", "hnsw.iterative_scan = relaxed_order",
                            "hnsw.scan_mem_multiplier = 4",
                            f"hnsw.max_scan_tuples = {max(size, 1)}"):  # fmt: skip
                conn.execute(f"SET LOCAL {setting}")
            probe = conn.execute(f"SELECT embedding FROM {table} LIMIT 1").fetchone()
            if probe is not None:
                conn.execute(
                    f"SELECT count(*) FROM (SELECT id FROM {table} "
                    "ORDER BY embedding <=> %s LIMIT %s) walked",
                    [probe[0], size],
                )


def _sizes(conn: psycopg.Connection[Any]) -> dict[str, float]:
    table, index = conn.execute(
        f"SELECT pg_table_size('{TABLE}'), pg_relation_size('{INDEX}')"
    ).fetchone()
    return {"table_mb": round(table / 2**20, 1), "index_mb": round(index / 2**20, 1)}


def _rows_copy(*, conn: psycopg.Connection[Any], layout: str, size: int, err: TextIO) -> None:
    now = datetime.now(UTC)
    expires = now + timedelta(days=3650)  # kept between runs: must not expire
    sql = f"COPY {TABLE} ({', '.join(COPY_COLUMNS)}) FROM STDIN WITH (FORMAT BINARY)"
    with conn.cursor().copy(sql) as copy:
        copy.set_types(list(COPY_TYPES))
        for start in range(0, size, CHUNK_ROWS):
            stop = min(size, start + CHUNK_ROWS)
            for row, vector in zip(
                range(start, stop), vectors_rows(start=start, stop=stop), strict=True
            ):
                text = f"row {row}"
                scope = scope_of_row(layout=layout, row=row)
                copy.write_row((scope, text, text, vector, f"answer {row}", "bench", [], now,
                                expires, 0))  # fmt: skip
            progress(err, stop, size, f"rows copied ({layout})")


def _index_build(*, conn: psycopg.Connection[Any], sql: str, size: int, err: TextIO) -> None:
    """Build after loading: one pass over all rows is far faster than row-by-row inserts."""
    conn.execute("SET maintenance_work_mem = '4GB'")  # the 1M graph (~2.5 GB) fits in memory
    conn.execute("SET max_parallel_maintenance_workers = 2")
    done = threading.Event()
    watcher = threading.Thread(target=_index_watch, args=(done, size, err), daemon=True)
    watcher.start()
    try:
        conn.execute(sql)
    finally:
        done.set()
        watcher.join()


def _index_watch(done: threading.Event, size: int, err: TextIO) -> None:
    """From a second connection: the phase and tuples done of the running CREATE INDEX."""
    started = time.perf_counter()
    with connection_open() as conn:
        while not done.wait(2.0):
            row = conn.execute(
                "SELECT phase, tuples_done, tuples_total FROM pg_stat_progress_create_index "
                "WHERE relid = %s::regclass",
                [TABLE],
            ).fetchone()
            phase, tuples = (row[0], row[1]) if row else ("starting", 0)
            elapsed = time.perf_counter() - started
            err.write(f"\r  HNSW build {elapsed:7.1f} s  {phase}: {tuples:,}/{size:,} tuples   ")
            err.flush()
    err.write(f"\r  HNSW build done in {time.perf_counter() - started:.1f} s{' ' * 40}\n")
