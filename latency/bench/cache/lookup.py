"""Semantic lookup latency in one benchmark database (a child of `latency_bench cache`, run with
EMBEDDED_DB_NAME set): HNSW through the app's own query, and the same SQL as an exact scan.
Usage: python -m latency.bench.cache.lookup --layout one|spread --size N --result FILE"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import numpy as np

LookupFunction = Callable[..., Awaitable[list[Any]]]
WARMUP_QUERIES = 200  # after table_prewarm has brought the table and index into shared_buffers
EF_SWEEP = (40, 100, 200)  # besides the app's own width: what others would cost and find


EXACT_EVERYWHERE = 10**12  # as SEMANTIC_SQL's cut-off: every scope takes the exact branch


def exact_candidates(*, scope: Any, embedding: np.ndarray, limit: int = 3) -> Awaitable[list[Any]]:
    """The app's lookup with every scope counted as small: PostgreSQL reads every row of the
    scope and sorts by exact cosine distance (the reference for recall), on the same connection
    path as the HNSW lookups it is compared with."""
    from latency.cache.store import cache_semantic_candidates

    return cache_semantic_candidates(
        scope=scope, embedding=embedding, limit=limit, exact_max=EXACT_EVERYWHERE
    )


def plan_describe(*, scope: Any, embedding: np.ndarray, exact: bool) -> str:
    """The access path the lookup statement took, e.g. `Index Scan using cache_embedding_hnsw`
    (the branch it skipped is left out)."""
    from django.db import connection

    from latency.cache.store import SEMANTIC_EXACT_MAX, SEMANTIC_SQL, semantic_params

    exact_max = EXACT_EVERYWHERE if exact else SEMANTIC_EXACT_MAX
    params = semantic_params(scope_key=scope.key, embedding=embedding, limit=3, exact_max=exact_max)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {SEMANTIC_SQL}", params)
        plan = [row[0] for row in cursor.fetchall()]
    # Left out: the skipped branch, the CTE reads and the scope count (an index-only scan).
    nodes = [line.strip(" ->") for line in plan if "Scan" in line and "never executed" not in line
             and "CTE Scan" not in line and "Index Only Scan" not in line]  # fmt: skip
    return "; ".join(node.split("  (")[0].split(" (actual")[0] for node in nodes)


async def _timed(
    *, lookup: LookupFunction, scope: Any, queries: list[Any], budget_s: float, err: Any,
    label: str,
) -> tuple[list[float], list[list[str]]]:  # fmt: skip
    from latency.bench.report import progress

    timings, answers = [], []
    started = time.perf_counter()
    for index, query in enumerate(queries):
        before = time.perf_counter()
        candidates = await lookup(scope=scope, embedding=query.vector, limit=3)
        timings.append((time.perf_counter() - before) * 1000)
        answers.append([candidate.query for candidate in candidates])
        progress(err, index + 1, len(queries), label)
        if time.perf_counter() - started > budget_s and index + 1 >= 10:
            err.write("\n")
            break
    return timings, answers


async def lookups_measure(
    *, layout: str, size: int, queries: int, exact_budget_s: float, err: Any
) -> dict[str, Any]:
    from latency.bench.cache.load import SPREAD_SCOPES, scope_of_row
    from latency.bench.cache.vectors import queries_make
    from latency.bench.report import percentiles
    from latency.cache.scope import CacheScope
    from latency.cache.store import SEMANTIC_EF_SEARCH, cache_semantic_candidates

    rows = list(range(0, size, 1 if layout == "one" else SPREAD_SCOPES))
    scope = CacheScope(key=scope_of_row(layout=layout, row=0), owner_id=None)
    asked = queries_make(rows=rows, count=queries, seed=size)
    for query in queries_make(rows=rows, count=WARMUP_QUERIES, seed=size + 1):
        await cache_semantic_candidates(scope=scope, embedding=query.vector)
    hnsw_ms, hnsw_answers = await _timed(
        lookup=cache_semantic_candidates, scope=scope, queries=asked, budget_s=600, err=err,
        label=f"HNSW lookups ({layout}, {size:,})",
    )  # fmt: skip
    await exact_candidates(scope=scope, embedding=asked[0].vector)
    exact_ms, exact_answers = await _timed(
        lookup=exact_candidates, scope=scope, queries=asked, budget_s=exact_budget_s, err=err,
        label=f"exact scans ({layout}, {size:,})",
    )  # fmt: skip
    sweep = [{"ef_search": SEMANTIC_EF_SEARCH, "ms": percentiles(hnsw_ms), "app": True,
              "recall_at_3": _recall(hnsw_answers, exact_answers)}]  # fmt: skip
    for ef_search in (ef for ef in EF_SWEEP if ef != SEMANTIC_EF_SEARCH):

        def wider(ef_search: int = ef_search, **kwargs: Any) -> Awaitable[list[Any]]:
            return cache_semantic_candidates(ef_search=ef_search, **kwargs)

        ms, answers = await _timed(
            lookup=wider, scope=scope, queries=asked, budget_s=600, err=err,
            label=f"HNSW ef_search={ef_search} ({layout}, {size:,})",
        )  # fmt: skip
        recall = _recall(answers, exact_answers)
        sweep.append({"ef_search": ef_search, "ms": percentiles(ms), "recall_at_3": recall})
    paraphrases = [
        (q, a) for q, a in zip(asked, hnsw_answers, strict=True) if q.source_row is not None
    ]
    return {
        "layout": layout,
        "rows": size,
        "scope_rows": len(rows),
        "hnsw_ms": percentiles(hnsw_ms),
        "exact_ms": percentiles(exact_ms),
        "recall_at_3": sweep[0]["recall_at_3"],
        "ef_sweep": sweep,
        "paraphrase_found": round(
            float(np.mean([bool(a) and a[0] == f"row {q.source_row}" for q, a in paraphrases])), 4
        ),
        "hnsw_plan": await _plan(scope=scope, embedding=asked[0].vector, exact=False),
        "exact_plan": await _plan(scope=scope, embedding=asked[0].vector, exact=True),
    }


def _recall(found: list[list[str]], exact: list[list[str]]) -> float:
    """Share of the exact top 3 that HNSW returned, over the queries both answered."""
    pairs = list(zip(found, exact, strict=False))
    return round(float(np.mean([len(set(f) & set(e)) / max(len(e), 1) for f, e in pairs])), 4)


def sql_measure(*, layout: str, size: int, queries: int) -> dict[str, Any]:
    """The app's lookup statement as bare SQL over psycopg (no ORM, no thread hop, no pool
    checkout): what the database itself costs, to tell it apart from the Django path around
    it. Never prepared, as Django's queries are not: a generic plan could not pick a branch."""
    from latency.bench.cache.load import SPREAD_SCOPES, connection_open, scope_of_row
    from latency.bench.cache.vectors import queries_make
    from latency.bench.report import percentiles
    from latency.cache.store import SEMANTIC_SQL, semantic_params

    rows = list(range(0, size, 1 if layout == "one" else SPREAD_SCOPES))
    scope = scope_of_row(layout=layout, row=0)
    timings = []
    with connection_open() as conn:
        for query in queries_make(rows=rows, count=queries, seed=size):
            params = semantic_params(scope_key=scope, embedding=query.vector, limit=3)
            before = time.perf_counter()
            conn.execute(SEMANTIC_SQL, params, prepare=False).fetchall()
            timings.append((time.perf_counter() - before) * 1000)
    return percentiles(timings)


async def _plan(**kwargs: Any) -> str:
    from asgiref.sync import sync_to_async

    return await sync_to_async(plan_describe)(**kwargs)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layout", choices=["one", "spread"], required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exact-budget-s", type=float, default=60.0)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from latency.bench.cache.load import table_fill, table_prewarm

    call_command("migrate", verbosity=0)
    load = table_fill(layout=args.layout, size=args.size, rebuild=args.rebuild, err=sys.stderr)
    table_prewarm()
    result = asyncio.run(
        lookups_measure(
            layout=args.layout, size=args.size, queries=args.queries,
            exact_budget_s=args.exact_budget_s, err=sys.stderr,
        )
    )  # fmt: skip
    result["hnsw_sql_ms"] = sql_measure(layout=args.layout, size=args.size, queries=args.queries)
    result["load"] = asdict(load)
    with open(args.result, "w") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
