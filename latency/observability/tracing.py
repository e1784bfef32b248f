"""Per-request timing: stages, time to first token and total, written as one RequestTrace row."""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async

from latency.core.background import background_spawn, background_wait
from latency.models import RequestTrace
from latency.observability.live import trace_published

# Traces are read through an index that covers `error` (latency/dashboard_queries.py); a
# btree entry must stay small, so a longer message is cut here.
ERROR_MAX_CHARS = 500
logger = logging.getLogger(__name__)


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


@dataclass
class TraceRecorder:
    """Collects what one request cost; `received_at` is perf_counter() when the server got it."""

    received_at: float
    feature: str
    source: str
    user_id: int | None = None
    request_id: str = ""
    uid: uuid.UUID = field(default_factory=uuid.uuid4)
    stages: dict[str, float] = field(default_factory=dict)
    stage_starts: dict[str, float] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    ttft_ms: float | None = None
    total_ms: float | None = None
    saved: bool = False  # one row per request: set once its write is under way

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        self.stage_starts[name] = round((start - self.received_at) * 1000, 3)
        try:
            yield
        finally:
            self.stages[name] = round((time.perf_counter() - start) * 1000, 3)

    def stage_add(self, name: str, *, ms: float, started_ms: float | None = None) -> None:
        """A stage timed elsewhere (compression, retrieval's parts): its length and start."""
        self.stages[name] = round(ms, 3)
        if started_ms is not None:
            self.stage_starts[name] = round(started_ms, 3)

    def elapsed_ms(self) -> float:
        return _ms_since(self.received_at)

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
    values = dict(recorder.values)
    if len(values.get("error") or "") > ERROR_MAX_CHARS:
        values["error"] = values["error"][: ERROR_MAX_CHARS - 1] + "…"
    # Connections closed around the write: it runs after its request, in a shared thread.
    trace = await database_sync_to_async(RequestTrace.objects.create)(
        uid=recorder.uid,
        user_id=recorder.user_id,
        source=recorder.source,
        feature=recorder.feature,
        request_id=recorder.request_id,
        ttft_ms=recorder.ttft_ms,
        total_ms=recorder.total_ms,
        stages=recorder.stages,
        stage_starts=recorder.stage_starts,
        **values,
    )
    # Dashboards and metrics get it in a task of their own: the request does not wait.
    trace_published(trace=trace)
    return trace


def trace_save_soon(*, recorder: TraceRecorder) -> uuid.UUID:
    """Write the trace in a task of its own, off the request path; its uid is known at once."""
    if recorder.total_ms is None:
        recorder.finish()
    recorder.saved = True
    background_spawn(work=trace_save(recorder=recorder), name="trace-save")
    return recorder.uid


async def trace_saves_wait() -> None:
    """Wait for this process's trace writes under way (tests; an orderly shutdown)."""
    await background_wait()
