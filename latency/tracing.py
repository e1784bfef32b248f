"""Per-request timing: stages, time to first token and total, written as one RequestTrace row."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from latency.models import RequestTrace


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


@dataclass
class TraceRecorder:
    """Collects what one request cost; `received_at` is perf_counter() when the server got it."""

    received_at: float
    feature: str
    source: str
    user_id: int | None = None
    stages: dict[str, float] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    ttft_ms: float | None = None
    total_ms: float | None = None

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round((time.perf_counter() - start) * 1000, 3)

    def first_token(self) -> float:
        if self.ttft_ms is None:
            self.ttft_ms = _ms_since(self.received_at)
        return self.ttft_ms

    def finish(self) -> float:
        self.total_ms = _ms_since(self.received_at)
        return self.total_ms

    def set(self, **values: Any) -> None:
        self.values.update(values)


async def trace_save(*, recorder: TraceRecorder) -> RequestTrace:
    if recorder.total_ms is None:
        recorder.finish()
    return await RequestTrace.objects.acreate(
        user_id=recorder.user_id,
        source=recorder.source,
        feature=recorder.feature,
        ttft_ms=recorder.ttft_ms,
        total_ms=recorder.total_ms,
        stages=recorder.stages,
        **recorder.values,
    )
