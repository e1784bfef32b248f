"""Synthetic 384-dim vectors shaped like sentence embeddings: a mixture of a few thousand
Gaussian clusters around a shared mean direction, unit length, the same row for the same index."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DIMENSIONS = 384
CLUSTERS = 3000
CHUNK_ROWS = 10_000
SEED = 20_240_601
# Real MiniLM vectors share a common direction (unrelated sentences sit at cosine ~0.1-0.2)
# and cluster by topic (related sentences ~0.5-0.7); a paraphrase sits at ~0.85-0.95.
MEAN_WEIGHT = 0.45
CLUSTER_SPREAD = 0.8
PARAPHRASE_NOISE = 0.3


@dataclass(frozen=True)
class BenchQuery:
    vector: np.ndarray
    source_row: int | None  # the stored row it paraphrases; None for an unrelated question


def _unit(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)).astype(np.float32)


def _noise(rng: np.random.Generator, rows: int) -> np.ndarray:
    return rng.standard_normal((rows, DIMENSIONS)) / np.sqrt(DIMENSIONS)


@lru_cache(maxsize=1)
def _centres() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    mean = _unit(rng.standard_normal((1, DIMENSIONS)))
    return _unit(MEAN_WEIGHT * mean + _unit(_noise(rng, CLUSTERS)) * (1 - MEAN_WEIGHT))


@lru_cache(maxsize=4)
def _chunk(index: int) -> np.ndarray:
    rng = np.random.default_rng([SEED, index])
    labels = rng.integers(0, CLUSTERS, CHUNK_ROWS)
    return _unit(_centres()[labels] + CLUSTER_SPREAD * _noise(rng, CHUNK_ROWS))


def vectors_rows(*, start: int, stop: int) -> np.ndarray:
    """Rows `start..stop-1` of the endless synthetic table, float32, unit length."""
    parts = []
    for chunk in range(start // CHUNK_ROWS, (stop - 1) // CHUNK_ROWS + 1):
        base = chunk * CHUNK_ROWS
        lower, upper = max(start, base) - base, min(stop, base + CHUNK_ROWS) - base
        parts.append(_chunk(chunk)[lower:upper])
    return np.concatenate(parts) if parts else np.zeros((0, DIMENSIONS), np.float32)


def queries_make(
    *, rows: list[int], count: int, unrelated_share: float = 0.2, seed: int = 1
) -> list[BenchQuery]:
    """`count` queries: perturbed copies of random rows from `rows` (paraphrases, so a real
    near neighbour exists), and a share of fresh vectors from random clusters."""
    rng = np.random.default_rng([SEED, seed])
    unrelated = rng.random(count) < unrelated_share
    sources = [int(rows[i]) for i in rng.integers(0, len(rows), count)]
    stored: dict[int, np.ndarray] = {}
    for chunk in sorted({row // CHUNK_ROWS for row in sources}):  # each chunk made once
        vectors = _chunk(chunk)
        stored.update(
            {row: vectors[row % CHUNK_ROWS] for row in sources if row // CHUNK_ROWS == chunk}
        )
    queries = []
    for is_unrelated, row in zip(unrelated, sources, strict=True):
        if is_unrelated:
            centre = _centres()[rng.integers(0, CLUSTERS)]
            vector = _unit(centre + CLUSTER_SPREAD * _noise(rng, 1))[0]
            queries.append(BenchQuery(vector=vector, source_row=None))
        else:
            vector = _unit(stored[row] + PARAPHRASE_NOISE * _noise(rng, 1))[0]
            queries.append(BenchQuery(vector=vector, source_row=row))
    return queries
