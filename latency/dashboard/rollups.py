"""Per-minute rollups: every trace of a finished minute as arrays in one row (exact samples, not
a sketch), so long windows read a row a minute. Built on demand by whichever process reads
first, once a minute is closed; each minute is written once (ON CONFLICT DO NOTHING)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connections

# A trace's created_at is stamped when its row is inserted; a minute this far gone is closed.
SETTLE = timedelta(seconds=90)
SEPARATOR = chr(31)  # between the dimensions of a cell key
MINUTE = timedelta(minutes=1)


def flags_sql() -> str:
    """Per-trace flag bits (latency.dashboard.queries), as SQL over latency_requesttrace."""
    return """(
      (status = 'failed')::int
      | ((status = 'failed' AND error_kind IN ('timeout', 'stall'))::int << 1)
      | (coalesce(tokens_after_compression < tokens_before_compression, false)::int << 2)
      | ((fallbacks > 0)::int << 3)
      | (hedged::int << 4)
      | ((status = 'stopped')::int << 5)
    )"""


def _rollup_sql() -> str:
    key = "feature || chr(31) || model || chr(31) || region || chr(31) || cache_outcome"
    return f"""
    WITH minutes AS (
      SELECT generate_series(%(first)s::timestamptz, %(last)s::timestamptz, interval '1 minute')
        AS minute
    ), traces AS (
      SELECT date_trunc('minute', created_at) AS minute, {key} AS cell_key,
        coalesce(total_ms, 'NaN'::float8) AS total_ms, coalesce(ttft_ms, 'NaN'::float8) AS ttft_ms,
        {flags_sql()} AS flags
      FROM latency_requesttrace
      WHERE created_at >= %(first)s AND created_at < %(last)s::timestamptz + interval '1 minute'
    ), ranked AS (
      SELECT *, dense_rank() OVER (PARTITION BY minute ORDER BY cell_key) - 1 AS cell FROM traces
    ), grouped AS (
      SELECT minute, count(*) AS traces,
        array_agg(DISTINCT cell_key ORDER BY cell_key) AS cell_keys,
        array_agg(cell::int2 ORDER BY cell) AS cells,
        array_agg(total_ms ORDER BY cell) AS total_ms,
        array_agg(ttft_ms ORDER BY cell) AS ttft_ms,
        array_agg(flags ORDER BY cell) AS flags
      FROM ranked GROUP BY minute
    )
    INSERT INTO latency_tracerollup (minute, traces, cell_keys, cells, total_ms, ttft_ms, flags)
    SELECT m.minute, coalesce(g.traces, 0), coalesce(g.cell_keys, '{{}}'),
      coalesce(g.cells, '{{}}'), coalesce(g.total_ms, '{{}}'), coalesce(g.ttft_ms, '{{}}'),
      coalesce(g.flags, '{{}}')
    FROM minutes m LEFT JOIN grouped g USING (minute)
    ON CONFLICT (minute) DO NOTHING
    """


def _minute_floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def rollups_span(*, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The whole, closed minutes of (start, end] that rollups can stand for: [first, stop)."""
    first = _minute_floor(start) + MINUTE
    stop = _minute_floor(end - SETTLE)
    return (first, stop) if stop > first else None


def rollups_ensure(
    *, first: datetime, stop: datetime, using: str = "default"
) -> int:  # fmt: skip
    """Roll up every minute in [first, stop) that is not yet; returns how many were missing."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """SELECT min(m), max(m), count(*) FROM generate_series(%(first)s::timestamptz,
                 %(stop)s::timestamptz - interval '1 minute', interval '1 minute') AS m
               WHERE NOT EXISTS (SELECT 1 FROM latency_tracerollup r WHERE r.minute = m)""",
            {"first": first, "stop": stop},
        )
        low, high, missing = cursor.fetchone()
        if missing:
            cursor.execute(
                _rollup_sql(), {"first": low, "last": high}
            )
    return missing


def rollups_read(*, first: datetime, stop: datetime, using: str = "default") -> list[tuple]:
    """(minute, cell keys, cells, total, ttft, flags) of each minute with traces; the arrays
    come as PostgreSQL's binary array format, for numpy to read without a Python loop."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """SELECT minute, cell_keys, array_send(cells), array_send(total_ms),
                 array_send(ttft_ms), array_send(flags)
               FROM latency_tracerollup
               WHERE minute >= %(first)s AND minute < %(stop)s AND traces > 0""",
            {"first": first, "stop": stop},
        )
        return cursor.fetchall()
