"""Exact statistics of a window of traces: percentiles, rates, breakdowns, series, histogram.
Percentiles interpolate linearly between the two nearest samples (numpy's default, and the
definition of PostgreSQL's `percentile_cont`), over every sample of the group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from latency.dashboard.queries import (
    COMPRESSED,
    DIMENSIONS,
    FAILED,
    FALLBACK,
    FLAG_BITS,
    HEDGED,
    STOPPED,
    TIMEOUT,
    Samples,
)

PERCENTILES = (50, 95, 99)
HITS = ("exact", "semantic")
HISTOGRAM_EDGES_MS = (
    0, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 8000, 13000, 20000,
)  # fmt: skip
# Within a feature, these breakdowns sit beside that feature's budget.
FEATURE_SPLITS = ("model", "region", "cache_outcome")
Triple = tuple[float | None, float | None, float | None]


@dataclass(frozen=True)
class Stats:
    """Aggregates of one group of traces; latencies in ms, rates in 0–1, per second."""

    requests: int
    seconds: int
    total_p: Triple
    ttft_p: Triple
    exact: int = 0
    semantic: int = 0
    miss: int = 0
    failed: int = 0
    timeouts: int = 0
    stopped: int = 0
    fallbacks: int = 0
    hedged: int = 0
    compressed: int = 0

    @property
    def consulted(self) -> int:
        return self.exact + self.semantic + self.miss

    def _share(self, count: int, whole: int) -> float | None:
        return count / whole if whole else None

    @property
    def hit_rate(self) -> float | None:
        return self._share(self.exact + self.semantic, self.consulted)

    @property
    def exact_rate(self) -> float | None:
        return self._share(self.exact, self.consulted)

    @property
    def semantic_rate(self) -> float | None:
        return self._share(self.semantic, self.consulted)

    @property
    def error_rate(self) -> float | None:
        return self._share(self.failed, self.requests)

    @property
    def timeout_rate(self) -> float | None:
        return self._share(self.timeouts, self.requests)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Group:
    keys: dict[str, str]
    stats: Stats


_COUNTED = {
    "failed": FAILED, "timeouts": TIMEOUT, "stopped": STOPPED, "fallbacks": FALLBACK,
    "hedged": HEDGED, "compressed": COMPRESSED,
}  # fmt: skip


class _Ranked:
    """One metric of every trace, sorted once. The exact percentiles of any grouping then cost
    a linear pass: a stable radix sort by group keeps each group's values in order."""

    def __init__(self, values: np.ndarray) -> None:
        self.order = np.argsort(values)  # NaN (unknown) last
        self.sorted = values[self.order]
        self.known = ~np.isnan(self.sorted)

    def percentiles(self, codes: np.ndarray, groups: int) -> np.ndarray:
        """P50/P95/P99 per group, shape (groups, 3), NaN for a group without values;
        `codes[i]` is the group of trace i, -1 for none. The arithmetic is numpy's (linear, and
        its _lerp: interpolate from the nearer end), so the results equal `np.percentile`."""
        in_order = codes[self.order]
        keep = (in_order >= 0) & self.known
        group_of = in_order[keep]
        values = self.sorted[keep][np.argsort(group_of, kind="stable")]
        sizes = np.bincount(group_of, minlength=groups)
        starts = np.cumsum(sizes) - sizes
        result = np.full((groups, len(PERCENTILES)), np.nan)
        filled = sizes > 0
        size, start = sizes[filled], starts[filled]
        for column, percentile in enumerate(PERCENTILES):
            position = percentile / 100 * (size - 1)
            below = np.floor(position)
            fraction = position - below
            low = start + below.astype(np.int64)
            a, b = values[low], values[np.minimum(low + 1, start + size - 1)]
            diff = b - a
            result[filled, column] = np.where(
                fraction >= 0.5, b - diff * (1 - fraction), a + diff * fraction
            )
        return result


_OUTCOMES = ("exact", "semantic", "miss")
_SIGNATURES = 1 << (FLAG_BITS + 2)  # the flags, and 2 bits for the cache outcome


class Grouper:
    """Stats for many groups at once. Each trace has a signature (its flags and cache outcome):
    one `np.bincount` of (group, signature) pairs and a small product give every count;
    `_Ranked` gives the percentiles."""

    def __init__(self, samples: Samples, seconds: int) -> None:
        self.samples, self.seconds = samples, seconds
        self.total, self.ttft = _Ranked(samples.total_ms), _Ranked(samples.ttft_ms)
        labels, outcome = samples.codes("cache_outcome")
        outcome_code = np.zeros(len(labels) or 1, dtype=np.int64)
        for index, name in enumerate(_OUTCOMES, start=1):
            if name in labels:
                outcome_code[labels.index(name)] = index
        self.signature = samples.flags.astype(np.int64) | (outcome_code[outcome] << FLAG_BITS)
        signatures = np.arange(_SIGNATURES)
        self.names = ["requests", *_OUTCOMES, *_COUNTED]
        self.matrix = np.stack(
            [np.ones(_SIGNATURES)]
            + [(signatures >> FLAG_BITS) == i for i in range(1, len(_OUTCOMES) + 1)]
            + [(signatures & bit) > 0 for bit in _COUNTED.values()],
            axis=1,
        ).astype(np.int64)
        cells = len(samples.keys)
        per_cell = np.bincount(samples.cell * _SIGNATURES + self.signature,
                               minlength=cells * _SIGNATURES)  # fmt: skip
        self.cell_counts = per_cell.reshape(cells, _SIGNATURES) @ self.matrix

    def stats(
        self, codes: np.ndarray, groups: int, *, cell_group: np.ndarray | None = None
    ) -> list[Stats]:  # fmt: skip
        """`codes[i]`: the group of trace i (-1: none). With `cell_group` (each cell's group),
        the counts add up per cell instead of per trace."""
        codes = codes.astype(np.int16)
        if cell_group is not None:
            counts = np.zeros((groups, len(self.names)), dtype=np.int64)
            np.add.at(counts, cell_group, self.cell_counts)
        else:
            member = codes >= 0
            pairs = codes[member].astype(np.int64) * _SIGNATURES + self.signature[member]
            by_signature = np.bincount(pairs, minlength=groups * _SIGNATURES)
            counts = by_signature.reshape(groups, _SIGNATURES) @ self.matrix
        total = self.total.percentiles(codes, groups)
        ttft = self.ttft.percentiles(codes, groups)
        rows = counts.tolist()
        return [
            Stats(
                seconds=self.seconds, total_p=_triple(total[g]), ttft_p=_triple(ttft[g]),
                **dict(zip(self.names, rows[g], strict=True)),
            )  # fmt: skip
            for g in range(groups)
        ]


def _triple(row: np.ndarray) -> Triple:
    return tuple(None if np.isnan(v) else float(v) for v in row)  # type: ignore[return-value]


def breakdowns_compute(
    *, samples: Samples, seconds: int, grouper: Grouper | None = None
) -> dict[str, list[Group]]:  # fmt: skip
    """'all'; each dimension on its own; and model, region, cache outcome within each feature."""
    grouper = grouper or Grouper(samples, seconds)
    sets: dict[str, tuple[str, ...]] = {"all": ()}
    sets.update({name: (name,) for name in DIMENSIONS})
    sets.update({f"feature_{name}": ("feature", name) for name in FEATURE_SPLITS})
    result: dict[str, list[Group]] = {}
    for set_name, dimensions in sets.items():
        keys = sorted({tuple(key[DIMENSIONS.index(d)] for d in dimensions)
                       for key in samples.keys} or ({()} if not dimensions else set()))  # fmt: skip
        position = {key: index for index, key in enumerate(keys)}
        cell_group = np.array(
            [position[tuple(key[DIMENSIONS.index(d)] for d in dimensions)] for key in samples.keys],
            dtype=np.int16,
        )
        codes = cell_group[samples.cell] if samples.size else np.zeros(0, dtype=np.int16)
        stats = grouper.stats(codes, len(keys), cell_group=cell_group)
        result[set_name] = [
            Group(keys=dict(zip(dimensions, key, strict=True)), stats=group_stats)
            for key, group_stats in zip(keys, stats, strict=True)
        ]
    return result


def paths_compute(
    *, samples: Samples, seconds: int, grouper: Grouper | None = None
) -> list[Group]:  # fmt: skip
    """Cache hits, model-served requests, fallbacks, hedges and compressed requests, each on
    its own (a request may be in several) and per feature: hits cannot hide a slow model."""
    grouper = grouper or Grouper(samples, seconds)
    hit = samples.matches("cache_outcome", HITS)
    paths = {
        "cache hit": hit,
        "model (miss or off)": ~hit,
        "fallback": (samples.flags & FALLBACK) > 0,
        "hedged": (samples.flags & HEDGED) > 0,
        "compressed": (samples.flags & COMPRESSED) > 0,
    }
    features, feature_codes = samples.codes("feature")
    groups: list[Group] = []
    for path, mask in paths.items():
        [overall] = grouper.stats(np.where(mask, 0, -1), 1)
        groups.append(Group({"path": path}, overall))
        per_feature = grouper.stats(np.where(mask, feature_codes, -1), len(features))
        groups += [
            Group({"path": path, "feature": feature}, stats)
            for feature, stats in zip(features, per_feature, strict=True)
            if stats.requests
        ]
    return groups


@dataclass(frozen=True)
class SeriesPoint:
    at: datetime
    requests: int
    total_p: Triple
    ttft_p: Triple
    hit_rate: float | None


def series_compute(*, samples: Samples, grouper: Grouper | None = None) -> list[SeriesPoint]:
    """Percentiles and hit rate per time bucket; a bucket without traces has no point."""
    grouper = grouper or Grouper(samples, samples.bucket_count * samples.bucket_seconds)
    count = max(samples.bucket_count, 1)
    stats = grouper.stats(np.clip(samples.bucket, 0, count - 1), count)
    origin = samples.bucket_origin
    return [
        SeriesPoint(
            at=origin + timedelta(seconds=index * samples.bucket_seconds),  # type: ignore[operator]
            requests=bucket.requests, total_p=bucket.total_p, ttft_p=bucket.ttft_p,
            hit_rate=bucket.hit_rate,
        )  # fmt: skip
        for index, bucket in enumerate(stats)
        if bucket.requests
    ]


@dataclass(frozen=True)
class HistogramBar:
    low_ms: float
    high_ms: float | None
    hits: int
    model: int


def histogram_compute(*, samples: Samples) -> list[HistogramBar]:
    """Counts of total latency per bucket [low, high), cache hits apart from model answers."""
    known = ~np.isnan(samples.total_ms)
    hit = samples.matches("cache_outcome", HITS)
    edges = np.asarray(HISTOGRAM_EDGES_MS, dtype=float)
    index = np.searchsorted(edges, samples.total_ms[known], side="right") - 1
    size = len(edges)
    hits = np.bincount(index[hit[known] & (index >= 0)], minlength=size)
    model = np.bincount(index[~hit[known] & (index >= 0)], minlength=size)
    return [
        HistogramBar(
            low_ms=float(edges[i]), high_ms=float(edges[i + 1]) if i + 1 < size else None,
            hits=int(hits[i]), model=int(model[i]),
        )  # fmt: skip
        for i in range(size)
    ]
