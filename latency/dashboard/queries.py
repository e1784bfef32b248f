"""Read a window of traces from PostgreSQL as numpy arrays, every sample: recent minutes by one
index-only scan of `trace_window_idx` (covering), finished minutes of long windows from their
per-minute rollups (latency.dashboard.rollups). latency.dashboard.stats does the arithmetic."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

import numpy as np
from django.db import connections

from latency.dashboard.rollups import (
    SEPARATOR,
    flags_sql,
    rollups_ensure,
    rollups_read,
    rollups_span,
)

DIMENSIONS = ("feature", "model", "region", "cache_outcome")
# Per-request flags, packed with the time bucket into one int per trace.
FAILED, TIMEOUT, COMPRESSED, FALLBACK, HEDGED, STOPPED = 1, 2, 4, 8, 16, 32
FLAG_BITS = 6

_WINDOW_SQL = f"""
SELECT feature, model, region, cache_outcome,
  array_send(array_agg(coalesce(total_ms, 'NaN'::float8))) AS total,
  array_send(array_agg(coalesce(ttft_ms, 'NaN'::float8))) AS ttft,
  array_send(array_agg(
    ((floor(extract(epoch FROM created_at) / %(bucket_s)s) - %(base)s)::int << {FLAG_BITS})
    | {flags_sql()}
  )) AS packed
FROM latency_requesttrace
WHERE (created_at > %(start)s AND created_at < %(head_end)s)
   OR (created_at >= %(tail_start)s AND created_at <= %(end)s)
GROUP BY 1, 2, 3, 4
"""
# Windows at least this long read finished minutes from their rollups.
ROLLUP_FROM_S = 1800
_FLOAT8 = np.dtype([("length", ">i4"), ("value", ">f8")])
_INT4 = np.dtype([("length", ">i4"), ("value", ">i4")])
_INT2 = np.dtype([("length", ">i4"), ("value", ">i2")])
_ARRAY_HEADER = 20  # ndim, has-nulls, element type, length, lower bound: one dimension


@dataclass(frozen=True)
class Window:
    key: str
    label: str
    seconds: int
    bucket_seconds: int

    def bounds(self, *, now: datetime) -> tuple[datetime, datetime]:
        return now - timedelta(seconds=self.seconds), now



WINDOWS = {
    "5m": Window("5m", "5 minutes", 300, 10),
    "1h": Window("1h", "1 hour", 3600, 60),
    "24h": Window("24h", "24 hours", 86400, 1800),
}


@dataclass(frozen=True)
class Samples:
    """Every trace of a window, one entry per trace: `keys[cell[i]]` are its dimensions."""

    keys: list[tuple[str, str, str, str]]
    cell: np.ndarray  # int index into keys
    total_ms: np.ndarray  # NaN where unknown
    ttft_ms: np.ndarray  # NaN where no token arrived
    bucket: np.ndarray  # time bucket index, 0 = the bucket `bucket_origin` starts
    flags: np.ndarray  # FAILED | TIMEOUT | ...
    bucket_origin: datetime | None = None
    bucket_seconds: int = 60
    bucket_count: int = 0

    @property
    def size(self) -> int:
        return int(self.cell.size)

    @cached_property
    def _codes(self) -> dict[str, tuple[list[str], np.ndarray]]:
        codes = {}
        for index, dimension in enumerate(DIMENSIONS):
            labels = sorted({key[index] for key in self.keys})
            per_cell = np.array([labels.index(key[index]) for key in self.keys], dtype=np.int32)
            codes[dimension] = (labels, per_cell[self.cell] if self.size else per_cell)
        return codes

    def codes(self, dimension: str) -> tuple[list[str], np.ndarray]:
        """The values `dimension` takes, and for every trace the index of its value."""
        return self._codes[dimension]

    def matches(self, dimension: str, values: tuple[str, ...]) -> np.ndarray:
        """For every trace: whether its `dimension` is one of `values`."""
        labels, codes = self.codes(dimension)
        wanted = [index for index, label in enumerate(labels) if label in values]
        return np.isin(codes, wanted)


def _unpack(data: bytes | memoryview, dtype: np.dtype) -> np.ndarray:
    return np.frombuffer(data, dtype=dtype, offset=_ARRAY_HEADER)["value"]


class _Parts:
    """Arrays gathered from raw traces and rollups, their cells numbered as they come."""

    def __init__(self) -> None:
        self.index: dict[tuple[str, ...], int] = {}
        self.by_text: dict[str, int] = {}
        self.cells, self.totals, self.ttfts, self.buckets, self.flags = [], [], [], [], []

    def cell(self, key: tuple[str, ...]) -> int:
        return self.index.setdefault(key, len(self.index))

    def cell_of_text(self, text: str) -> int:
        """The cell of a rollup's key ("feature␟model␟region␟cache"), split once per key."""
        if text not in self.by_text:
            self.by_text[text] = self.cell(tuple(text.split(SEPARATOR)))
        return self.by_text[text]

    def add(self, *, cells: np.ndarray, total: np.ndarray, ttft: np.ndarray,
            bucket: np.ndarray, flags: np.ndarray) -> None:  # fmt: skip
        self.cells.append(cells.astype(np.int32))
        self.totals.append(total.astype(np.float64))
        self.ttfts.append(ttft.astype(np.float64))
        self.buckets.append(bucket.astype(np.int32))
        self.flags.append(flags.astype(np.int32))

    def samples(self, **buckets: object) -> Samples:
        def joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        return Samples(
            keys=list(self.index), cell=joined(self.cells, np.int32),
            total_ms=joined(self.totals, np.float64), ttft_ms=joined(self.ttfts, np.float64),
            bucket=joined(self.buckets, np.int32), flags=joined(self.flags, np.int32),
            **buckets,  # type: ignore[arg-type]
        )  # fmt: skip


def window_samples(
    *, start: datetime, end: datetime, bucket_seconds: int, using: str = "default"
) -> Samples:
    """Every trace of (start, end]: finished minutes from their rollups (long windows), the
    rest from the traces themselves. Time buckets are aligned to multiples of bucket_seconds."""
    base = math.floor(start.timestamp() / bucket_seconds)
    count = math.floor(end.timestamp() / bucket_seconds) - base + 1
    span = None
    if (end - start).total_seconds() >= ROLLUP_FROM_S:
        span = rollups_span(start=start, end=end)
    if span:
        rollups_ensure(first=span[0], stop=span[1], using=using)
    head_end, tail_start = span or (end, end)
    params = {
        "start": start, "end": end, "bucket_s": bucket_seconds, "base": base,
        "head_end": head_end, "tail_start": tail_start,
    }  # fmt: skip
    parts = _Parts()
    with connections[using].cursor() as cursor:
        cursor.execute(_WINDOW_SQL, params)
        rows = cursor.fetchall()
    mask = (1 << FLAG_BITS) - 1
    for feature, model, region, outcome, total, ttft, packs in rows:
        cell = parts.cell((feature, model, region, outcome))
        packed = _unpack(packs, _INT4)
        parts.add(cells=np.full(packed.size, cell), total=_unpack(total, _FLOAT8),
                  ttft=_unpack(ttft, _FLOAT8), bucket=packed >> FLAG_BITS,
                  flags=packed & mask)  # fmt: skip
    if span:
        for minute, cell_keys, cells, total, ttft, flags in rollups_read(
            first=span[0], stop=span[1], using=using
        ):
            local = np.array([parts.cell_of_text(key) for key in cell_keys])
            flag_values = _unpack(flags, _INT4)
            bucket = math.floor(minute.timestamp() / bucket_seconds) - base
            parts.add(cells=local[_unpack(cells, _INT2)], total=_unpack(total, _FLOAT8),
                      ttft=_unpack(ttft, _FLOAT8), bucket=np.full(flag_values.size, bucket),
                      flags=flag_values)  # fmt: skip
    origin = datetime.fromtimestamp(base * bucket_seconds, tz=UTC)
    return parts.samples(bucket_origin=origin, bucket_seconds=bucket_seconds, bucket_count=count)
