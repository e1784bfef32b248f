"""The gateway bench's app and its joins: `manage.py serve` started as `make run` starts it
(latency.testing.serve), one arm of load, and what the client saw joined to the app's traces
and the simulator's log."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from latency.bench.gateway.load import (
    ArmLoad,
    Endpoint,
    client_make,
    load_closed,
    load_open,
    question_unique,
    questions_repeated,
    request_stream,
)
from latency.testing.serve import ServeChild

DATABASE = "subsecond_bench_gateway"


def traces_by_latency(*, user_id: int, since_ts: float, expected: int) -> dict[tuple, Any]:
    """The app's traces of this arm, keyed by (ttft_ms, total_ms) as x_latency reports them:
    the API tells the client no trace id, and those two floats are the trace's own."""
    from datetime import UTC, datetime

    from latency.models import RequestTrace

    since = datetime.fromtimestamp(since_ts - 1, tz=UTC)
    query = RequestTrace.objects.filter(user_id=user_id, source="api", created_at__gte=since)
    deadline = time.monotonic() + 10
    while query.count() < expected and time.monotonic() < deadline:
        time.sleep(0.2)  # traces are written as each request ends
    return {(t.ttft_ms, t.total_ms): t for t in query.exclude(ttft_ms=None)}


def arm_rows(*, load: ArmLoad, serve: ServeChild, user_id: int, cache: str) -> dict[str, Any]:
    """Per request: client TTFT, the trace's TTFT, and (misses) the simulator's planned TTFT
    found through the trace's upstream id; the app's own cost is TTFT minus planned. A hit has
    no upstream: all of its TTFT is the app's."""
    ok = [s for s in load.samples if not s.error]
    since = min((s.sent_at for s in load.samples), default=time.time())
    traces = traces_by_latency(user_id=user_id, since_ts=since, expected=len(ok))
    planned = serve.planned(after_ts=since - 1)
    rows, left_out = [], {"unmatched": 0, "hedged": 0, "cache_other": 0, "no_plan": 0}
    for sample in ok:
        if (sample.x_cache == "miss") != (cache == "miss"):
            left_out["cache_other"] += 1  # a miss that hit, or a repeat that missed
            continue
        trace = traces.get((sample.server_ttft_ms, sample.server_total_ms))
        if trace is None:
            left_out["unmatched"] += 1
            continue
        upstream, upstream_total = 0.0, None
        if cache == "miss":
            if trace.hedged:
                left_out["hedged"] += 1  # the winner started later: its plan is no reference
                continue
            if trace.upstream_id not in planned:
                left_out["no_plan"] += 1
                continue
            upstream = planned[trace.upstream_id]["planned_ttft_ms"]
            upstream_total = planned[trace.upstream_id]["planned_total_ms"]
        rows.append({
            "client_ttft_ms": sample.ttft_ms, "server_ttft_ms": trace.ttft_ms,
            "planned_ttft_ms": upstream, "own_ms": trace.ttft_ms - upstream,
            "client_own_ms": sample.ttft_ms - upstream, "planned_total_ms": upstream_total,
            "completion_tokens": trace.tokens_completion,
        })  # fmt: skip
    return {"rows": rows, "left_out": left_out}


def seeds_cache(*, endpoint: Endpoint, count: int) -> list[str]:
    """Questions asked once, untimed, so that the hit arms' repeats find them cached."""
    seeds = [question_unique(index=index) for index in range(count)]

    async def ask_all() -> None:
        client = client_make(endpoint=endpoint, connections=8)
        semaphore = asyncio.Semaphore(8)

        async def ask(question: str) -> None:
            async with semaphore:
                await request_stream(client=client, model=endpoint.model, question=question)

        await asyncio.gather(*(ask(q) for q in seeds))
        await client.close()

    asyncio.run(ask_all())
    return seeds


def load_run(
    *, endpoint: Endpoint, streams: int, loop: str, seconds: float, rate: float | None = None,
    seeds: list[str] | None = None,
) -> ArmLoad:  # fmt: skip
    questions = questions_repeated(seeds=seeds) if seeds else lambda i: question_unique(index=i)

    async def go() -> ArmLoad:
        client = client_make(endpoint=endpoint, connections=max(8, 4 * streams))
        try:
            if loop == "closed":
                return await load_closed(client=client, model=endpoint.model,
                                         questions=questions, streams=streams, seconds=seconds)
            return await load_open(client=client, model=endpoint.model, questions=questions,
                                   rate=rate or float(streams), seconds=seconds)  # fmt: skip
        finally:
            await client.close()

    return asyncio.run(go())
