"""Embedding throughput with and without the micro-batcher, and the cache's answer quality on
the labelled dev pairs, both measured in this process (local model, real cache tables)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, TextIO

from latency.bench.cache.questions import PARAPHRASES
from latency.bench.report import progress

CONCURRENT = 32
DEV_PAIRS = Path("/work/shared/data/cache_dev_pairs.jsonl")


def _texts(round_index: int) -> list[str]:
    every = [text for seed, group in PARAPHRASES.items() for text in (seed, *group)]
    start = round_index * CONCURRENT % len(every)
    return [f"{every[(start + i) % len(every)]} ({round_index})" for i in range(CONCURRENT)]


async def _throughput(*, rounds: int, err: TextIO) -> dict[str, Any]:
    from latency.embeddings.batcher import EmbeddingBatcher
    from latency.embeddings.local import (
        embedding_batch_engine,
        embedding_model_load,
        embedding_submit,
        embeddings_encode,
    )

    def alone(text: str) -> asyncio.Future:  # one text, one pass, on the embedding thread
        return asyncio.wrap_future(embedding_submit(lambda: embeddings_encode(texts=[text])))

    await asyncio.wrap_future(embedding_submit(embedding_model_load))
    batcher = EmbeddingBatcher(max_batch=CONCURRENT)
    await asyncio.gather(*(batcher.embed(text) for text in _texts(rounds)))  # warm both paths
    await alone("warm up")
    batched_s, single_s, passes = [], [], []
    for round_index in range(rounds):
        texts = _texts(round_index)
        before, passes_before = time.perf_counter(), batcher.forward_passes
        await asyncio.gather(*(batcher.embed(text) for text in texts))
        batched_s.append(time.perf_counter() - before)
        passes.append(batcher.forward_passes - passes_before)
        before = time.perf_counter()
        for text in texts:  # one call at a time, batch 1, still off the event loop
            await alone(text)
        single_s.append(time.perf_counter() - before)
        progress(err, round_index + 1, rounds, f"embedding rounds ({CONCURRENT} queries each)")
    await batcher.close()
    batched, single = sum(batched_s), sum(single_s)
    queries = CONCURRENT * rounds
    return {
        "batch_engine": embedding_batch_engine(),
        "concurrent": CONCURRENT,
        "rounds": rounds,
        "batched_qps": round(queries / batched, 1),
        "single_qps": round(queries / single, 1),
        "ratio": round(single / batched, 2),
        "batched_ms_per_query": round(batched * 1000 / queries, 2),
        "single_ms_per_query": round(single * 1000 / queries, 2),
        "batched_ms_per_round": round(batched * 1000 / rounds, 1),
        "forward_passes_per_round": round(sum(passes) / rounds, 2),
    }


def embedding_throughput_measure(*, rounds: int, err: TextIO) -> dict[str, Any]:
    """32 concurrent `EmbeddingBatcher.embed` calls against the same 32 texts one at a time."""
    return asyncio.run(_throughput(rounds=rounds, err=err))


async def _quality(*, err: TextIO) -> dict[str, Any]:
    from latency.cache.evaluation.calibrate import pairs_load
    from latency.cache.evaluation.pairs import pairs_evaluate, rates_of
    from latency.strategies import strategy_settings_get

    settings = await strategy_settings_get()
    pairs = pairs_load(path=DEV_PAIRS)
    outcomes = await pairs_evaluate(
        pairs=pairs,
        settings=settings,
        on_progress=lambda done, total: progress(err, done, total, "dev pairs"),
    )
    rates = rates_of(outcomes=outcomes, threshold=settings.semantic_threshold)
    return {
        "pairs": len(pairs),
        "threshold": settings.semantic_threshold,
        "verify": settings.semantic_verify,
        "hit_rate": round(rates.hit_rate, 4),
        "false_hit_rate": round(rates.false_hit_rate, 4),
        "precision": None if rates.precision is None else round(rates.precision, 4),
        "hits": rates.hits,
        "false_hits": rates.false_hits,
        "wrong": [
            {"cached": o.pair.cached, "asked": o.pair.asked, "same": o.pair.same, "tier": o.tier}
            for o in outcomes
            if not o.correct
        ],
    }


def cache_quality_measure(*, err: TextIO) -> dict[str, Any]:
    """`pairs_evaluate` on the dev pairs with the app's current strategy settings."""
    return asyncio.run(_quality(err=err))
