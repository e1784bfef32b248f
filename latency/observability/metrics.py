"""Prometheus metrics of every request (latency, TTFT and stage histograms; outcome counters),
correct with several processes: prometheus-client's multiprocess mode, one folder of files per
database (PROMETHEUS_MULTIPROC_DIR, emptied by `make run`), added up by /metrics."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

# prometheus-client picks its storage when imported: the folder must be known and exist first.
Path(settings.PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from latency.models import RequestTrace  # noqa: E402

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30)
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

REQUEST_SECONDS = Histogram(
    "subsecond_request_duration_seconds", "Total time of a request, received to last byte.",
    ["feature", "model", "cache"], buckets=LATENCY_BUCKETS,
)  # fmt: skip
TTFT_SECONDS = Histogram(
    "subsecond_time_to_first_token_seconds", "Time from receiving a request to its first token.",
    ["feature", "model", "cache"], buckets=LATENCY_BUCKETS,
)  # fmt: skip
STAGE_SECONDS = Histogram(
    "subsecond_stage_duration_seconds", "Time spent in one stage of the pipeline.",
    ["feature", "model", "stage"], buckets=STAGE_BUCKETS,
)  # fmt: skip
REQUESTS = Counter(
    "subsecond_requests", "Requests by how they ended.", ["feature", "model", "status"]
)
CACHE_OUTCOMES = Counter(
    "subsecond_cache_outcomes", "Cache lookups: exact, semantic, miss or off.",
    ["feature", "model", "outcome"],
)  # fmt: skip
FALLBACKS = Counter(
    "subsecond_fallbacks", "Moves to another model or endpoint after a failure.",
    ["feature", "model"],
)  # fmt: skip
HEDGES = Counter("subsecond_hedges", "Requests that sent a hedge.", ["feature", "model"])
ERRORS = Counter(
    "subsecond_errors", "Failed requests, timeouts apart.", ["feature", "model", "kind"]
)
BATCH_ITEMS = Counter(
    "subsecond_batch_items", "Batch items settled: answered upstream, from the cache, failed.",
    ["outcome"],
)  # fmt: skip
BATCH_UPSTREAM_CALLS = Counter(
    "subsecond_batch_upstream_calls", "Upstream calls of batch jobs, and the 429s they met.",
    ["outcome"],
)  # fmt: skip
BATCH_QUEUE_DEPTH = Gauge(
    "subsecond_batch_queue_depth", "Batch items waiting or running, as a worker last counted.",
    multiprocess_mode="mostrecent",
)  # fmt: skip


def metrics_observe(*, trace: RequestTrace) -> None:
    """Count one finished request (microseconds: memory-mapped writes, no I/O wait)."""
    feature, model = trace.feature, trace.model or "unknown"
    cache = trace.cache_outcome
    if trace.total_ms is not None:
        REQUEST_SECONDS.labels(feature, model, cache).observe(trace.total_ms / 1000)
    if trace.ttft_ms is not None:
        TTFT_SECONDS.labels(feature, model, cache).observe(trace.ttft_ms / 1000)
    for stage, ms in (trace.stages or {}).items():
        if isinstance(ms, int | float):
            STAGE_SECONDS.labels(feature, model, stage).observe(ms / 1000)
    REQUESTS.labels(feature, model, trace.status).inc()
    CACHE_OUTCOMES.labels(feature, model, cache).inc()
    if trace.fallbacks:
        FALLBACKS.labels(feature, model).inc(trace.fallbacks)
    if trace.hedged:
        HEDGES.labels(feature, model).inc()
    if trace.status == RequestTrace.Status.FAILED:
        timeout = trace.error_kind in RequestTrace.TIMEOUT_KINDS
        ERRORS.labels(feature, model, "timeout" if timeout else "error").inc()


def metrics_render() -> tuple[bytes, str]:
    """The text exposition of every process's metrics (reads the files: call it off the loop)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    return generate_latest(registry), CONTENT_TYPE_LATEST
