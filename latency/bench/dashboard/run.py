"""`latency_bench dashboard`: the dashboard's views over a million traces (a database of their
own, subsecond_bench_dash, loaded once with COPY and topped up by later runs), and what
recording a trace costs the request that made it."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, TextIO

from django.conf import settings
from django.core.management import call_command
from django.db import connection

from latency.bench.dashboard.data import bench_database_use, traces_ensure
from latency.bench.report import Target, percentiles, progress, table_print

BENCH_DB = "subsecond_bench_dash"
ROWS = 1_000_000
# The same breakdowns sorted inside PostgreSQL, one `percentile_cont` per group: the design
# this module's numbers are compared with (latency/dashboard_queries.py explains the choice).
_SQL_PERCENTILES = """
SELECT feature, model, region, cache_outcome, count(*),
  percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY total_ms),
  percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY ttft_ms)
FROM latency_requesttrace WHERE created_at > now() - interval '1 hour'
GROUP BY GROUPING SETS ((), (feature), (model), (region), (cache_outcome),
  (feature, model), (feature, region), (feature, cache_outcome))
"""


def dashboard_run(*, out: TextIO, runs: int = 30, calls: int = 1000, **_: Any) -> tuple[dict, dict]:
    from latency.dashboard.board import dashboard_build

    bench_database_use(name=BENCH_DB)
    call_command("migrate", interactive=False, verbosity=0)
    out.write(f"Traces in {BENCH_DB}: making the last 24 hours hold {ROWS:,}…\n")
    data = traces_ensure(rows=ROWS, out=out)
    out.write(f"{data['action']}; {data['rows']:,} rows\n")
    views: dict[str, dict[str, float]] = {}
    samples: dict[str, int] = {}
    for key, count in (("1h", max(runs, 30)), ("5m", max(runs, 30)), ("24h", max(runs // 6, 5))):
        dashboard_build(window_key=key)  # warm the buffers and the plan
        timings = []
        for index in range(count):
            began = time.perf_counter()
            board = dashboard_build(window_key=key)
            timings.append((time.perf_counter() - began) * 1000)
            progress(out, index + 1, count, f"{key} view")
        views[key], samples[key] = percentiles(timings), board.overall.requests
    sql_timings = []
    for _ in range(5):
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(_SQL_PERCENTILES)
            cursor.fetchall()
        sql_timings.append((time.perf_counter() - began) * 1000)
    recording = asyncio.run(_recording_measure(calls=calls, out=out))
    load = os.getloadavg()[0]
    table_print(out, "Dashboard views (exact percentiles over every trace in the window)",
                ["window", "traces", "runs", "p50 ms", "p95 ms", "p99 ms"],
                [[key, samples[key], v["n"], v["p50"], v["p95"], v["p99"]]
                 for key, v in views.items()])  # fmt: skip
    sql = percentiles(sql_timings)
    out.write(f"\nThe same 1-hour breakdowns with percentile_cont per grouping set in SQL: "
              f"p50 {sql['p50']:.0f} ms, p95 {sql['p95']:.0f} ms\n")  # fmt: skip
    table_print(out, f"Recording a trace on the request path ({calls} calls each, "
                f"channel layer {_layer_name()})",
                ["what", "p50 ms", "p95 ms", "p99 ms"],
                [[name, v["p50"], v["p95"], v["p99"]]
                 for name, v in recording.items()])  # fmt: skip
    out.write(f"\nLoad average during the run: {load:.1f} on {os.cpu_count()} cores\n")
    results = {
        "how": "covering index trace_window_idx for recent minutes, per-minute rollups of the "
        "exact samples for finished ones, percentiles over every sample with numpy",
        "traces": data["rows"], "views_ms": views, "window_traces": samples,
        "sql_percentile_cont_1h_ms": sql, "recording_ms": recording,
        "channel_layer": _layer_name(), "load_average": round(load, 2),
    }  # fmt: skip
    hook = recording["on the request path (trace_save_soon)"]["p95"]
    targets = {
        "dashboard_1h_p95_ms": Target(views["1h"]["p95"], 200, "ms"),
        "trace_record_overhead_p95_ms": Target(hook, 1, "ms"),
    }
    return results, targets


def _layer_name() -> str:
    return settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]


async def _recording_measure(*, calls: int, out: TextIO) -> dict[str, dict[str, float]]:
    """What the request path pays to record a trace (`trace_save_soon`: the row, the dashboard
    publication and the metrics are all written by a task of their own), and, for comparison,
    how long that background write takes."""
    from latency.observability import tracing
    from latency.observability.tracing import trace_save_soon, trace_saves_wait

    on_path, background = [], []
    original_save = tracing.trace_save

    async def timed_save(*, recorder: object) -> object:
        began = time.perf_counter()
        try:
            return await original_save(recorder=recorder)
        finally:
            background.append((time.perf_counter() - began) * 1000)

    tracing.trace_save = timed_save
    try:
        for index in range(calls):
            recorder = _recorder(index)
            began = time.perf_counter()
            trace_save_soon(recorder=recorder)
            on_path.append((time.perf_counter() - began) * 1000)
            await trace_saves_wait()  # as a server would, between requests
            if index % 50 == 49:
                progress(out, index + 1, calls, "traces recorded")
        await asyncio.sleep(0.2)
    finally:
        tracing.trace_save = original_save
    return {
        "on the request path (trace_save_soon)": percentiles(on_path),
        "background write (row, publish, metrics)": percentiles(background),
    }


def _recorder(index: int):  # noqa: ANN202
    from latency.observability.tracing import TraceRecorder

    recorder = TraceRecorder(received_at=time.perf_counter() - 0.5, feature="chat", source="ws")
    recorder.stages.update({"routing": 0.05, "exact_cache": 0.4, "embed": 7.5,
                            "semantic_lookup": 2.1, "generation": 410.0})  # fmt: skip
    recorder.first_token()
    flags = {"exact_cache": True, "semantic_cache": True, "streaming": True}
    recorder.set(model="gpt-4o-mini", endpoint="sim-edge-eu", region="edge-eu",
                 cache_outcome="miss" if index % 3 else "exact", status="ok",
                 strategies=flags)  # fmt: skip
    return recorder
