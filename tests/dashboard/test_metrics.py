"""/metrics: Prometheus text with histograms and counters labelled by feature and model."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from latency.observability.tracing import TraceRecorder, trace_save


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _scrape() -> str:
    return Client().get("/metrics").content.decode()


@pytest.mark.django_db(transaction=True)
async def test_a_saved_trace_is_counted_in_the_metrics(settings):  # noqa: ANN001
    settings.METRICS_TOKEN = ""

    before = await sync_to_async(_scrape)()
    recorder = TraceRecorder(received_at=time.perf_counter() - 0.4, feature="search", source="api")
    recorder.stages.update({"embed": 7.0, "semantic_lookup": 2.0})
    recorder.first_token()
    recorder.set(model="metrics-test-model", cache_outcome="miss", status="failed",
                 error="sim did not answer in time.", error_kind="timeout", fallbacks=2,
                 hedged=True)  # fmt: skip
    await trace_save(recorder=recorder)
    deadline = time.monotonic() + 2
    labels = {"feature": "search", "model": "metrics-test-model"}
    while True:
        after = await sync_to_async(_scrape)()
        if _sample(after, "subsecond_requests_total", **labels, status="failed") > _sample(
            before, "subsecond_requests_total", **labels, status="failed"
        ):
            break
        assert time.monotonic() < deadline, "the trace never reached /metrics"
        await asyncio.sleep(0.05)

    def grew(name: str, **extra: str) -> float:
        return _sample(after, name, **labels, **extra) - _sample(before, name, **labels, **extra)

    assert grew("subsecond_request_duration_seconds_count", cache="miss") == 1
    assert grew("subsecond_time_to_first_token_seconds_count", cache="miss") == 1
    assert grew("subsecond_stage_duration_seconds_count", stage="embed") == 1
    assert grew("subsecond_cache_outcomes_total", outcome="miss") == 1
    assert grew("subsecond_fallbacks_total") == 2
    assert grew("subsecond_hedges_total") == 1
    assert grew("subsecond_errors_total", kind="timeout") == 1
    assert re.search(r"# TYPE subsecond_request_duration_seconds histogram", after)
