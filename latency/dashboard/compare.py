"""Side by side: the strategy sets that served a window (every trace records which strategies
were on), and the window against the one before. On demand: it reads the traces' rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections

from latency.dashboard.stats import Stats

# Per-request outcomes kept beside the switches; not part of a strategy set.
OUTCOME_KEYS = ["cache_used", "rag_used"]
MAX_SETS = 8
_AGGREGATES = """
  count(*) AS requests,
  percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY total_ms) AS total_p,
  percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY ttft_ms) AS ttft_p,
  count(*) FILTER (WHERE cache_outcome = 'exact') AS exact,
  count(*) FILTER (WHERE cache_outcome = 'semantic') AS semantic,
  count(*) FILTER (WHERE cache_outcome = 'miss') AS miss,
  count(*) FILTER (WHERE status = 'failed') AS failed,
  count(*) FILTER (WHERE fallbacks > 0) AS fallbacks,
  count(*) FILTER (WHERE hedged) AS hedged
"""


@dataclass(frozen=True)
class Compared:
    label: str
    stats: Stats


def _stats(row: dict, seconds: int) -> Stats:
    empty = (None, None, None)
    return Stats(
        requests=row["requests"], seconds=seconds, total_p=tuple(row["total_p"] or empty),
        ttft_p=tuple(row["ttft_p"] or empty), exact=row["exact"], semantic=row["semantic"],
        miss=row["miss"], failed=row["failed"], fallbacks=row["fallbacks"],
        hedged=row["hedged"],
    )  # fmt: skip


def _fetch(sql: str, params: dict, using: str) -> list[dict]:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def strategy_set_label(flags: dict[str, object] | str | None) -> str:
    if isinstance(flags, str):  # Django hands raw jsonb over as text
        flags = json.loads(flags)
    flags = flags or {}
    off = sorted(name for name, on in flags.items() if on is False)
    return "all on" if not off else "off: " + ", ".join(name.replace("_", " ") for name in off)


def strategy_sets_compare(
    *, start: datetime, end: datetime, using: str = "default"
) -> list[Compared]:  # fmt: skip
    """The most used strategy sets of the window, busiest first."""
    sql = f"""
      SELECT strategies - %(outcomes)s::text[] AS flags, {_AGGREGATES}
      FROM latency_requesttrace WHERE created_at > %(start)s AND created_at <= %(end)s
      GROUP BY 1 ORDER BY count(*) DESC LIMIT {MAX_SETS}
    """
    seconds = int((end - start).total_seconds())
    rows = _fetch(sql, {"start": start, "end": end, "outcomes": OUTCOME_KEYS}, using)
    return [Compared(strategy_set_label(row["flags"]), _stats(row, seconds)) for row in rows]


def periods_compare(*, start: datetime, end: datetime, using: str = "default") -> list[Compared]:
    """This window against the window of the same length just before it."""
    length = end - start
    sql = f"""
      SELECT created_at > %(start)s AS current, {_AGGREGATES}
      FROM latency_requesttrace WHERE created_at > %(before)s AND created_at <= %(end)s
      GROUP BY 1
    """
    params = {"start": start, "before": start - length, "end": end}
    rows = {row["current"]: row for row in _fetch(sql, params, using)}
    seconds = int(length / timedelta(seconds=1))
    labels = {False: "the window before", True: "this window"}
    return [Compared(labels[k], _stats(rows[k], seconds)) for k in (True, False) if k in rows]
