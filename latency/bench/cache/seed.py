"""The seed article's semantic cache, measured for comparison: every entry a JSON value in Redis
(`{"query", "embedding": [...], "response"}`); a lookup SCANs every key, GETs them (pipelined,
1,000 a round trip), parses the JSON and computes the cosine of each entry in Python."""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

import numpy as np
import redis

from latency.bench.cache.vectors import CHUNK_ROWS, queries_make, vectors_rows
from latency.bench.report import percentiles, progress

REDIS_URL = "redis://127.0.0.1:6379/14"  # the benchmark's own database, flushed when done
KEY_PREFIX = "seed:"
BATCH = 1000


def seed_client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def seed_load(*, client: redis.Redis, size: int, err: TextIO) -> float:
    """Store `size` entries (the same vectors as the PostgreSQL tables); seconds taken."""
    started = time.perf_counter()
    client.flushdb()
    for start in range(0, size, CHUNK_ROWS):
        stop = min(size, start + CHUNK_ROWS)
        pipe = client.pipeline(transaction=False)
        for row, vector in zip(
            range(start, stop), vectors_rows(start=start, stop=stop), strict=True
        ):
            entry = {
                "query": f"row {row}",
                "embedding": vector.tolist(),
                "response": f"answer {row}",
            }
            pipe.set(f"{KEY_PREFIX}{row}", json.dumps(entry))
        pipe.execute()
        progress(err, stop, size, "entries stored in Redis")
    return time.perf_counter() - started


def seed_lookup(*, client: redis.Redis, embedding: np.ndarray) -> tuple[str | None, float]:
    """The article's lookup: the best (query, cosine) over every entry."""
    best_query, best_similarity = None, -1.0
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}*", count=BATCH))
    for start in range(0, len(keys), BATCH):
        pipe = client.pipeline(transaction=False)
        for key in keys[start : start + BATCH]:
            pipe.get(key)
        for raw in pipe.execute():
            entry = json.loads(raw)
            stored = np.asarray(entry["embedding"])
            similarity = float(
                np.dot(embedding, stored) / (np.linalg.norm(embedding) * np.linalg.norm(stored))
            )
            if similarity > best_similarity:
                best_query, best_similarity = entry["query"], similarity
    return best_query, best_similarity


def seed_measure(*, size: int, queries: int, budget_s: float, err: TextIO) -> dict[str, Any]:
    """Load `size` entries, then time lookups until `queries` are done or `budget_s` is spent
    (at least 3). Redis database 14 is flushed afterwards."""
    client = seed_client()
    try:
        load_s = seed_load(client=client, size=size, err=err)
        asked = queries_make(rows=list(range(size)), count=queries, seed=size)
        seed_lookup(client=client, embedding=asked[0].vector)  # warm: connections, allocator
        timings, found = [], []
        started = time.perf_counter()
        for index, query in enumerate(asked):
            before = time.perf_counter()
            best, _ = seed_lookup(client=client, embedding=query.vector)
            timings.append((time.perf_counter() - before) * 1000)
            if query.source_row is not None:
                found.append(best == f"row {query.source_row}")
            progress(err, index + 1, len(asked), f"seed lookups ({size:,})")
            if time.perf_counter() - started > budget_s and index + 1 >= 3:
                err.write("\n")
                break
        return {
            "rows": size,
            "ms": percentiles(timings),
            "load_s": round(load_s, 1),
            "paraphrase_found": round(float(np.mean(found)), 4) if found else None,
            "extrapolated": False,
        }
    finally:
        client.flushdb()
        client.close()


def seed_extrapolate(*, measured: dict[str, Any], size: int) -> dict[str, Any]:
    """Linear in the number of entries (every lookup reads and scores all of them)."""
    scale = size / measured["rows"]
    ms = {key: round(value * scale, 3) for key, value in measured["ms"].items() if key != "n"}
    return {"rows": size, "ms": {"n": 0, **ms}, "extrapolated": True, "from_rows": measured["rows"]}
