"""Synthetic request traces for the dashboard benchmark: a realistic day, loaded with COPY.

Kept in a separate database and reused between runs: a run tops the data up to now, or
reloads it when it is more than two hours stale.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TextIO

import numpy as np
from django.db import connection, connections, models

from latency.bench.report import progress
from latency.models import RequestTrace

DAY_S = 24 * 3600
CHUNK = 50_000
# (model, tier median TTFT ms, share of model-served requests, regions)
MODELS = [
    ("gpt-4o-mini", 320, 0.42, ["edge-eu", "cloud-us"]),
    ("claude-haiku-4.5", 380, 0.14, ["cloud-us"]),
    ("llama-3.1-8b", 260, 0.10, ["edge-eu"]),
    ("gpt-4o", 700, 0.15, ["cloud-us"]),
    ("claude-sonnet-4.5", 800, 0.09, ["cloud-us"]),
    ("gpt-5", 1400, 0.07, ["cloud-us"]),
    ("gemini-2.5-pro", 1600, 0.03, ["cloud-us"]),
]
FEATURES = (["chat", "search", "background"], [0.68, 0.27, 0.05])
CACHE = (["exact", "semantic", "miss", "off"], [0.14, 0.16, 0.55, 0.15])
COLUMNS = [
    "created_at", "source", "feature", "model", "endpoint", "region", "upstream_id",
    "cache_outcome", "cache_similarity", "cache_note", "ttft_ms", "total_ms", "stages",
    "tokens_prompt", "tokens_completion", "tokens_before_compression",
    "tokens_after_compression", "strategies", "decision", "status", "error", "hedged", "fallbacks",
]  # fmt: skip


def bench_database_use(*, name: str) -> None:
    """Point the default alias at database `name` (created when missing) for this process."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    connections.close_all()
    if hasattr(connection, "close_pool"):
        connection.close_pool()
    connections.databases["default"]["NAME"] = name


def traces_ensure(*, rows: int, out: TextIO, seed: int = 11) -> dict[str, object]:
    """Make the last 24 hours hold about `rows` traces ending now; say what was done."""
    table = RequestTrace._meta.db_table
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), max(created_at) FROM {table}")
        count, newest = cursor.fetchone()
    rate = rows / DAY_S
    if newest is not None and count >= rows * 0.95 and now - newest < timedelta(hours=2):
        gap_s = (now - newest).total_seconds()
        added = _traces_copy(
            start=newest, seconds=gap_s, count=int(gap_s * rate), seed=seed, out=out
        )
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE created_at < %s", [now - timedelta(days=1)])
            cursor.execute("DELETE FROM latency_tracerollup WHERE minute < %s",
                           [now - timedelta(days=1)])  # fmt: skip
        action = f"reused; topped up {added} rows"
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}, latency_tracerollup CASCADE")
        _traces_copy(start=now - timedelta(days=1), seconds=DAY_S, count=rows, seed=seed, out=out)
        action = f"loaded {rows} rows"
    with connection.cursor() as cursor:
        # VACUUM sets the visibility map, so the covering index answers without the heap.
        cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute(f"SELECT count(*) FROM {table}")
        total = cursor.fetchone()[0]
    return {"action": action, "rows": total}


def _traces_copy(
    *, start: datetime, seconds: float, count: int, seed: int, out: TextIO
) -> int:  # fmt: skip
    rng = np.random.default_rng(seed + int(start.timestamp()))
    # A daily rhythm: busier in the afternoon, quieter at night.
    offsets = np.sort(_daily_offsets(rng=rng, count=count, seconds=seconds, start=start))
    table = RequestTrace._meta.db_table
    # Columns other engineers add later get their model default, so COPY keeps working.
    others = [
        field for field in RequestTrace._meta.concrete_fields
        if field.column not in COLUMNS and not field.primary_key and not field.null
    ]  # fmt: skip
    defaults = tuple(_copy_value(field) for field in others)
    columns = ", ".join([*COLUMNS, *(field.column for field in others)])
    done = 0
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for low in range(0, count, CHUNK):
            chunk = offsets[low : low + CHUNK]
            for row in _rows(rng=rng, start=start, offsets=chunk):
                copy.write_row(row + defaults)
            done += len(chunk)
            progress(out, done, count, "traces copied")
    return done


def _copy_value(field: models.Field) -> object:
    value = field.get_default()
    return json.dumps(value) if isinstance(field, models.JSONField) else value


def _daily_offsets(
    *, rng: np.random.Generator, count: int, seconds: float, start: datetime
) -> np.ndarray:  # fmt: skip
    if count <= 0:
        return np.zeros(0)
    candidates = rng.uniform(0, seconds, size=count * 2)
    hours = (start.hour + start.minute / 60 + candidates / 3600) % 24
    weight = 0.6 + 0.4 * np.sin((hours - 9) / 24 * 2 * np.pi)
    kept = candidates[rng.uniform(0, 1, size=candidates.size) < weight]
    if kept.size < count:
        kept = np.concatenate([kept, rng.uniform(0, seconds, size=count - kept.size)])
    return kept[:count]


def _rows(*, rng: np.random.Generator, start: datetime, offsets: np.ndarray):  # noqa: ANN202
    n = offsets.size
    features = rng.choice(FEATURES[0], size=n, p=FEATURES[1])
    outcomes = rng.choice(CACHE[0], size=n, p=CACHE[1])
    shares = np.array([m[2] for m in MODELS])
    model_index = rng.choice(len(MODELS), size=n, p=shares / shares.sum())
    ttft_noise = rng.lognormal(0, 0.45, size=n) * np.where(rng.random(n) < 0.03, 3.0, 1.0)
    tokens = rng.integers(40, 600, size=n)
    itl = rng.uniform(8, 25, size=n)
    status_roll = rng.random(n)
    fallback = rng.random(n) < 0.02
    hedge = rng.random(n) < 0.05
    compress_roll = rng.random(n)
    for i in range(n):
        model, median, _share, regions = MODELS[model_index[i]]
        outcome = str(outcomes[i])
        hit = outcome in ("exact", "semantic")
        stages = {"routing": 0.05}
        if outcome != "off":
            stages["exact_cache"] = round(float(0.3 + itl[i] / 40), 3)
        if outcome in ("semantic", "miss"):
            stages["embed"] = round(float(6 + itl[i] / 3), 3)
            stages["semantic_lookup"] = round(float(2 + itl[i] / 8), 3)
        before = after = None
        if features[i] == "search":
            stages["retrieval"] = round(float(15 + itl[i]), 3)
            before = int(tokens[i] * 8)
            after = int(before * 0.45) if compress_roll[i] < 0.6 else before
            if after < before:
                stages["compression"] = round(float(3 + itl[i] / 5), 3)
        prelude = sum(stages.values())
        if hit:
            ttft = prelude + float(ttft_noise[i] * 4)
            total = ttft + float(tokens[i] * 4 / 3)
            endpoint, region = "cache", ""
        else:
            ttft = prelude + float(median * ttft_noise[i]) + (median if fallback[i] else 0)
            total = ttft + float(tokens[i] * itl[i])
            region = regions[i % len(regions)]
            endpoint = f"sim-{region}"
            stages["generation"] = round(total - ttft, 3)
        status, error = "ok", ""
        if not hit and status_roll[i] < 0.012:
            status, error, total = "failed", f"{endpoint} did not answer in time.", ttft + 20_000
            ttft = None
        elif not hit and status_roll[i] < 0.02:
            status, error = "failed", f"{endpoint} is rate limiting requests (429)."
            ttft, total = None, prelude + 150
        elif status_roll[i] > 0.99:
            status, total = "stopped", (ttft or 0) + (total - (ttft or 0)) * 0.4
        strategies = {
            "exact_cache": outcome != "off", "semantic_cache": outcome != "off",
            "speculative_cache": False, "streaming": True, "routing": True, "hedging": True,
            "rag": features[i] == "search", "compression": True, "cache_used": outcome != "off",
        }  # fmt: skip
        yield (
            start + timedelta(seconds=float(offsets[i])), "ws", str(features[i]), model,
            endpoint, region, "", outcome, 0.93 if outcome == "semantic" else None, "",
            None if ttft is None else round(ttft, 3), round(total, 3), json.dumps(stages),
            int(tokens[i] * 3), int(tokens[i]), before, after, json.dumps(strategies), "",
            status, error, bool(hedge[i]) and not hit, int(fallback[i] and not hit),
        )  # fmt: skip
